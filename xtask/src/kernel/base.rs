//! The pinned kernel base (`kernel-patches/base.toml`): which Debian
//! package the series applies to, and checking what is installed.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `kernel-patches/base.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePin {
    /// Short series name (`--base`), e.g. "6.12".
    pub series: String,
    pub package: String,
    pub version: String,
    pub tarball: PathBuf,
    pub sha256: String,
}

/// The base actually used: the pin, or a newer installed version.
#[derive(Debug, Clone)]
pub struct Base {
    pub pin: BasePin,
    pub version: String,
    pub sha256: String,
}

pub fn load_pin(root: &Path) -> Result<BasePin> {
    let path = root.join("kernel-patches/base.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
}

/// Install the base package when missing and check its tarball. A newer
/// installed version is used (with a warning) so that the caller can try
/// the series on it; the pinned version with another checksum is an error.
pub fn resolve(pin: BasePin, wanted_series: Option<&str>) -> Result<Base> {
    if let Some(s) = wanted_series {
        if s != pin.series {
            bail!(
                "--base {s}: only {} is supported (kernel-patches/base.toml)",
                pin.series
            );
        }
    }
    crate::deps::ensure(&[pin.package.as_str()])?;
    let version = installed_version(&pin.package)?;
    if !pin.tarball.is_file() {
        bail!(
            "{}: missing although {} {version} is installed (reinstall it: apt-get install --reinstall {})",
            pin.tarball.display(),
            pin.package,
            pin.package
        );
    }
    let sha256 = sha256_file(&pin.tarball)?;
    if version == pin.version && sha256 != pin.sha256 {
        bail!(
            "{}: sha256 {sha256} does not match kernel-patches/base.toml ({}) for {} {version}",
            pin.tarball.display(),
            pin.sha256,
            pin.package
        );
    }
    if version != pin.version {
        eprintln!(
            "[kernel] warning: {} {version} is installed, the series is pinned to {}; trying it on {version} \
             (update kernel-patches/base.toml once it applies and builds)",
            pin.package, pin.version
        );
    }
    Ok(Base {
        pin,
        version,
        sha256,
    })
}

fn installed_version(package: &str) -> Result<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .context("running dpkg-query")?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        bail!("{package} is not installed (apt-get install {package})");
    }
    Ok(v)
}

/// sha256 of a file, through coreutils' sha256sum.
pub fn sha256_file(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("running sha256sum")?;
    if !out.status.success() {
        bail!(
            "sha256sum {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    first_word(&out.stdout).with_context(|| format!("sha256sum {}: no output", path.display()))
}

/// sha256 of bytes, through coreutils' sha256sum.
pub fn sha256_bytes(bytes: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running sha256sum")?;
    child
        .stdin
        .take()
        .context("sha256sum stdin")?
        .write_all(bytes)
        .context("writing to sha256sum")?;
    let out = child.wait_with_output().context("waiting for sha256sum")?;
    first_word(&out.stdout).context("sha256sum: no output")
}

fn first_word(out: &[u8]) -> Option<String> {
    String::from_utf8_lossy(out)
        .split_whitespace()
        .next()
        .map(str::to_string)
}
