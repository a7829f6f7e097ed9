//! A base's patch series (`series` in its directory) and the cache key of
//! a series prefix.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Patch {
    /// The file name (without a `../`).
    pub name: String,
    pub path: PathBuf,
    /// Listed as `../NAME`: the primary base's file, shared verbatim.
    pub shared: bool,
}

/// The patches listed in `DIR/series` (a patch file name a line, `#`
/// comments; `../NAME` names a patch of the parent directory, the primary
/// base's, applied unchanged), in order; an empty series is an error
/// unless `allow_empty`.
pub fn load_dir(dir: &Path, allow_empty: bool) -> Result<Vec<Patch>> {
    let series = dir.join("series");
    let text = std::fs::read_to_string(&series)
        .with_context(|| format!("reading {}", series.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        let (file, shared) = match name.strip_prefix("../") {
            Some(f) => (f, true),
            None => (name, false),
        };
        if file.contains('/') || file.is_empty() {
            bail!(
                "{}:{}: {name}: a patch is NAME or ../NAME",
                series.display(),
                i + 1
            );
        }
        let path = if shared {
            dir.parent().unwrap_or(dir).join(file)
        } else {
            dir.join(file)
        };
        if !path.is_file() {
            bail!("{}:{}: {name}: no such patch file", series.display(), i + 1);
        }
        out.push(Patch {
            name: file.to_string(),
            path,
            shared,
        });
    }
    if out.is_empty() && !allow_empty {
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
/// fragment (and the compiler, whose output the artifacts are). A patch's
/// `[PATCH n/m]` numbering is left out, so appending a patch to the series
/// does not invalidate the builds of its prefixes.
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
        let bytes = without_numbering(&bytes);
        material.extend_from_slice(format!("patch {} {}\n", p.name, bytes.len()).as_bytes());
        material.extend_from_slice(&bytes);
    }
    let cfg = std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    material.extend_from_slice(format!("config {}\n", cfg.len()).as_bytes());
    material.extend_from_slice(&cfg);
    let full = super::base::sha256_bytes(&material)?;
    Ok(full[..16].to_string())
}

/// `bytes` with the first `Subject: [PATCH n/m] ` turned into `Subject: `.
fn without_numbering(bytes: &[u8]) -> Vec<u8> {
    const SUBJECT: &[u8] = b"\nSubject: [PATCH ";
    let Some(at) = bytes.windows(SUBJECT.len()).position(|w| w == SUBJECT) else {
        return bytes.to_vec();
    };
    let start = at + b"\nSubject: ".len();
    let Some(close) = bytes[start..].iter().position(|&b| b == b']') else {
        return bytes.to_vec();
    };
    let mut end = start + close + 1;
    if bytes.get(end) == Some(&b' ') {
        end += 1;
    }
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(&bytes[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_series(names: &[(&str, &str)]) -> (PathBuf, Vec<Patch>) {
        let dir = std::env::temp_dir().join(format!(
            "crib-series-{}-{}",
            std::process::id(),
            names.len()
        ));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let patches = names
            .iter()
            .map(|(n, body)| {
                let path = dir.join(n);
                std::fs::write(&path, body).expect("write patch");
                Patch {
                    name: n.to_string(),
                    path,
                    shared: false,
                }
            })
            .collect();
        (dir, patches)
    }

    #[test]
    fn prefix_bounds() {
        let (_d, p) = tmp_series(&[("0001-a.patch", "a"), ("0002-b.patch", "b")]);
        assert_eq!(prefix(&p, None).expect("all").len(), 2);
        assert_eq!(prefix(&p, Some(1)).expect("one").len(), 1);
        assert!(prefix(&p, Some(0)).is_err());
        assert!(prefix(&p, Some(3)).is_err());
    }

    #[test]
    fn key_follows_every_input() {
        let (dir, p) = tmp_series(&[
            ("0001-a.patch", "a"),
            ("0002-b.patch", "b"),
            ("0003-c.patch", "c"),
        ]);
        let cfg = dir.join("config");
        std::fs::write(&cfg, "CONFIG_A=y\n").expect("config");
        let key = |p: &[Patch], base: &str| cache_key(base, "sha", p, &cfg, "gcc").expect("key");
        let k = key(&p, "v1");
        assert_eq!(k, key(&p, "v1"), "deterministic");
        assert_ne!(k, key(&p[..2], "v1"), "prefix");
        assert_ne!(k, key(&p, "v2"), "base");
        std::fs::write(&p[1].path, "b2").expect("edit");
        assert_ne!(k, key(&p, "v1"), "patch content");
        std::fs::write(&p[1].path, "b").expect("restore");
        std::fs::write(&cfg, "CONFIG_A=n\n").expect("config");
        assert_ne!(k, key(&p, "v1"), "config");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn numbering_is_not_part_of_the_key() {
        let (dir, p) = tmp_series(&[(
            "0001-a.patch",
            "From x\nSubject: [PATCH 1/7] bpf: a\n\nbody\n",
        )]);
        let cfg = dir.join("config");
        std::fs::write(&cfg, "CONFIG_A=y\n").expect("config");
        let k = cache_key("v", "sha", &p, &cfg, "gcc").expect("key");
        std::fs::write(&p[0].path, "From x\nSubject: [PATCH 1/9] bpf: a\n\nbody\n")
            .expect("renumber");
        assert_eq!(k, cache_key("v", "sha", &p, &cfg, "gcc").expect("key"));
        std::fs::write(&p[0].path, "From x\nSubject: [PATCH 1/9] bpf: b\n\nbody\n")
            .expect("retitle");
        assert_ne!(k, cache_key("v", "sha", &p, &cfg, "gcc").expect("key"));
        assert_eq!(without_numbering(b"no subject"), b"no subject");
        let _ = std::fs::remove_dir_all(dir);
    }
}
