//! `cellwise bench`.

/// Arguments of `cellwise bench`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise bench`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise bench` is not implemented yet")
}
