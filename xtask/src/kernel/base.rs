//! The pinned kernel bases: which Debian package each series applies to,
//! and fetching and checking it. `kernel-patches/base.toml` is the primary
//! base (6.12 LTS, its series in `kernel-patches/`); every other base is a
//! directory `kernel-patches/<series>/` with its own `base.toml`, `series`
//! and `config` (a series line `../NAME` is a patch shared with 6.12).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A base's `base.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePin {
    /// Short series name (`--base`), e.g. "6.12".
    pub series: String,
    pub package: String,
    pub version: String,
    /// Where the package puts the tarball (`/usr/src/...`).
    pub tarball: PathBuf,
    pub sha256: String,
    /// A suite of the private apt configuration (e.g. "trixie-backports"):
    /// the package is downloaded and unpacked into the cache instead of
    /// being installed on the machine.
    #[serde(default)]
    pub suite: Option<String>,
    /// Set by [`load_pin`]: the directory holding `base.toml`, `series`
    /// and `config`.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl BasePin {
    /// The base's kernel config fragment.
    pub fn fragment(&self) -> PathBuf {
        self.dir.join("config")
    }
    /// Whether this is the primary base (its series in `kernel-patches/`).
    pub fn is_primary(&self) -> bool {
        self.dir.file_name().is_some_and(|n| n == "kernel-patches")
    }
}

/// The base actually used: the pin, or a newer installed version.
#[derive(Debug, Clone)]
pub struct Base {
    pub pin: BasePin,
    pub version: String,
    pub sha256: String,
}

/// The pin of base `series` (`None`: the primary base).
pub fn load_pin(root: &Path, series: Option<&str>) -> Result<BasePin> {
    let primary = root.join("kernel-patches");
    let first = load_pin_dir(&primary)?;
    let Some(want) = series else {
        return Ok(first);
    };
    if want == first.series {
        return Ok(first);
    }
    let dir = primary.join(want);
    if !dir.join("base.toml").is_file() || want.contains('/') {
        bail!(
            "--base {want}: no such base (have: {})",
            all_series(root)?.join(", ")
        );
    }
    let pin = load_pin_dir(&dir)?;
    if pin.series != want {
        bail!(
            "{}/base.toml: series = {:?}, but the directory is {want}",
            dir.display(),
            pin.series
        );
    }
    Ok(pin)
}

fn load_pin_dir(dir: &Path) -> Result<BasePin> {
    let path = dir.join("base.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut pin: BasePin = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    pin.dir = dir.to_path_buf();
    Ok(pin)
}

/// Every base's series name, the primary first.
pub fn all_series(root: &Path) -> Result<Vec<String>> {
    let primary = root.join("kernel-patches");
    let mut out = vec![load_pin_dir(&primary)?.series];
    let mut more = Vec::new();
    for e in
        std::fs::read_dir(&primary).with_context(|| format!("reading {}", primary.display()))?
    {
        let p = e?.path();
        if p.join("base.toml").is_file() {
            more.push(load_pin_dir(&p)?.series);
        }
    }
    more.sort();
    out.extend(more);
    Ok(out)
}

/// Install the base package when missing and check its tarball. A newer
/// installed version is used (with a warning) so that the caller can try
/// the series on it; the pinned version with another checksum is an error.
pub fn resolve(mut pin: BasePin) -> Result<Base> {
    let version = match pin.suite.clone() {
        Some(suite) => {
            let (version, tarball) = fetch_private(&pin, &suite)?;
            pin.tarball = tarball;
            version
        }
        None => {
            crate::deps::ensure(&[pin.package.as_str()])?;
            installed_version(&pin.package)?
        }
    };
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
            "{}: sha256 {sha256} does not match {}/base.toml ({}) for {} {version}",
            pin.tarball.display(),
            pin.dir.display(),
            pin.sha256,
            pin.package
        );
    }
    if version != pin.version {
        eprintln!(
            "[kernel] warning: {} {version} is installed, the series is pinned to {}; trying it on {version} \
             (update {}/base.toml once it applies and builds)",
            pin.package,
            pin.version,
            pin.dir.display()
        );
    }
    Ok(Base {
        pin,
        version,
        sha256,
    })
}

/// Download the base package from the private apt configuration and
/// unpack it into the cache (once per version); returns the version and
/// the tarball inside the unpacked package.
fn fetch_private(pin: &BasePin, suite: &str) -> Result<(String, PathBuf)> {
    let apt = crate::apt::PrivateApt::new()?;
    if !crate::apt::EXTRA_SUITES.contains(&suite) {
        bail!(
            "{}/base.toml: suite {suite:?} is not one of the private apt suites ({})",
            pin.dir.display(),
            crate::apt::EXTRA_SUITES.join(", ")
        );
    }
    // The pinned version exactly: the suites may serve a newer one.
    let version = pin.version.clone();
    let root = crib_vmtest::cache::root()
        .join("debs")
        .join(format!("{}_{version}", pin.package));
    let inner = pin.tarball.strip_prefix("/").unwrap_or(&pin.tarball);
    let tarball = root.join("unpacked").join(inner);
    if tarball.is_file() {
        return Ok((version, tarball));
    }
    eprintln!("[kernel] downloading {} {version} ({suite})", pin.package);
    let deb = apt.download(&format!("{}={version}", pin.package), &root)?;
    let tmp = root.join("unpacked.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tmp)
        .status()
        .context("running dpkg-deb")?;
    if !st.success() {
        bail!("dpkg-deb -x {} failed ({st})", deb.display());
    }
    std::fs::rename(&tmp, root.join("unpacked"))
        .with_context(|| format!("moving {} into place", tmp.display()))?;
    let _ = std::fs::remove_file(&deb);
    if !tarball.is_file() {
        bail!(
            "{} {version} holds no {} ({}/base.toml: tarball)",
            pin.package,
            pin.tarball.display(),
            pin.dir.display()
        );
    }
    Ok((version, tarball))
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
