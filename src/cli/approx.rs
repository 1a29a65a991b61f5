//! `cellwise approx`.

/// Arguments of `cellwise approx`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise approx`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise approx` is not implemented yet")
}
