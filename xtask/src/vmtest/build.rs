//! What has to exist on the host before a boot: system packages (deps.rs),
//! virtme-ng for `--runner vng`, the workspace packages the suite uses, and
//! the test executables `{test-bin:PACKAGE:TEST}` placeholders name.

use super::output::Clock;
use super::Runner;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Packages built before every suite run (the BPF objects come from
/// crib-harness's build script, `crib` from crib-cli).
pub const SUITE_PACKAGES: &[&str] = &["crib-harness", "crib-cli"];

/// System packages (and virtme-ng) the run needs.
pub fn ensure_tools(runner: Runner, kernel_build: bool) -> Result<()> {
    crate::deps::ensure(crate::deps::BASE)?;
    crate::deps::ensure(crate::deps::VM)?;
    if kernel_build {
        crate::deps::ensure(crate::deps::KERNEL)?;
    }
    if runner == Runner::Vng {
        ensure_vng()?;
    }
    Ok(())
}

/// udev (deps.rs VNG) and `vng` on PATH, else `pip install virtme-ng`.
pub fn ensure_vng() -> Result<()> {
    crate::deps::ensure(crate::deps::VNG)?;
    if crib_vmtest::vng::check_installed().is_ok() {
        return Ok(());
    }
    eprintln!("[setup] installing virtme-ng (pip)");
    let st = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "virtme-ng"])
        .status()
        .context("running python3 -m pip (install python3-pip)")?;
    if !st.success() {
        bail!("pip install virtme-ng failed ({st})");
    }
    crib_vmtest::vng::check_installed().context("vng still not runnable after pip install")?;
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(crate::workspace_root());
    c
}

/// `cargo build -p ...` for `packages`.
pub fn build_packages(packages: &[&str], clock: &Clock) -> Result<()> {
    clock.say(&format!("building {}", packages.join(", ")));
    let mut c = cargo();
    c.arg("build");
    for p in packages {
        c.arg("-p").arg(p);
    }
    let st = c.status().context("running cargo build")?;
    if !st.success() {
        bail!("cargo build -p {} failed", packages.join(" -p "));
    }
    Ok(())
}

/// Build the integration tests named in `refs` and return their executables.
pub fn test_bins(
    refs: &[(String, String)],
    clock: &Clock,
) -> Result<BTreeMap<(String, String), PathBuf>> {
    let mut out = BTreeMap::new();
    if refs.is_empty() {
        return Ok(out);
    }
    clock.say(&format!("building {} test executable(s)", refs.len()));
    let mut c = cargo();
    c.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    for (p, t) in refs {
        c.arg("-p").arg(p).arg("--test").arg(t);
    }
    let o = c
        .stdout(Stdio::piped())
        .output()
        .context("running cargo test --no-run")?;
    if !o.status.success() {
        bail!("cargo test --no-run for the suite's test executables failed");
    }
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let test = v["target"]["name"].as_str().unwrap_or_default();
        let pkg = package_name(v["package_id"].as_str().unwrap_or_default());
        out.insert((pkg, test.to_string()), PathBuf::from(exe));
    }
    for r in refs {
        if !out.contains_key(r) {
            bail!("cargo built no test executable {} of package {}", r.1, r.0);
        }
    }
    Ok(out)
}

/// Package name from a cargo package id: `path+file:///x/harness#crib-harness@0.1.0`
/// or `path+file:///x/xtask#0.1.0` (name = last path segment).
fn package_name(id: &str) -> String {
    let (path, frag) = id.split_once('#').unwrap_or((id, ""));
    match frag.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => path.rsplit('/').next().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn package_names() {
        assert_eq!(
            super::package_name("path+file:///w/harness#crib-harness@0.1.0"),
            "crib-harness"
        );
        assert_eq!(super::package_name("path+file:///w/xtask#0.1.0"), "xtask");
    }
}
