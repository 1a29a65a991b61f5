//! `cellwise export`: write model weights as `.npz` and `.safetensors` under Keras's names
//! (any cell; e.g. a PyTorch state_dict converted to the Keras layout).

use std::path::PathBuf;

use anyhow::Context;
use cellwise::model::{Weights, load_weights, save_weights};

/// Arguments of `cellwise export`.
#[derive(clap::Args)]
pub struct Args {
    /// Weights to export (.npz or .safetensors; default: the embedded model).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Output stem: writes STEM.npz and STEM.safetensors (Keras names: kernel,
    /// recurrent_kernel, bias — [2, 3H] for a GRU —, dense_kernel, dense_bias).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `cellwise export`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let weights = match &args.weights {
        Some(path) => load_weights(path)?,
        None => Weights::embedded_default(),
    };
    // The writer goes through temporaries beside the targets: a failed export leaves neither
    // them nor half a file behind.
    save_weights(&weights, &args.out)
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    super::print(&format!(
        "wrote {} and {} (fingerprint {})\n",
        args.out.with_extension("npz").display(),
        args.out.with_extension("safetensors").display(),
        weights.fingerprint()
    ))
}
