//! `cellwise eval`.

/// Arguments of `cellwise eval`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise eval`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise eval` is not implemented yet")
}
