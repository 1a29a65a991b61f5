//! `cellwise compare`.

/// Arguments of `cellwise compare`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise compare`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise compare` is not implemented yet")
}
