//! `cellwise search`.

/// Arguments of `cellwise search`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise search`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise search` is not implemented yet")
}
