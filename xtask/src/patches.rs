//! `cargo xtask patches`: not built yet.

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    bail!("cargo xtask patches is not built yet (args: {:?})", args.rest)
}
