//! `cargo xtask bench compat`: not built yet.

use anyhow::{bail, Result};

#[derive(clap::Args, Default)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("cargo xtask bench compat is not built yet")
}
