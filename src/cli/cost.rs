//! `cellwise cost`.

/// Arguments of `cellwise cost`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise cost`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise cost` is not implemented yet")
}
