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
