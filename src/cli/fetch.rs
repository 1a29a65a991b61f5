//! `cellwise fetch`: download and verify MNIST.

use std::path::PathBuf;

use anyhow::Context;
use cellwise::data;

/// Arguments of `cellwise fetch`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs `cellwise fetch`: downloads MNIST unless the verified files are already there.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(data::default_data_dir);
    data::ensure_mnist(&dir).with_context(|| format!("fetching MNIST into {}", dir.display()))?;
    super::status(&format!("MNIST verified in {}", dir.display()));
    Ok(())
}
