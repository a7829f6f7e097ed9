//! The patch series (`kernel-patches/series`) and the cache key of a
//! series prefix.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Patch {
    pub name: String,
    pub path: PathBuf,
}

/// The patches listed in `kernel-patches/series`, in order.
pub fn load(root: &Path) -> Result<Vec<Patch>> {
    let dir = root.join("kernel-patches");
    let series = dir.join("series");
    let text = std::fs::read_to_string(&series)
        .with_context(|| format!("reading {}", series.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        let path = dir.join(name);
        if !path.is_file() {
            bail!("{}:{}: {name}: no such patch file", series.display(), i + 1);
        }
        out.push(Patch {
            name: name.to_string(),
            path,
        });
    }
    if out.is_empty() {
        bail!("{}: lists no patches", series.display());
    }
    Ok(out)
}

/// The first `upto` patches (all when `None`).
pub fn prefix(patches: &[Patch], upto: Option<usize>) -> Result<&[Patch]> {
    match upto {
        None => Ok(patches),
        Some(0) => bail!("--upto 0: the series starts at patch 1"),
        Some(n) if n > patches.len() => {
            bail!("--upto {n}: the series has {} patches", patches.len())
        }
        Some(n) => Ok(&patches[..n]),
    }
}

/// Cache key: hash of the base, every applied patch and the config
/// fragment (and the compiler, whose output the artifacts are).
pub fn cache_key(
    base_version: &str,
    base_sha256: &str,
    patches: &[Patch],
    config: &Path,
    compiler: &str,
) -> Result<String> {
    let mut material =
        format!("crib-kit kernel v1\nbase {base_version} {base_sha256}\ncc {compiler}\n")
            .into_bytes();
    for p in patches {
        let bytes =
            std::fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
        material.extend_from_slice(format!("patch {} {}\n", p.name, bytes.len()).as_bytes());
        material.extend_from_slice(&bytes);
    }
    let cfg = std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    material.extend_from_slice(format!("config {}\n", cfg.len()).as_bytes());
    material.extend_from_slice(&cfg);
    let full = super::base::sha256_bytes(&material)?;
    Ok(full[..16].to_string())
}
