//! The crib CRIU plugin (`crates/crib-criu`): built with cargo and put,
//! as `crib.so`, in a directory of its own (CRIU loads every `.so` of its
//! plugin directory; this one must only meet the kit's patched CRIU).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Build the plugin (`release` for benchmarks) and return the directory
/// that holds `crib.so`.
pub fn build(release: bool) -> Result<PathBuf> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(&root)
        .args(["build", "-p", "crib-criu", "--lib"]);
    if release {
        c.arg("--release");
    }
    eprintln!("[criu] building the crib CRIU plugin (crates/crib-criu)");
    let st = c.status().context("running cargo build -p crib-criu")?;
    if !st.success() {
        bail!("cargo build -p crib-criu failed ({st})");
    }
    let profile = if release { "release" } else { "debug" };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let lib = target.join(profile).join("libcrib_criu.so");
    if !lib.is_file() {
        bail!("{}: not found after the build", lib.display());
    }
    let dir = target.join(format!("criu-plugin-{profile}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let so = dir.join("crib.so");
    std::fs::copy(&lib, &so).with_context(|| format!("copying to {}", so.display()))?;
    Ok(dir)
}
