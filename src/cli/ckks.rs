//! `cellwise ckks`.

/// Arguments of `cellwise ckks`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `cellwise ckks`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cellwise ckks` is not implemented yet")
}
