//! CKKS timing profiles (`cellwise-ckks-profile/1` JSON, documented in profiles/README.md):
//! the measured time of each operation at each level, with where each figure came from.
//!
//! A profile is validated when it is read: unknown format or units, a negative or non-finite
//! time, an entry twice, or a level above the preset's levels are refused with one line
//! naming the problem. Operations the cost model needs but the profile lacks are refused when
//! a model is built from it ([`Profile::missing`]).
//!
//! Times at levels that were not measured are derived from the measured ones: linear
//! interpolation between the two nearest measured levels, and outside the measured range
//! proportional scaling by the number of RNS limbs (level + 1) from the nearest measured
//! level, since every CKKS primitive is a loop over the ciphertext's limbs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ckks::math::tally::Primitive;

/// The only profile format this version reads.
pub const FORMAT: &str = "cellwise-ckks-profile/1";

/// Operations that run on the bootstrap's own levels (above the computation top level).
const BOOTSTRAP_OPS: [&str; 3] = ["bootstrap", "bootstrap_setup", "keygen_bootstrap"];

/// Profiles shipped in `profiles/`, embedded so that the binary works from any directory:
/// (short name, file name, JSON). The first is the default of the `latency` model (the
/// project engine's).
const SHIPPED: &[(&str, &str, &str)] = &[
    (
        "cellwise",
        "cellwise-fgb-like.json",
        include_str!("../../profiles/cellwise-fgb-like.json"),
    ),
    (
        "openfhe",
        "openfhe-fgb-like.json",
        include_str!("../../profiles/openfhe-fgb-like.json"),
    ),
    (
        "cellwise-fgb-like-7ae393a",
        "cellwise-fgb-like-7ae393a.json",
        include_str!("../../profiles/cellwise-fgb-like-7ae393a.json"),
    ),
    (
        "cellwise-fgb-like-fc9e76a",
        "cellwise-fgb-like-fc9e76a.json",
        include_str!("../../profiles/cellwise-fgb-like-fc9e76a.json"),
    ),
    (
        "cellwise-fgb-like-ae8e185",
        "cellwise-fgb-like-ae8e185.json",
        include_str!("../../profiles/cellwise-fgb-like-ae8e185.json"),
    ),
    (
        "cellwise-fgb-like-12-e72f152",
        "cellwise-fgb-like-12-e72f152.json",
        include_str!("../../profiles/cellwise-fgb-like-12-e72f152.json"),
    ),
    (
        "cellwise-fgb-like-12-c8b2d07",
        "cellwise-fgb-like-12-c8b2d07.json",
        include_str!("../../profiles/cellwise-fgb-like-12-c8b2d07.json"),
    ),
    (
        "cellwise-fgb-like-12-9da5d7a",
        "cellwise-fgb-like-12-9da5d7a.json",
        include_str!("../../profiles/cellwise-fgb-like-12-9da5d7a.json"),
    ),
    (
        "cellwise-fgb-like-12-a5a0dbf",
        "cellwise-fgb-like-12-a5a0dbf.json",
        include_str!("../../profiles/cellwise-fgb-like-12-a5a0dbf.json"),
    ),
    (
        "cellwise-fgb-like-12-573f839",
        "cellwise-fgb-like-12-573f839.json",
        include_str!("../../profiles/cellwise-fgb-like-12-573f839.json"),
    ),
    (
        "cellwise-fgb-like-12-2026-12-05",
        "cellwise-fgb-like-12-2026-12-05.json",
        include_str!("../../profiles/cellwise-fgb-like-12-2026-12-05.json"),
    ),
    (
        "cellwise-fgb-like-12",
        "cellwise-fgb-like-12.json",
        include_str!("../../profiles/cellwise-fgb-like-12.json"),
    ),
    (
        "cellwise-gated-fgb-like-12",
        "cellwise-gated-fgb-like-12.json",
        include_str!("../../profiles/cellwise-gated-fgb-like-12.json"),
    ),
    (
        "cellwise-test-boot",
        "cellwise-test-boot.json",
        include_str!("../../profiles/cellwise-test-boot.json"),
    ),
];

/// Errors raised while reading or validating a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Neither a shipped profile name nor a readable file.
    #[error("unknown profile '{0}' (shipped: {1}; or give a path to a .json file)")]
    Unknown(String, String),
    /// The file could not be read.
    #[error("reading profile {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JSON is malformed or lacks a field.
    #[error("profile {name}: {message}")]
    Parse {
        /// Profile name or path.
        name: String,
        /// What serde said.
        message: String,
    },
    /// The JSON parses but its content is wrong.
    #[error("profile {name}: {message}")]
    Invalid {
        /// Profile name or path.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// An operation the cost model needs is missing.
    #[error("profile {name} has no timing for operation '{op}' (it has: {have})")]
    MissingOp {
        /// Profile name or path.
        name: String,
        /// The missing operation.
        op: String,
        /// The operations it has.
        have: String,
    },
}

/// CKKS parameters the profile was measured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileParams {
    /// Parameter preset, e.g. `fgb-like`.
    pub preset: String,
    /// Ring degree N.
    pub ring_degree: usize,
    /// log2 of the scale.
    #[serde(default)]
    pub log_scale: Option<f64>,
    /// Levels available for computation (the top level).
    pub levels: usize,
    /// log2 of the full modulus QP.
    #[serde(default)]
    pub log_qp: Option<f64>,
    /// Key-switching decomposition number.
    #[serde(default)]
    pub dnum: Option<usize>,
    /// Secret distribution.
    #[serde(default)]
    pub secret: Option<String>,
}

/// One measured (or borrowed) figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpTiming {
    /// Operation name, e.g. `mul_relin_rescale`, `poly_deg17`, `bootstrap`.
    pub op: String,
    /// Ciphertext level the operation starts at.
    pub level: usize,
    /// Median time, in the profile's units.
    pub median: f64,
    /// Number of timed repetitions.
    #[serde(default)]
    pub samples: Option<usize>,
    /// Where the figure came from: `measured`, or e.g. `openfhe-measured` when borrowed.
    pub source: String,
    /// Limb primitives one run performed, by primitive name (`ntt`, `intt`, `modmul`, `mac`,
    /// `add`, `permute`): the engine's own counts, which a calibration weighs the
    /// primitives' times by. Absent for figures without them (key generation, the client's
    /// work, profiles measured before calibration existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<BTreeMap<String, u64>>,
}

/// The primitives' times on the machine a profile was measured on, beside its figures: what
/// a calibration ([`super::calibration`]) compares the machine at hand with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Primitives {
    /// Coefficient kernels of the run (`avx512-ifma`, `avx512`, `portable`).
    pub kernels: String,
    /// Chain indices of the limbs the primitives were timed on (their mean is recorded).
    pub limbs: Vec<usize>,
    /// Milliseconds per limb of each primitive on one thread, by primitive name.
    pub ms_per_limb: BTreeMap<String, f64>,
}

/// A timing profile of one CKKS engine on one machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Must be [`FORMAT`].
    pub format: String,
    /// `cellwise` or `openfhe`.
    pub engine: String,
    /// Engine version.
    pub engine_version: String,
    /// CPU model (from /proc/cpuinfo).
    pub cpu: String,
    /// Threads the engine used.
    pub threads: usize,
    /// Date of the measurement.
    pub date: String,
    /// The command that produced the profile.
    #[serde(default)]
    pub command: Option<String>,
    /// CKKS parameters.
    pub params: ProfileParams,
    /// Unit of every `median`: `ms`, `s` or `us`.
    pub units: String,
    /// The figures.
    pub ops: Vec<OpTiming>,
    /// Peak resident memory of the run, MB.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// The primitives' times of the measuring machine (profiles measured since calibration
    /// exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primitives: Option<Primitives>,
    /// Name or path it was loaded from (not part of the JSON).
    #[serde(skip)]
    pub name: String,
}

impl Profile {
    /// Loads a shipped profile by short name (e.g. `cellwise`, `openfhe`) or a JSON file.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        if let Some((name, _, text)) = SHIPPED.iter().find(|(n, _, _)| *n == name_or_path) {
            return Self::from_json(name, text);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "json") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
                path: path.display().to_string(),
                source,
            })?;
            return Self::from_json(&path.display().to_string(), &text);
        }
        Err(ProfileError::Unknown(
            name_or_path.to_string(),
            shipped_names().join(", "),
        ))
    }

    /// Parses and validates a profile; `name` is only used in messages.
    pub fn from_json(name: &str, text: &str) -> Result<Self, ProfileError> {
        let mut profile: Profile = serde_json::from_str(text).map_err(|e| ProfileError::Parse {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        profile.name = name.to_string();
        profile.validate()?;
        Ok(profile)
    }

    fn invalid(&self, message: String) -> ProfileError {
        ProfileError::Invalid {
            name: self.name.clone(),
            message,
        }
    }

    fn validate(&self) -> Result<(), ProfileError> {
        if self.format != FORMAT {
            return Err(self.invalid(format!(
                "unknown format '{}' (this version reads '{FORMAT}')",
                self.format
            )));
        }
        if unit_seconds(&self.units).is_none() {
            return Err(self.invalid(format!("unknown units '{}' (known: ms, s, us)", self.units)));
        }
        if self.threads == 0 {
            return Err(self.invalid("threads must be >= 1".into()));
        }
        if self.params.levels == 0 || self.params.levels > super::placement::MAX_LEVELS {
            return Err(self.invalid(format!(
                "params.levels {} is out of range (1 to {})",
                self.params.levels,
                super::placement::MAX_LEVELS
            )));
        }
        let mut seen = BTreeMap::new();
        for t in &self.ops {
            if !(t.median.is_finite() && t.median >= 0.0) {
                return Err(self.invalid(format!(
                    "operation '{}' at level {} has time {} (must be finite and >= 0)",
                    t.op, t.level, t.median
                )));
            }
            if !BOOTSTRAP_OPS.contains(&t.op.as_str()) && t.level > self.params.levels {
                return Err(self.invalid(format!(
                    "operation '{}' at level {} is above the top level {}",
                    t.op, t.level, self.params.levels
                )));
            }
            if t.source.trim().is_empty() {
                return Err(self.invalid(format!(
                    "operation '{}' at level {} has no source",
                    t.op, t.level
                )));
            }
            if let Some(bad) = t
                .counts
                .iter()
                .flatten()
                .map(|(name, _)| name)
                .find(|name| !is_primitive(name))
            {
                return Err(self.invalid(format!(
                    "operation '{}' at level {} counts unknown primitive '{bad}' (known: {})",
                    t.op,
                    t.level,
                    primitive_names().join(", ")
                )));
            }
            if seen.insert((t.op.as_str(), t.level), ()).is_some() {
                return Err(self.invalid(format!(
                    "operation '{}' at level {} appears twice",
                    t.op, t.level
                )));
            }
        }
        if let Some(p) = &self.primitives {
            if let Some(problem) = primitive_times_problem(&p.ms_per_limb, false) {
                return Err(self.invalid(problem));
            }
            if let Some(bad) = p.ms_per_limb.keys().find(|n| !is_primitive(n)) {
                return Err(self.invalid(format!(
                    "unknown primitive '{bad}' (known: {})",
                    primitive_names().join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Seconds per unit of the profile's figures (validated on loading).
    pub fn unit_seconds(&self) -> f64 {
        unit_seconds(&self.units).unwrap_or(1e-3)
    }

    /// The distinct operation names, sorted.
    pub fn op_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.ops.iter().map(|t| t.op.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The error for an operation the profile lacks, naming those it has.
    pub fn missing(&self, op: &str) -> ProfileError {
        ProfileError::MissingOp {
            name: self.name.clone(),
            op: op.to_string(),
            have: self.op_names().join(", "),
        }
    }

    /// Seconds of `op` started at `level`: the measured figure, else interpolated linearly
    /// between the nearest measured levels, else scaled by limbs (level + 1) from the
    /// nearest measured level. `None` if the profile never measured `op`.
    pub fn seconds(&self, op: &str, level: usize) -> Option<f64> {
        // Validated at load time: the units are known.
        let unit = unit_seconds(&self.units)?;
        let mut below: Option<&OpTiming> = None;
        let mut above: Option<&OpTiming> = None;
        for t in self.ops.iter().filter(|t| t.op == op) {
            if t.level == level {
                return Some(t.median * unit);
            }
            if t.level < level && below.is_none_or(|b| t.level > b.level) {
                below = Some(t);
            }
            if t.level > level && above.is_none_or(|a| t.level < a.level) {
                above = Some(t);
            }
        }
        let limbs = |l: usize| (l + 1) as f64;
        let time = match (below, above) {
            (Some(b), Some(a)) => {
                let w = (level - b.level) as f64 / (a.level - b.level) as f64;
                b.median + w * (a.median - b.median)
            }
            (Some(n), None) | (None, Some(n)) => n.median * limbs(level) / limbs(n.level),
            (None, None) => return None,
        };
        Some(time * unit)
    }

    /// Seconds of one bootstrap: level-independent (the engine drops the ciphertext to its
    /// lowest level first), so the figure at the lowest measured level.
    pub fn bootstrap_seconds(&self) -> Option<f64> {
        let unit = unit_seconds(&self.units)?;
        self.ops
            .iter()
            .filter(|t| t.op == "bootstrap")
            .min_by_key(|t| t.level)
            .map(|t| t.median * unit)
    }

    /// Where the figure for `op` came from (the distinct sources, joined).
    pub fn source(&self, op: &str) -> String {
        let mut sources: Vec<&str> = self
            .ops
            .iter()
            .filter(|t| t.op == op)
            .map(|t| t.source.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        sources.join("+")
    }
}

/// Seconds per unit.
fn unit_seconds(units: &str) -> Option<f64> {
    match units {
        "ms" => Some(1e-3),
        "s" => Some(1.0),
        "us" => Some(1e-6),
        _ => None,
    }
}

/// The primitives' names, in [`Primitive::ALL`] order.
pub fn primitive_names() -> Vec<&'static str> {
    Primitive::ALL.iter().map(|p| p.name()).collect()
}

/// Primitives timed since profiles first recorded primitive times: a profile made before
/// lacks them, in its times and in its operations' counts alike.
const ADDED_LATER: [&str; 1] = ["draw"];

/// What is wrong with a table of primitive times (milliseconds by name), if anything: a
/// primitive it lacks (with `every`, any; else one of those profiles always had), or a time
/// that is not finite and positive.
pub(crate) fn primitive_times_problem(ms: &BTreeMap<String, f64>, every: bool) -> Option<String> {
    primitive_names()
        .into_iter()
        .filter(|name| every || !ADDED_LATER.contains(name) || ms.contains_key(*name))
        .find_map(|name| match ms.get(name) {
            Some(t) if t.is_finite() && *t > 0.0 => None,
            Some(t) => Some(format!(
                "primitive '{name}' has time {t} ms (must be finite and > 0)"
            )),
            None => Some(format!("primitives lack '{name}'")),
        })
}

fn is_primitive(name: &str) -> bool {
    Primitive::ALL.iter().any(|p| p.name() == name)
}

/// Short names of the shipped profiles.
pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(n, _, _)| *n).collect()
}

/// The profile `latency` uses at parameter preset `preset` when the spec names none: among
/// the shipped profiles of the project's engine measured at that preset (their
/// `params.preset`, by name, never by level count), the first that times `op` if given (e.g.
/// `hoist_32`, the gated cells' projections), else the first of them (building the model
/// then refuses the operation it lacks, naming the profile). `None` when no shipped profile
/// was measured at the preset: the caller refuses rather than pricing one chain with
/// another's timings.
pub fn default_profile_for(preset: &str, op: Option<&str>) -> Option<&'static str> {
    let at_preset: Vec<(&'static str, Profile)> = SHIPPED
        .iter()
        .filter(|(name, _, _)| name.starts_with("cellwise"))
        .filter_map(|(name, _, text)| Profile::from_json(name, text).ok().map(|p| (*name, p)))
        .filter(|(_, p)| p.params.preset == preset)
        .collect();
    at_preset
        .iter()
        .find(|(_, p)| op.is_none_or(|op| p.ops.iter().any(|t| t.op == op)))
        .or(at_preset.first())
        .map(|(name, _)| *name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid profile: every operation the latency model needs, times in ms growing
    /// with the level (bootstrap 20 s).
    pub(crate) fn sample_json() -> String {
        let mut ops = Vec::new();
        for level in 1..=9 {
            let limbs = (level + 1) as f64;
            for (op, per_limb) in [
                ("matvec_32", 50.0),
                ("add", 0.5),
                ("mul_relin_rescale", 30.0),
            ] {
                ops.push(format!(
                    r#"{{"op":"{op}","level":{level},"median":{},"samples":5,"source":"measured"}}"#,
                    per_limb * limbs
                ));
            }
        }
        for (d, ms) in [(3, 200.0), (7, 400.0), (17, 900.0)] {
            ops.push(format!(
                r#"{{"op":"poly_deg{d}","level":9,"median":{ms},"samples":5,"source":"measured"}}"#
            ));
        }
        ops.push(
            r#"{"op":"bootstrap","level":0,"median":20000,"samples":5,"source":"openfhe-measured"}"#
                .into(),
        );
        format!(
            r#"{{"format":"cellwise-ckks-profile/1","engine":"cellwise","engine_version":"0.1.0",
  "cpu":"test cpu","threads":2,"date":"2026-11-24","command":"test",
  "params":{{"preset":"fgb-like","ring_degree":65536,"log_scale":42,"levels":9,"log_qp":1555,"dnum":3,"secret":"ternary"}},
  "units":"ms","ops":[{}],"peak_rss_mb":100.0}}"#,
            ops.join(",")
        )
    }

    /// `json` with a `primitives` block of these times.
    fn with_primitives(json: &str, ms: &str) -> String {
        json.replace(
            r#""peak_rss_mb":100.0"#,
            &format!(
                r#""peak_rss_mb":100.0,"primitives":{{"kernels":"portable","limbs":[1,22],"ms_per_limb":{{{ms}}}}}"#
            ),
        )
    }

    #[test]
    fn reads_and_interpolates() {
        let p = Profile::from_json("t", &sample_json()).unwrap();
        assert!((p.seconds("matvec_32", 9).unwrap() - 0.5).abs() < 1e-12);
        // Below the measured range: scaled by limbs from level 1 (2 limbs -> 1 limb).
        assert!((p.seconds("matvec_32", 0).unwrap() - 0.05).abs() < 1e-12);
        // Only measured at 9: level 4 has 5 limbs of 10.
        assert!((p.seconds("poly_deg17", 4).unwrap() - 0.45).abs() < 1e-12);
        assert_eq!(p.seconds("rotate", 3), None);
        assert_eq!(p.bootstrap_seconds(), Some(20.0));
        assert_eq!(p.source("bootstrap"), "openfhe-measured");
        assert!(p.missing("poly_deg5").to_string().contains(
            "no timing for operation 'poly_deg5' (it has: add, bootstrap, matvec_32, mul_relin_rescale, poly_deg17"
        ));
    }

    #[test]
    fn interpolates_between_measured_levels() {
        let json = sample_json().replace(
            r#"{"op":"poly_deg3","level":9,"median":200,"#,
            r#"{"op":"poly_deg3","level":3,"median":100,"samples":1,"source":"measured"},{"op":"poly_deg3","level":9,"median":220,"#,
        );
        let p = Profile::from_json("t", &json).unwrap();
        assert!((p.seconds("poly_deg3", 6).unwrap() - 0.160).abs() < 1e-12);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let good = sample_json();
        let cases = [
            (
                good.replace("cellwise-ckks-profile/1", "cellwise-ckks-profile/9"),
                "unknown format 'cellwise-ckks-profile/9'",
            ),
            (
                good.replace(r#""units":"ms""#, r#""units":"minutes""#),
                "unknown units 'minutes'",
            ),
            (
                good.replace(r#""median":20000"#, r#""median":-3"#),
                "has time -3",
            ),
            (
                good.replace(r#""level":9,"median":900"#, r#""level":12,"median":900"#),
                "above the top level 9",
            ),
            (
                good.replace(r#""units":"ms","#, ""),
                "missing field `units`",
            ),
            (
                good.replace(r#""source":"openfhe-measured""#, r#""source":"""#),
                "has no source",
            ),
            (
                good.replace("poly_deg3", "poly_deg7"),
                "'poly_deg7' at level 9 appears twice",
            ),
            ("{ not json".to_string(), "profile bad:"),
            (
                good.replace(
                    r#""source":"openfhe-measured"}"#,
                    r#""source":"measured","counts":{"ntt":3,"fft":1}}"#,
                ),
                "counts unknown primitive 'fft'",
            ),
            (
                with_primitives(
                    &good,
                    r#""ntt":0.2,"intt":0.2,"modmul":0.1,"mac":0.1,"add":0.05"#,
                ),
                "primitives lack 'permute'",
            ),
            (
                with_primitives(
                    &good,
                    r#""ntt":0.2,"intt":0.2,"modmul":-0.1,"mac":0.1,"add":0.05,"permute":0.05"#,
                ),
                "primitive 'modmul' has time -0.1 ms",
            ),
            (
                with_primitives(
                    &good,
                    r#""ntt":0.2,"intt":0.2,"modmul":0.1,"mac":0.1,"add":0.05,"permute":0.05,"fft":1"#,
                ),
                "unknown primitive 'fft'",
            ),
        ];
        assert!(
            Profile::from_json(
                "good",
                &with_primitives(
                    &good,
                    r#""ntt":0.2,"intt":0.2,"modmul":0.1,"mac":0.1,"add":0.05,"permute":0.05"#
                )
            )
            .unwrap()
            .primitives
            .is_some()
        );
        for (json, expected) in cases {
            let err = Profile::from_json("bad", &json).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} (expected {expected})");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = Profile::load("no-such-profile").unwrap_err().to_string();
        assert!(err.contains("unknown profile 'no-such-profile'"), "{err}");
    }

    #[test]
    fn shipped_profiles_load_and_are_complete() {
        assert!(default_profile_for(crate::cost::DEFAULT_PRESET, None).is_some());
        for name in shipped_names() {
            let p = Profile::load(name).unwrap();
            let top = p.params.levels;
            let levels = if p.params.preset == "fgb-like-12" {
                12
            } else {
                9
            };
            assert_eq!(top, levels, "{name}");
            assert!(
                name.starts_with("openfhe")
                    || name.contains(p.params.preset.as_str())
                    || name == "cellwise",
                "{name} is named after its preset"
            );
            for op in [
                "add",
                "matvec_32",
                "poly_deg3",
                "poly_deg7",
                "poly_deg17",
                "bootstrap",
            ] {
                assert!(p.seconds(op, top).is_some(), "{name} lacks {op}");
            }
            // Seconds at N = 2^16; a fraction of one at test-boot's 2^12.
            let least = if p.params.ring_degree >= 1 << 16 {
                1.0
            } else {
                0.01
            };
            assert!(p.bootstrap_seconds().unwrap() > least, "{name}");
        }
    }

    #[test]
    fn the_default_profile_is_the_presets_own_never_one_with_as_many_levels() {
        assert_eq!(default_profile_for("fgb-like", None), Some("cellwise"));
        // The newest measurement at a preset comes first; it times every circuit's
        // operations, the gated cells' among them.
        assert_eq!(
            default_profile_for("fgb-like-12", None),
            Some("cellwise-fgb-like-12-e72f152")
        );
        assert_eq!(
            default_profile_for("fgb-like-12", Some("hoist_32")),
            Some("cellwise-fgb-like-12-e72f152")
        );
        // test-boot has fgb-like's 9 levels between bootstraps at N = 2^12: it is priced with
        // its own profile, not with fgb-like's.
        assert_eq!(
            default_profile_for("test-boot", None),
            Some("cellwise-test-boot")
        );
        assert_eq!(default_profile_for("test-small", None), None);
        // The gated cells at fgb-like take the profile of that preset that times their
        // operations; a SimpleRNN keeps the older one, so its results reproduce.
        assert_eq!(
            default_profile_for("fgb-like", Some("hoist_32")),
            Some("cellwise-fgb-like-7ae393a")
        );
        // Every shipped profile of the project's engine is what its own preset finds first
        // for the operations only it times.
        for name in shipped_names()
            .into_iter()
            .filter(|n| n.starts_with("cellwise"))
        {
            let p = Profile::load(name).unwrap();
            let found = default_profile_for(&p.params.preset, None).unwrap();
            assert_eq!(
                Profile::load(found).unwrap().params.preset,
                p.params.preset,
                "{name}"
            );
        }
    }
}
