//! What several subcommands do the same way: pick the weights and load the data.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cellwise::data::{self, Split, Splits};
use cellwise::model::{Weights, load_weights};
use cellwise::problem::Problem;

/// The weights of `path` (or the embedded default), refused in one line when their cell or
/// shape differs from the problem's.
pub fn weights_for(problem: &Problem, path: Option<&Path>) -> anyhow::Result<Weights> {
    let (weights, source) = match path {
        Some(path) => (load_weights(path)?, path.display().to_string()),
        None => (
            Weights::embedded_for(problem).with_context(|| {
                format!(
                    "problem {} has no embedded model: train one (cellwise train --problem {0} --out STEM) and pass --weights STEM.safetensors",
                    problem.name
                )
            })?,
            "the embedded default model".into(),
        ),
    };
    weights.check_against(problem).context(source)?;
    Ok(weights)
}

/// The problem's splits from `data_dir` (default: $CELLWISE_DATA_DIR, else ./data),
/// fetching its data set first if it is missing.
pub fn splits_for(problem: &Problem, data_dir: Option<PathBuf>) -> anyhow::Result<Splits> {
    let dir = data_dir.unwrap_or_else(data::default_data_dir);
    ensure_data(problem, &dir)?;
    Ok(data::load_splits(problem, &dir)?)
}

/// Fewest images on either side of a `--holdout` cut.
pub const MIN_HOLDOUT: usize = 10;

/// Cuts the validation split for `cellwise search --holdout N`: the first images, which the
/// search judges, and the last `holdout`, which it never sees (`None` for 0: the search
/// judges the whole split, as before the option existed).
pub fn split_holdout(val: Split, holdout: usize) -> anyhow::Result<(Split, Option<Split>)> {
    if holdout == 0 {
        return Ok((val, None));
    }
    let n = val.len();
    anyhow::ensure!(
        holdout >= MIN_HOLDOUT && holdout + MIN_HOLDOUT <= n,
        "--holdout {holdout} does not fit split {} of {n} images: hold out {MIN_HOLDOUT} to {} images, leaving at least {MIN_HOLDOUT} to search",
        val.name,
        n.saturating_sub(MIN_HOLDOUT)
    );
    let cut = n - holdout;
    Ok((val.slice(0..cut), Some(val.slice(cut..n))))
}

/// Fetches the problem's data set into `dir` if it is missing.
pub fn ensure_data(problem: &Problem, dir: &Path) -> anyhow::Result<()> {
    let dataset = problem.dataset();
    data::ensure(dataset, dir).with_context(|| {
        format!(
            "problem {}: data set {dataset} in data directory {}",
            problem.name,
            dir.display()
        )
    })?;
    Ok(())
}

/// Most worker threads a command may ask for: rayon starts them all at once (a stack each),
/// and this project's machines have a few dozen cores at most.
pub const MAX_THREADS: usize = 1024;

/// Sizes the global rayon pool (`None`: all cores); refuses 0 and more than
/// [`MAX_THREADS`] threads.
pub fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        anyhow::ensure!(
            n <= MAX_THREADS,
            "--threads {n} is out of range: give 1 to {MAX_THREADS} worker threads"
        );
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting up the thread pool")?;
    }
    Ok(())
}

/// Which coefficient kernels the CKKS engine runs (`--kernels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernels {
    /// The CPU's vector path, if it has one.
    Auto,
    /// Scalar code (for A/B runs against the vector path).
    Portable,
}

impl Kernels {
    /// Makes the engine use these kernels from now on.
    pub fn apply(self) {
        cellwise::ckks::math::lanes::set_portable(self == Kernels::Portable);
    }
}

/// `--calibrate` and `--recalibrate`.
#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Also predict with the latency profile calibrated to this machine: its limb primitives
    /// timed for a few seconds (cached per machine in $CELLWISE_CACHE_DIR, else
    /// ~/.cache/cellwise) and the profile's figures carried over by its primitive counts.
    #[arg(long)]
    pub calibrate: bool,
    /// Time the primitives again even if this machine's calibration is cached.
    #[arg(long, requires = "calibrate")]
    pub recalibrate: bool,
}

/// A cost-model spec calibrated to this machine, with what went into it.
pub struct Calibrated {
    /// The spec with the calibrated profile.
    pub spec: cellwise::cost::Spec,
    /// What the outputs record of the calibration.
    pub record: CalibrationRecord,
}

/// A calibration as `cost --json` and `infer`'s run record write it.
#[derive(Debug, serde::Serialize)]
pub struct CalibrationRecord {
    /// This machine's primitives.
    pub calibration: cellwise::cost::calibration::Calibration,
    /// Where they came from (`measured` or `cached`) and the cache file.
    pub origin: String,
    /// How the figures moved.
    pub factors: cellwise::cost::calibration::Factors,
}

/// Why `--calibrate` refuses a model without a timing profile.
const NEEDS_LATENCY: &str = "--calibrate needs the latency model (it calibrates a timing profile)";

/// `spec` calibrated to this machine when `args` ask for it (`None` otherwise); a spec
/// without a latency profile, or a profile that cannot be calibrated, is refused in one line.
pub fn calibrated(
    spec: &cellwise::cost::Spec,
    args: &CalibrateArgs,
) -> anyhow::Result<Option<Calibrated>> {
    use cellwise::cost::calibration::{self, Origin};
    if !args.calibrate {
        return Ok(None);
    }
    let profile = spec.profile().context(NEEDS_LATENCY)?;
    anyhow::ensure!(
        profile.primitives.is_some(),
        "{}",
        calibration::CalibrationError::NoPrimitives(profile.name.clone())
    );
    let preset = profile.params.preset.clone();
    eprintln!(
        "calibrating {} to this machine (preset {preset})",
        profile.name
    );
    let dir = calibration::cache_dir();
    let (here, origin) = calibration::for_machine(&preset, dir.as_deref(), args.recalibrate)?;
    let origin = match origin {
        Origin::Cached(f) => format!("cached in {}", f.display()),
        Origin::Measured(Some(f)) => format!(
            "measured in {:.1} s, cached in {}",
            here.seconds,
            f.display()
        ),
        Origin::Measured(None) => format!("measured in {:.1} s (no cache directory)", here.seconds),
    };
    let (spec, factors) = spec.calibrated(&here)?.context(NEEDS_LATENCY)?;
    eprintln!(
        "calibration {origin}: bootstrap x{}, remainder x{:.3}",
        factors
            .bootstrap
            .map_or("-".to_string(), |b| format!("{b:.3}")),
        factors.remainder
    );
    Ok(Some(Calibrated {
        spec,
        record: CalibrationRecord {
            calibration: here,
            origin,
            factors,
        },
    }))
}
