//! `cellwise train`.

/// Arguments of `cellwise train`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise train`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise train` is not implemented yet")
}
