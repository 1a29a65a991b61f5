//! `cellwise fetch`.

/// Arguments of `cellwise fetch`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise fetch`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise fetch` is not implemented yet")
}
