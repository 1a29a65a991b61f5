//! `cellwise export`.

/// Arguments of `cellwise export`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise export`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise export` is not implemented yet")
}
