//! Configuring and compiling the work tree, and the finished artifacts.

use super::cache::Layout;
use super::config;
use super::KernelArtifacts;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Fixed build identity, so that rebuilding unchanged sources changes
/// nothing (and ccache hits).
const BUILD_ENV: [(&str, &str); 3] = [
    ("KBUILD_BUILD_TIMESTAMP", "2024-01-01"),
    ("KBUILD_BUILD_USER", "crib-kit"),
    ("KBUILD_BUILD_HOST", "crib-kit"),
];

const COMPLETE: &str = "complete";

/// `gcc --version`'s first line (part of the cache key).
pub fn compiler_version() -> Result<String> {
    let out = Command::new("gcc")
        .arg("--version")
        .output()
        .context("running gcc --version (apt-get install build-essential)")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("gcc")
        .to_string())
}

fn artifacts_in(dir: &Path, key: &str) -> KernelArtifacts {
    KernelArtifacts {
        bzimage: dir.join("bzImage"),
        vmlinux: dir.join("vmlinux"),
        config: dir.join("config"),
        key: key.to_string(),
    }
}

/// The artifacts of `key`, when a build finished them.
pub fn cached(layout: &Layout, key: &str) -> Option<KernelArtifacts> {
    let dir = layout.artifacts(key);
    let a = artifacts_in(&dir, key);
    (dir.join(COMPLETE).is_file() && a.bzimage.is_file() && a.vmlinux.is_file()).then_some(a)
}

fn make(layout: &Layout, args: &[&str], quiet: bool) -> Result<()> {
    let mut cmd = Command::new("make");
    cmd.current_dir(layout.work())
        .arg(format!("O={}", layout.build().display()))
        .args(args)
        .env("CCACHE_DIR", layout.ccache())
        .envs(BUILD_ENV);
    if quiet {
        cmd.arg("-s");
    }
    let st = cmd.status().context("running make")?;
    if !st.success() {
        bail!(
            "make {} failed ({st}); see the output above",
            args.join(" ")
        );
    }
    Ok(())
}

/// tinyconfig + fragment + olddefconfig, then check the fragment survived.
fn configure(layout: &Layout, fragment: &Path) -> Result<()> {
    let build = layout.build();
    std::fs::create_dir_all(&build).with_context(|| format!("creating {}", build.display()))?;
    make(layout, &["tinyconfig"], true)?;
    let dot = build.join(".config");
    let st = Command::new(layout.work().join("scripts/kconfig/merge_config.sh"))
        .current_dir(layout.work())
        .arg("-m")
        .arg("-O")
        .arg(&build)
        .arg(&dot)
        .arg(fragment)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running merge_config.sh")?;
    if !st.success() {
        bail!("merge_config.sh {} failed ({st})", fragment.display());
    }
    make(layout, &["olddefconfig"], true)?;
    config::verify(fragment, &dot)
}

pub fn build(layout: &Layout, fragment: &Path, key: &str) -> Result<KernelArtifacts> {
    let t = Instant::now();
    configure(layout, fragment)?;
    eprintln!("[kernel] configured in {:.1?}", t.elapsed());
    let t = Instant::now();
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    make(
        layout,
        &[&format!("-j{jobs}"), "CC=ccache gcc", "bzImage", "vmlinux"],
        false,
    )?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!("[kernel] compiled in {secs:.0} s");

    let dir = layout.artifacts(key);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let a = artifacts_in(&dir, key);
    let build = layout.build();
    for (from, to) in [
        (build.join("arch/x86/boot/bzImage"), &a.bzimage),
        (build.join("vmlinux"), &a.vmlinux),
        (build.join(".config"), &a.config),
    ] {
        std::fs::copy(&from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    let meta = serde_json::json!({ "key": key, "compile_secs": secs });
    std::fs::write(dir.join("meta.json"), meta.to_string())
        .with_context(|| format!("writing {}/meta.json", dir.display()))?;
    std::fs::write(dir.join(COMPLETE), "")
        .with_context(|| format!("writing {}/{COMPLETE}", dir.display()))?;
    Ok(a)
}
