//! Profiles that travel: a profile's figures carried to the machine at hand from a short
//! measurement of the limb primitives (`ckks::roofline::primitive_times`, a few seconds),
//! cached per machine.
//!
//! A profile measured with its primitives ([`Profile::primitives`]) and each operation's
//! primitive counts ([`OpTiming::counts`]) splits every figure `t` into the part its
//! primitives account for, `a = sum_p count_p * ms_p / threads`, and the remainder
//! `u = t - a` (copies, allocation, key-mask expansion, the encoder's FFT). On the machine at
//! hand the first part is recomputed from the same counts and the primitives measured here;
//! the remainder, mostly memory traffic, is scaled by the ratio of the memory-bound
//! primitives (`add`, `permute`; geometric mean). A figure without counts is scaled by the
//! geometric mean of all six ratios. The calibrated profile replaces the shipped one in the
//! latency model; `cost --calibrate` and `infer --calibrate` report both predictions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::profile::{Primitives, Profile, primitive_names, primitive_times_problem};
use crate::ckks::math::lanes;
use crate::ckks::math::tally::{PRIMITIVES, Primitive, Tally};
use crate::ckks::roofline;
use crate::ckks::scheme::context::Context;
use crate::ckks::scheme::params::ParametersLiteral;

/// The only calibration format this version reads.
pub const FORMAT: &str = "cellwise-calibration/1";

/// Rounds per primitive and limb (each at least 2 ms; the median is kept).
const SAMPLES: usize = 15;

/// Errors of calibrating a profile.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The profile was measured without its primitives.
    #[error(
        "profile {0} records no primitive timings (measured before calibration existed); re-measure it with `cellwise ckks profile` to calibrate it"
    )]
    NoPrimitives(String),
    /// The calibration was measured at another preset or on other limbs.
    #[error("profile {profile}: {why}")]
    Mismatch {
        /// Profile name.
        profile: String,
        /// What differs.
        why: String,
    },
    /// No preset of that name.
    #[error("unknown parameter preset '{0}'")]
    UnknownPreset(String),
    /// Building the preset's context failed.
    #[error("calibrating at preset {preset}: {why}")]
    Measure {
        /// The preset.
        preset: String,
        /// What failed.
        why: String,
    },
    /// The cache could not be written.
    #[error("writing the calibration cache {path}: {source}")]
    Cache {
        /// The cache file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The primitives' times on the machine at hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Must be [`FORMAT`].
    pub format: String,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
    /// Coefficient kernels the primitives ran (`lanes::path`).
    pub kernels: String,
    /// The parameter preset whose primes were timed.
    pub preset: String,
    /// Ring degree N.
    pub ring_degree: usize,
    /// Chain indices of the limbs timed.
    pub limbs: Vec<usize>,
    /// When it was measured (UTC date).
    pub date: String,
    /// Seconds the measurement took.
    pub seconds: f64,
    /// Milliseconds per limb of each primitive on one thread, by name.
    pub ms_per_limb: BTreeMap<String, f64>,
}

/// Where a calibration came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Measured now (and written to the cache file, if any).
    Measured(Option<PathBuf>),
    /// Read from the cache file.
    Cached(PathBuf),
}

/// A profile's primitives and counts as measured by `ckks profile`.
pub fn primitives_of(ms: &[f64; PRIMITIVES], limbs: &[usize]) -> Primitives {
    Primitives {
        kernels: lanes::path().name().to_string(),
        limbs: limbs.to_vec(),
        ms_per_limb: named(ms),
    }
}

/// Counts by primitive name.
pub fn counts_of(t: &Tally) -> BTreeMap<String, u64> {
    Primitive::ALL
        .iter()
        .map(|&p| (p.name().to_string(), t.get(p)))
        .collect()
}

fn named(ms: &[f64; PRIMITIVES]) -> BTreeMap<String, f64> {
    Primitive::ALL
        .iter()
        .map(|&p| (p.name().to_string(), ms[p as usize]))
        .collect()
}

/// Times the primitives at `preset`'s primes on this machine, with the current kernels.
pub fn measure(preset: &str) -> Result<Calibration, CalibrationError> {
    let mut lit = ParametersLiteral::preset(preset)
        .ok_or_else(|| CalibrationError::UnknownPreset(preset.to_string()))?;
    // Only the primes are used: no key is made, so an insecure test preset is timed alike.
    lit.insecure = true;
    let fail = |why: String| CalibrationError::Measure {
        preset: preset.to_string(),
        why,
    };
    let params = lit.build().map_err(|e| fail(e.to_string()))?;
    let ctx = Context::new(&params).map_err(|e| fail(e.to_string()))?;
    let started = std::time::Instant::now();
    let limbs = roofline::calibration_limbs(&ctx);
    let ms = roofline::primitive_times(&ctx, SAMPLES, &limbs);
    Ok(Calibration {
        format: FORMAT.to_string(),
        cpu: crate::sysinfo::cpu_model(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernels: lanes::path().name().to_string(),
        preset: preset.to_string(),
        ring_degree: params.n(),
        limbs,
        date: crate::sysinfo::utc_date(),
        seconds: started.elapsed().as_secs_f64(),
        ms_per_limb: named(&ms),
    })
}

/// The cache directory: `$CELLWISE_CACHE_DIR`, else `$XDG_CACHE_HOME/cellwise`, else
/// `~/.cache/cellwise`; `None` without any of them.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("CELLWISE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("cellwise")))
        .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("cellwise")))
}

/// The cache file of `preset` on this machine (CPU model, logical CPUs, kernels) in `dir`.
fn cache_file(dir: &Path, preset: &str) -> PathBuf {
    let machine = format!(
        "{}|{}|{}",
        crate::sysinfo::cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        lanes::path().name()
    );
    let digest = sha2::Sha256::digest(machine.as_bytes());
    let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!(
        "calibration-{preset}-{}-{tag}.json",
        lanes::path().name()
    ))
}

/// This machine's calibration at `preset`: read from the cache in `dir` when a valid one for
/// this machine exists and `refresh` is false, else measured and written there atomically.
/// A cache file that does not parse is measured over, not trusted.
pub fn for_machine(
    preset: &str,
    dir: Option<&Path>,
    refresh: bool,
) -> Result<(Calibration, Origin), CalibrationError> {
    let file = dir.map(|d| cache_file(d, preset));
    if let Some(f) = &file
        && !refresh
        && let Ok(text) = std::fs::read_to_string(f)
        && let Ok(c) = serde_json::from_str::<Calibration>(&text)
        && valid(&c, preset)
    {
        return Ok((c, Origin::Cached(f.clone())));
    }
    let c = measure(preset)?;
    if let Some(f) = &file {
        let cache = |source| CalibrationError::Cache {
            path: f.display().to_string(),
            source,
        };
        if let Some(d) = f.parent() {
            std::fs::create_dir_all(d).map_err(cache)?;
        }
        let text = serde_json::to_string_pretty(&c).unwrap_or_default() + "\n";
        crate::fsutil::write_atomic(f, text.as_bytes()).map_err(cache)?;
    }
    Ok((c, Origin::Measured(file)))
}

/// A cached calibration is used only if it is of this format, preset, machine and kernels,
/// with every primitive's time finite and positive.
fn valid(c: &Calibration, preset: &str) -> bool {
    c.format == FORMAT
        && c.preset == preset
        && c.cpu == crate::sysinfo::cpu_model()
        && c.kernels == lanes::path().name()
        && primitive_times_problem(&c.ms_per_limb, true).is_none()
}

/// How a calibration moved a profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Factors {
    /// Ratio (here / there) of each primitive.
    pub primitives: BTreeMap<String, f64>,
    /// The remainder's scale: geometric mean of the `add` and `permute` ratios.
    pub remainder: f64,
    /// The scale of figures without counts: geometric mean of all ratios.
    pub uncounted: f64,
    /// The bootstrap's calibrated / shipped time, if the profile has one with counts.
    pub bootstrap: Option<f64>,
}

/// `profile` carried to the machine `here` measured: every figure as described in the
/// module documentation, the profile renamed `NAME+calibrated`. Refused for a profile
/// without primitives, or measured at another preset or on other limbs than `here`.
pub fn calibrate(
    profile: &Profile,
    here: &Calibration,
) -> Result<(Profile, Factors), CalibrationError> {
    let there = profile
        .primitives
        .as_ref()
        .ok_or_else(|| CalibrationError::NoPrimitives(profile.name.clone()))?;
    let mismatch = |why: String| CalibrationError::Mismatch {
        profile: profile.name.clone(),
        why,
    };
    if profile.params.preset != here.preset {
        return Err(mismatch(format!(
            "measured at preset {}, the calibration at {}",
            profile.params.preset, here.preset
        )));
    }
    if there.limbs != here.limbs {
        return Err(mismatch(format!(
            "its primitives were timed on limbs {:?}, the calibration's on {:?}",
            there.limbs, here.limbs
        )));
    }
    // A profile made before a primitive was timed counts none of it either.
    let names: Vec<&str> = primitive_names()
        .into_iter()
        .filter(|n| there.ms_per_limb.contains_key(*n))
        .collect();
    let ratio: BTreeMap<String, f64> = names
        .iter()
        .map(|n| {
            let r = here.ms_per_limb.get(*n).copied().unwrap_or(f64::NAN)
                / there.ms_per_limb.get(*n).copied().unwrap_or(f64::NAN);
            (n.to_string(), r)
        })
        .collect();
    if let Some((n, r)) = ratio.iter().find(|(_, r)| !(r.is_finite() && **r > 0.0)) {
        return Err(mismatch(format!(
            "primitive '{n}' has no usable ratio ({r})"
        )));
    }
    let geomean = |keys: &[&str]| {
        (keys.iter().map(|k| ratio[*k].ln()).sum::<f64>() / keys.len() as f64).exp()
    };
    let remainder = geomean(&["add", "permute"]);
    let uncounted = geomean(&names);
    // The profile's unit per millisecond.
    let per_ms = 1e-3 / profile.unit_seconds();
    let threads = profile.threads as f64;
    let achievable = |counts: &BTreeMap<String, u64>, ms: &BTreeMap<String, f64>| {
        counts
            .iter()
            .map(|(n, &c)| c as f64 * ms.get(n).copied().unwrap_or(0.0))
            .sum::<f64>()
            * per_ms
            / threads
    };
    let mut out = profile.clone();
    let mut bootstrap = None;
    for t in &mut out.ops {
        let scaled = match &t.counts {
            Some(counts) => {
                let a = achievable(counts, &there.ms_per_limb);
                let u = (t.median - a).max(0.0);
                achievable(counts, &here.ms_per_limb) + u * remainder
            }
            None => t.median * uncounted,
        };
        if t.op == "bootstrap" && t.counts.is_some() && t.median > 0.0 {
            bootstrap = Some(scaled / t.median);
        }
        t.median = scaled;
    }
    out.name = format!("{}+calibrated", profile.name);
    out.primitives = Some(Primitives {
        kernels: here.kernels.clone(),
        limbs: here.limbs.clone(),
        ms_per_limb: here.ms_per_limb.clone(),
    });
    Ok((
        out,
        Factors {
            primitives: ratio,
            remainder,
            uncounted,
            bootstrap,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::profile::OpTiming;

    fn profile_with(ms: [f64; PRIMITIVES], ops: Vec<OpTiming>) -> Profile {
        let mut p =
            Profile::from_json("sample", &crate::cost::profile::tests::sample_json()).unwrap();
        p.threads = 2;
        p.primitives = Some(primitives_of(&ms, &[1, 22]));
        p.ops = ops;
        p
    }

    fn op(name: &str, median: f64, counts: Option<[u64; PRIMITIVES]>) -> OpTiming {
        OpTiming {
            op: name.into(),
            level: 0,
            median,
            samples: Some(3),
            source: "measured".into(),
            counts: counts.map(|c| counts_of(&Tally(c))),
        }
    }

    fn here(ms: [f64; PRIMITIVES]) -> Calibration {
        Calibration {
            format: FORMAT.into(),
            cpu: "test".into(),
            cpus: 2,
            kernels: "portable".into(),
            preset: "fgb-like".into(),
            ring_degree: 65536,
            limbs: vec![1, 22],
            date: "2026-12-05".into(),
            seconds: 1.0,
            ms_per_limb: named(&ms),
        }
    }

    #[test]
    fn counted_work_follows_its_primitives_and_the_remainder_the_memory_bound_ones() {
        let there = [0.5, 0.5, 0.1, 0.2, 0.05, 0.05, 0.2];
        // 100 NTTs at 0.5 ms on 2 threads: 25 ms accounted for, 15 ms of remainder.
        let p = profile_with(
            there,
            vec![
                op("bootstrap", 40.0, Some([100, 0, 0, 0, 0, 0, 0])),
                op("keygen", 10.0, None),
            ],
        );
        // NTT twice as slow, memory-bound primitives 1.5x slower, the others unchanged.
        let (c, f) = calibrate(&p, &here([1.0, 1.0, 0.1, 0.2, 0.075, 0.075, 0.2])).unwrap();
        let boot = c.ops.iter().find(|t| t.op == "bootstrap").unwrap().median;
        assert!((boot - (50.0 + 15.0 * 1.5)).abs() < 1e-9, "{boot}");
        assert!((f.remainder - 1.5).abs() < 1e-12);
        assert_eq!(f.bootstrap, Some(boot / 40.0));
        let uncounted = (2.0f64 * 2.0 * 1.5 * 1.5).powf(1.0 / 7.0);
        let keygen = c.ops.iter().find(|t| t.op == "keygen").unwrap().median;
        assert!((keygen - 10.0 * uncounted).abs() < 1e-9, "{keygen}");
        assert_eq!(c.name, "sample+calibrated");
        // The same machine gives back the same figures.
        let (same, _) = calibrate(&p, &here(there)).unwrap();
        for (a, b) in same.ops.iter().zip(&p.ops) {
            assert!((a.median - b.median).abs() < 1e-9 * b.median, "{a:?}");
        }
    }

    #[test]
    fn a_profile_made_before_the_draw_was_timed_is_carried_by_the_others() {
        let mut p = profile_with(
            [1.0; PRIMITIVES],
            vec![op("bootstrap", 40.0, Some([10, 0, 0, 0, 0, 0, 0]))],
        );
        if let Some(prims) = &mut p.primitives {
            prims.ms_per_limb.remove("draw");
        }
        let (c, f) = calibrate(&p, &here([2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0])).unwrap();
        assert!(!f.primitives.contains_key("draw"), "{:?}", f.primitives);
        // 10 NTTs at 1 ms on 2 threads (5 ms) become 10 ms; 35 ms of remainder stay.
        assert!((c.ops[0].median - 45.0).abs() < 1e-9, "{}", c.ops[0].median);
        // A cached calibration must time every primitive, the draw included.
        let mut old = here([1.0; PRIMITIVES]);
        old.ms_per_limb.remove("draw");
        assert!(primitive_times_problem(&old.ms_per_limb, true).is_some());
        assert!(primitive_times_problem(&old.ms_per_limb, false).is_none());
    }

    #[test]
    fn profiles_it_cannot_carry_are_refused_by_name() {
        let mut p = profile_with([1.0; PRIMITIVES], vec![op("bootstrap", 1.0, None)]);
        let mut other = here([1.0; PRIMITIVES]);
        other.preset = "fgb-like-12".into();
        let e = calibrate(&p, &other).unwrap_err().to_string();
        assert!(
            e.contains("measured at preset fgb-like, the calibration at fgb-like-12"),
            "{e}"
        );
        let mut limbs = here([1.0; PRIMITIVES]);
        limbs.limbs = vec![0];
        let e = calibrate(&p, &limbs).unwrap_err().to_string();
        assert!(e.contains("limbs [1, 22]"), "{e}");
        p.primitives = None;
        let e = calibrate(&p, &here([1.0; PRIMITIVES]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("profile sample records no primitive timings"),
            "{e}"
        );
        // Every shipped profile measured before calibration existed says so.
        let old = Profile::load("cellwise-fgb-like-12").unwrap();
        let e = calibrate(&old, &here([1.0; PRIMITIVES]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("re-measure it"), "{e}");
    }

    #[test]
    fn the_cache_is_per_machine_and_a_damaged_file_is_measured_over() {
        let dir = tempfile::tempdir().unwrap();
        let (first, origin) = for_machine("test-small", Some(dir.path()), false).unwrap();
        let Origin::Measured(Some(file)) = origin else {
            panic!("{origin:?}")
        };
        assert!(file.exists());
        let (again, origin) = for_machine("test-small", Some(dir.path()), false).unwrap();
        assert_eq!(origin, Origin::Cached(file.clone()));
        // JSON keeps the figures to within an ulp.
        assert_eq!((&again.cpu, &again.limbs), (&first.cpu, &first.limbs));
        for (name, ms) in &first.ms_per_limb {
            assert!((again.ms_per_limb[name] - ms).abs() <= 1e-12 * ms, "{name}");
        }
        std::fs::write(&file, "{ not json").unwrap();
        let (_, origin) = for_machine("test-small", Some(dir.path()), false).unwrap();
        assert_eq!(origin, Origin::Measured(Some(file.clone())));
        let (_, origin) = for_machine("test-small", Some(dir.path()), true).unwrap();
        assert_eq!(origin, Origin::Measured(Some(file)));
        assert!(matches!(
            for_machine("no-such-preset", None, false),
            Err(CalibrationError::UnknownPreset(_))
        ));
    }
}
