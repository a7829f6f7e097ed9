//! `cargo xtask kernel`: build the patched CRIB kernel (cached).

use anyhow::{bail, Result};
use std::path::PathBuf;

// Used by the VM runner (vmtest) once it boots the patched kernel.
#[allow(dead_code)]
/// What a finished kernel build leaves in the cache.
#[derive(Debug, Clone)]
pub struct KernelArtifacts {
    pub bzimage: PathBuf,
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    /// Cache key: hash(base, patches 1..N, config fragment).
    pub key: String,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Build (or find in the cache) the kernel with patches 1..=`upto` applied
/// (`None` = the whole series).
#[allow(dead_code)]
pub fn ensure_built(upto: Option<usize>) -> Result<KernelArtifacts> {
    bail!("kernel build is not implemented yet (upto {upto:?})")
}

pub fn run(args: Args) -> Result<()> {
    bail!("cargo xtask kernel is not built yet (args: {:?})", args.rest)
}
