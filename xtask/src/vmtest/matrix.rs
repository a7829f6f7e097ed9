//! TODO
use super::Args;
use anyhow::{bail, Result};
pub fn run(_args: &Args) -> Result<()> {
    bail!("--matrix is not built yet")
}
