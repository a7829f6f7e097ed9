//! `cargo xtask bench dump`: not built yet.

use anyhow::{bail, Result};

#[derive(clap::Args, Default)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("cargo xtask bench dump is not built yet")
}
