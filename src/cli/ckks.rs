//! `cellwise ckks`: the project's CKKS engine from the command line (`ckks profile` times
//! every primitive and writes the profile the latency cost model reads; `ckks roofline`
//! compares each operation with the limb primitives it is made of).

use std::path::PathBuf;

use anyhow::Context as _;

use cellwise::ckks::bootstrap::BootstrapConfig;
use cellwise::ckks::math::lanes;
use cellwise::ckks::math::tally::Primitive;
use cellwise::ckks::profile::{ProfileConfig, measure};
use cellwise::ckks::roofline::{self, RooflineConfig};
use cellwise::ckks::scheme::error::CkksError;
use cellwise::ckks::scheme::params::{PRESETS, Parameters, ParametersLiteral};
use cellwise::cost::calibration;
use cellwise::cost::profile::{FORMAT, OpTiming, Profile, ProfileParams};

use super::common::{Kernels, MAX_THREADS};

/// Most timed repetitions per operation: the median of 1,000 is as stable as it gets, and a
/// profile of that many at `fgb-like` already takes days.
const MAX_SAMPLES: usize = 1000;
/// Most timed bootstraps (15-20 s each at `fgb-like`).
const MAX_BOOTSTRAP_SAMPLES: usize = 100;

/// Arguments of `cellwise ckks`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CkksCommand,
}

#[derive(clap::Subcommand)]
enum CkksCommand {
    /// Time every primitive at every level (median after a warm-up) and print or write the
    /// timing profile (cellwise-ckks-profile/1 JSON).
    Profile(MeasureArgs),
    /// Time the limb primitives (NTT, modular multiplication, multiply-accumulate, addition,
    /// permutation) and every operation at the given levels, count the primitives each
    /// operation performs, and print measured time against the sum of its primitives.
    Roofline(MeasureArgs),
}

/// The parameters an engine command runs at.
#[derive(clap::Args)]
struct ChainArgs {
    /// Parameter preset: fgb-like, fgb-like-12, test-small, test-medium or test-boot.
    #[arg(long, default_value = "fgb-like", conflicts_with = "params")]
    preset: String,
    /// Parameters from a TOML file (fields of ParametersLiteral) instead of a preset.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Accept parameters below 128-bit security (the test presets need it).
    #[arg(long)]
    insecure: bool,
}

/// Arguments of `cellwise ckks profile` and `cellwise ckks roofline`.
#[derive(clap::Args)]
struct MeasureArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed repetitions per operation, after one warm-up.
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Measure only these levels (comma-separated); default: every level 0..=top
    /// (`profile`), or the top level, its half and 1 (`roofline`).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// Seed of keys and encryptions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timed bootstraps (0 skips the bootstrap, as do parameters without room for one).
    #[arg(long, default_value_t = 3)]
    bootstrap_samples: usize,
    /// Print the JSON on stdout (otherwise a table).
    #[arg(long)]
    json: bool,
    /// Also write the JSON to this file (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Coefficient kernels: `auto` (the CPU's vector path, if any) or `portable` (scalar
    /// code; for A/B runs against the vector path).
    #[arg(long, value_enum, default_value_t = Kernels::Auto)]
    kernels: Kernels,
}

/// What a measuring command runs at, its arguments checked.
struct Setup {
    name: String,
    params: Parameters,
    levels: Vec<usize>,
    bootstrap_samples: usize,
    pool: rayon::ThreadPool,
}

impl MeasureArgs {
    /// Checks the counts, the output path (a measurement takes minutes to hours, so a path
    /// it cannot be written to is refused first), the parameters and the levels (`default`
    /// from the top level when none are given).
    fn setup(&self, default: impl Fn(usize) -> Vec<usize>) -> anyhow::Result<Setup> {
        for (flag, got, min, max) in [
            ("--threads", self.threads, 1, MAX_THREADS),
            ("--samples", self.samples, 1, MAX_SAMPLES),
            (
                "--bootstrap-samples",
                self.bootstrap_samples,
                0,
                MAX_BOOTSTRAP_SAMPLES,
            ),
        ] {
            anyhow::ensure!(
                (min..=max).contains(&got),
                "{flag} {got}: must be between {min} and {max}"
            );
        }
        if let Some(out) = &self.out {
            cellwise::fsutil::check_writable(out)
                .with_context(|| format!("--out {}: cannot write there", out.display()))?;
        }
        let (name, params) = parameters(&self.chain)?;
        let top = params.top_level();
        let mut levels = self.levels.clone().unwrap_or_else(|| default(top));
        if let Some(&bad) = levels.iter().find(|&&l| l > top) {
            anyhow::bail!("--levels: level {bad} is above the top level {top} of {name}");
        }
        levels.sort_unstable();
        levels.dedup();
        // Parameters without room for a bootstrap are measured without one; secure
        // parameters whose bootstrap would not be secure are refused.
        let bootstrap_samples = match BootstrapConfig::for_params(&params) {
            Ok(_) => self.bootstrap_samples,
            Err(e @ CkksError::InsecureEncapsulation { .. }) => return Err(e.into()),
            Err(_) => 0,
        };
        self.kernels.apply();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
            .context("building the thread pool")?;
        Ok(Setup {
            name,
            params,
            levels,
            bootstrap_samples,
            pool,
        })
    }
}

/// The command line as run.
fn command_line() -> String {
    std::iter::once("cellwise".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cellwise ckks`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        CkksCommand::Profile(a) => profile(a),
        CkksCommand::Roofline(a) => roofline(a),
    }
}

fn parameters(a: &ChainArgs) -> anyhow::Result<(String, Parameters)> {
    let (name, mut lit) = match &a.params {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading parameters {}", path.display()))?;
            let lit = ParametersLiteral::from_toml(&text)
                .with_context(|| format!("parsing parameters {}", path.display()))?;
            (path.display().to_string(), lit)
        }
        None => {
            let lit = ParametersLiteral::preset(&a.preset).with_context(|| {
                format!(
                    "unknown preset '{}' (known: {})",
                    a.preset,
                    PRESETS.join(", ")
                )
            })?;
            (a.preset.clone(), lit)
        }
    };
    lit.insecure = a.insecure;
    let params = lit.build().with_context(|| format!("parameters {name}"))?;
    Ok((name, params))
}

fn profile(a: MeasureArgs) -> anyhow::Result<()> {
    let Setup {
        name,
        params,
        levels,
        bootstrap_samples,
        pool,
    } = a.setup(|top| (0..=top).collect())?;
    let top = params.top_level();
    let cfg = ProfileConfig {
        samples: a.samples,
        levels,
        seed: a.seed,
        bootstrap_samples,
    };
    let progress = |line: &str| eprintln!("{line}");
    let m = pool.install(|| measure(&params, &cfg, &progress))?;
    let profile = Profile {
        format: FORMAT.to_string(),
        engine: "cellwise".to_string(),
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
        cpu: cellwise::sysinfo::cpu_model(),
        threads: a.threads,
        date: cellwise::sysinfo::utc_date(),
        command: Some(command_line()),
        params: ProfileParams {
            preset: name,
            ring_degree: params.n(),
            log_scale: Some(params.literal().log_scale as f64),
            levels: top,
            log_qp: Some((params.log_qp() * 10.0).round() / 10.0),
            dnum: Some(params.dnum()),
            secret: Some(params.literal().secret.name()),
        },
        units: "ms".to_string(),
        ops: m
            .timings
            .iter()
            .map(|t| OpTiming {
                op: t.op.clone(),
                level: t.level,
                median: (t.median_ms * 1e4).round() / 1e4,
                samples: Some(t.samples),
                source: "measured".to_string(),
                counts: t.counts.as_ref().map(calibration::counts_of),
            })
            .collect(),
        peak_rss_mb: m.peak_rss_mb.map(|x| x.round()),
        primitives: Some(calibration::primitives_of(
            &m.primitive_ms,
            &m.primitive_limbs,
        )),
        name: String::new(),
    };
    // The profile format plus, per operation, the levels it consumed and its precision.
    let mut json = serde_json::to_value(&profile)?;
    json["precision"] = serde_json::to_value(
        m.timings
            .iter()
            .filter(|t| t.bits.is_some() || t.levels_consumed.is_some())
            .map(|t| {
                serde_json::json!({
                    "op": t.op, "level": t.level,
                    "bits": t.bits.map(|b| (b * 100.0).round() / 100.0),
                    "levels_consumed": t.levels_consumed,
                })
            })
            .collect::<Vec<_>>(),
    )?;
    if let Some(mb) = m.bootstrap_peak_rss_mb {
        json["bootstrap_peak_rss_mb"] = serde_json::json!(mb.round());
    }
    json["kernels"] = serde_json::json!(lanes::path().name());
    let text = serde_json::to_string_pretty(&json)? + "\n";
    // The written profile must be one the cost model reads.
    Profile::from_json("measured profile", &text)?;
    if let Some(out) = &a.out {
        cellwise::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        super::print(&text)?;
    } else {
        super::print(&format!(
            "{:<18} {:>5} {:>12} {:>8}\n",
            "op", "level", "median ms", "bits"
        ))?;
        for t in &m.timings {
            let bits = t.bits.map_or("-".to_string(), |b| format!("{b:.1}"));
            super::print(&format!(
                "{:<18} {:>5} {:>12.3} {:>8}\n",
                t.op, t.level, t.median_ms, bits
            ))?;
        }
        if let Some(mb) = m.bootstrap_peak_rss_mb {
            super::print(&format!("peak memory after bootstrapping: {mb:.0} MB\n"))?;
        }
        if let Some(mb) = m.peak_rss_mb {
            super::print(&format!("peak memory: {mb:.0} MB\n"))?;
        }
    }
    Ok(())
}

fn roofline(a: MeasureArgs) -> anyhow::Result<()> {
    let Setup {
        name,
        params,
        levels,
        bootstrap_samples,
        pool,
    } = a.setup(|top| vec![1, top.div_ceil(2), top])?;
    let cfg = RooflineConfig {
        samples: a.samples,
        levels,
        seed: a.seed,
        bootstrap_samples,
    };
    let progress = |line: &str| eprintln!("{line}");
    let roof = pool.install(|| roofline::measure(&params, &cfg, &progress))?;
    let json = serde_json::json!({
        "format": "cellwise-ckks-roofline/1",
        "git": env!("CELLWISE_GIT_HASH"),
        "date": cellwise::sysinfo::utc_date(),
        "cpu": cellwise::sysinfo::cpu_model(),
        "command": command_line(),
        "preset": name,
        "kernels": lanes::path().name(),
        "primitives": Primitive::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "roofline": roof,
    });
    let text = serde_json::to_string_pretty(&json)? + "\n";
    if let Some(out) = &a.out {
        cellwise::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        return super::print(&text);
    }
    let mut table = format!(
        "kernels {}; primitive ms per limb (one thread):",
        lanes::path().name()
    );
    for p in Primitive::ALL {
        table += &format!(" {} {:.4}", p.name(), roof.primitive_ms[p as usize]);
    }
    table += &format!(
        "\n{:<26} {:>5} {:>12} {:>12} {:>8}\n",
        "op", "level", "measured ms", "achievable", "fraction"
    );
    for r in &roof.rows {
        table += &format!(
            "{:<26} {:>5} {:>12.3} {:>12.3} {:>8.2}\n",
            r.op, r.level, r.measured_ms, r.achievable_ms, r.fraction
        );
    }
    super::print(&table)
}
