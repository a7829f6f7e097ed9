//! `crates/crib-criu/patches/`: the pinned CRIU tarball (`base.toml`) and
//! the kit's series; fetching and checking the tarball.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the pin and the series live.
pub fn dir(root: &Path) -> PathBuf {
    root.join("crates/crib-criu/patches")
}

/// `base.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Debian source package.
    pub package: String,
    /// Its Debian version (`4.2.1-1`).
    pub version: String,
    /// The upstream tarball's file name.
    pub tarball: String,
    pub size: u64,
    pub sha256: String,
}

impl Pin {
    /// `4.2.1` of `4.2.1-1`.
    pub fn upstream_version(&self) -> &str {
        self.version.split('-').next().unwrap_or(&self.version)
    }
}

pub fn load(root: &Path) -> Result<Pin> {
    let path = dir(root).join("base.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let pin: Pin = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    if pin.sha256.len() != 64 || !pin.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{}: sha256 is not 64 hex digits", path.display());
    }
    Ok(pin)
}

/// The kit's CRIU patches, in order (the series may be empty).
pub fn series(root: &Path) -> Result<Vec<crate::kernel::Patch>> {
    crate::kernel::load_series_dir(&dir(root), true)
}

/// Check a downloaded tarball against the pin: `Err` names the file and
/// what is wrong with it.
pub fn verify(pin: &Pin, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() != pin.size {
        bail!(
            "{}: {} bytes, the pin (crates/crib-criu/patches/base.toml) says {}",
            path.display(),
            meta.len(),
            pin.size
        );
    }
    let sha = crate::kernel::sha256_file(path)?;
    if sha != pin.sha256 {
        bail!(
            "{}: sha256 {sha} does not match the pin {} (corrupt or another release)",
            path.display(),
            pin.sha256
        );
    }
    Ok(())
}

/// The pinned tarball in `dl`: reused when it checks out, else fetched
/// with the private apt configuration (a bad download is removed).
pub fn fetch(pin: &Pin, dl: &Path) -> Result<PathBuf> {
    let path = dl.join(&pin.tarball);
    if path.is_file() {
        match verify(pin, &path) {
            Ok(()) => return Ok(path),
            Err(e) => {
                eprintln!("[criu] {e:#}; fetching it again");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    eprintln!(
        "[criu] fetching {} ({} {}) with the private apt configuration",
        pin.tarball, pin.package, pin.version
    );
    let apt = crate::apt::PrivateApt::new()?;
    let got = apt.orig_tarball(&pin.package, &pin.version, dl)?;
    if got != path {
        bail!(
            "apt fetched {} instead of {}",
            got.display(),
            path.display()
        );
    }
    if let Err(e) = verify(pin, &path) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tarball_that_does_not_match_the_pin_is_named_and_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("criu_4.2.1.orig.tar.xz");
        std::fs::write(&f, b"not a tarball").expect("write");
        let mut pin = Pin {
            package: "criu".into(),
            version: "4.2.1-1".into(),
            tarball: "criu_4.2.1.orig.tar.xz".into(),
            size: 13,
            sha256: "0".repeat(64),
        };
        let e = verify(&pin, &f).expect_err("wrong sha256");
        assert!(e.to_string().contains("does not match the pin"), "{e}");
        assert!(e.to_string().contains("criu_4.2.1.orig.tar.xz"), "{e}");
        pin.size = 99;
        let e = verify(&pin, &f).expect_err("wrong size");
        assert!(e.to_string().contains("13 bytes"), "{e}");
        assert_eq!(pin.upstream_version(), "4.2.1");
    }

    #[test]
    fn the_committed_pin_loads() {
        let pin = load(&crate::workspace_root()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(pin.package, "criu");
        assert!(pin.tarball.ends_with(".orig.tar.xz"));
    }
}
