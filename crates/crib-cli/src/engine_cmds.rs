//! `crib dump`, `crib show`, `crib restore`: not built yet.

use anyhow::{bail, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DumpArgs {}
#[derive(clap::Args)]
pub struct ShowArgs {}
#[derive(clap::Args)]
pub struct RestoreArgs {}

pub fn dump(_a: DumpArgs) -> Result<ExitCode> {
    bail!("crib dump is not built yet")
}
pub fn show(_a: ShowArgs) -> Result<ExitCode> {
    bail!("crib show is not built yet")
}
pub fn restore(_a: RestoreArgs) -> Result<ExitCode> {
    bail!("crib restore is not built yet")
}
