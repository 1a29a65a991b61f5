//! `cellwise infer`.

/// Arguments of `cellwise infer`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise infer`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise infer` is not implemented yet")
}
