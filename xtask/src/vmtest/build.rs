//! What has to exist on the host before a boot: system packages (deps.rs),
//! virtme-ng for `--runner vng`, the workspace packages the suite uses, and
//! the test executables `{test-bin:PACKAGE:TEST}` and the binaries
//! `{bin:PACKAGE:BIN}` placeholders name.

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

/// udev (deps.rs VNG) and `vng`, else virtme-ng from PyPI into the kit's
/// venv (`~/.cache/crib-kit/venv/virtme-ng`): `pip install` into the
/// system's Python is refused on Debian (externally managed).
pub fn ensure_vng() -> Result<()> {
    crate::deps::ensure(crate::deps::VNG)?;
    let pinned = crib_vmtest::vng::VERSION;
    let installed = crib_vmtest::vng::installed_version();
    if installed.as_deref() == Some(pinned) {
        return Ok(());
    }
    let venv = crib_vmtest::vng::venv_dir();
    let pip = venv.join("bin/pip");
    if !pip.is_file() {
        eprintln!(
            "[setup] creating a Python venv for virtme-ng: {}",
            venv.display()
        );
        let st = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .context("running python3 -m venv (install python3-venv)")?;
        if !st.success() {
            bail!("python3 -m venv {} failed ({st})", venv.display());
        }
    }
    eprintln!(
        "[setup] installing virtme-ng {pinned} (pip, into {}{})",
        venv.display(),
        installed
            .map(|v| format!("; found {v}"))
            .unwrap_or_default()
    );
    let st = Command::new(&pip)
        .args(["install", "--quiet", &format!("virtme-ng=={pinned}")])
        .status()
        .with_context(|| format!("running {}", pip.display()))?;
    if !st.success() {
        bail!("{} install virtme-ng failed ({st})", pip.display());
    }
    match crib_vmtest::vng::installed_version() {
        Some(v) if v == pinned => Ok(()),
        Some(v) => bail!(
            "vng reports version {v} after installing {pinned} into {} (is another vng first on PATH?)",
            venv.display()
        ),
        None => bail!("vng still not runnable after pip install into {}", venv.display()),
    }
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
    if refs.is_empty() {
        return Ok(BTreeMap::new());
    }
    clock.say(&format!("building {} test executable(s)", refs.len()));
    let mut c = cargo();
    c.args(["test", "--no-run"]);
    for (p, t) in refs {
        c.arg("-p").arg(p).arg("--test").arg(t);
    }
    executables(c, refs, "test executable")
}

/// Build the binaries named in `refs` (package, bin) and return their paths.
pub fn bins(
    refs: &[(String, String)],
    clock: &Clock,
) -> Result<BTreeMap<(String, String), PathBuf>> {
    if refs.is_empty() {
        return Ok(BTreeMap::new());
    }
    clock.say(&format!("building {} binar(y/ies)", refs.len()));
    let mut c = cargo();
    c.arg("build");
    for (p, b) in refs {
        c.arg("-p").arg(p).arg("--bin").arg(b);
    }
    executables(c, refs, "binary")
}

/// Run cargo command `c` with JSON messages and map (package, target name)
/// to the executables it reports; every entry of `refs` must be among them.
fn executables(
    mut c: Command,
    refs: &[(String, String)],
    what: &str,
) -> Result<BTreeMap<(String, String), PathBuf>> {
    c.arg("--message-format=json-render-diagnostics");
    let o = c
        .stdout(Stdio::piped())
        .output()
        .with_context(|| format!("running cargo for the suite's {what}s"))?;
    if !o.status.success() {
        bail!("cargo failed building the suite's {what}s");
    }
    let mut out = BTreeMap::new();
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
        let name = v["target"]["name"].as_str().unwrap_or_default();
        let pkg = package_name(v["package_id"].as_str().unwrap_or_default());
        out.insert((pkg, name.to_string()), PathBuf::from(exe));
    }
    for r in refs {
        if !out.contains_key(r) {
            bail!("cargo built no {what} {} of package {}", r.1, r.0);
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
