//! Generators: pure functions from a [`SpecSet`] to file text, plus
//! [`write_all`] / [`check_all`] for `cargo xtask gen [--check]`.

mod bpf_header;
pub(crate) mod c;
mod kernel_frag;
mod uapi;

pub use bpf_header::{bpf_header, HAS_CRIB_TYPES};
pub use c::{prototype, size_macro, version_macro, GENERATED};
pub use kernel_frag::{btf_id_flags, flags_expr, kernel_kfuncs};
pub use uapi::uapi_header;

use crate::model::SpecSet;
use std::path::{Path, PathBuf};

/// Where each generated file lives, relative to the workspace root.
pub const BPF_HEADER_PATH: &str = "bpf/include/crib/kfuncs.h";
pub const UAPI_HEADER_PATH: &str = "kernel-patches/generated/bpf_crib.h";
pub const KERNEL_KFUNCS_PATH: &str = "kernel-patches/generated/crib_kfuncs.txt";

/// One generated file: its path relative to the workspace root and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// Every generated file, in a fixed order.
pub fn generate_all(set: &SpecSet) -> Vec<GeneratedFile> {
    [
        (BPF_HEADER_PATH, bpf_header(set)),
        (UAPI_HEADER_PATH, uapi_header(set)),
        (KERNEL_KFUNCS_PATH, kernel_kfuncs(set)),
    ]
    .into_iter()
    .map(|(p, contents)| GeneratedFile {
        path: PathBuf::from(p),
        contents,
    })
    .collect()
}

/// Why a generated file on disk is not what the specs generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    /// First differing line (1-based).
    Differs {
        line: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    pub path: PathBuf,
    pub why: Staleness,
}

impl std::fmt::Display for StaleFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.why {
            Staleness::Missing => write!(f, "{}: missing", self.path.display()),
            Staleness::Differs { line } => {
                write!(
                    f,
                    "{}:{line}: stale (differs from the specs)",
                    self.path.display()
                )
            }
        }
    }
}

/// First 1-based line where `a` and `b` differ, if any.
pub fn first_difference(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return None;
    }
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (None, None) => return Some(n), // only line endings differ
            _ => return Some(n),
        }
    }
}

/// Compare the generated files with those under `root` (nothing written).
pub fn check_all(root: &Path, set: &SpecSet) -> std::io::Result<Vec<StaleFile>> {
    let mut stale = Vec::new();
    for g in generate_all(set) {
        let full = root.join(&g.path);
        let why = match std::fs::read_to_string(&full) {
            Ok(text) => {
                first_difference(&text, &g.contents).map(|line| Staleness::Differs { line })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Staleness::Missing),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", full.display()),
                ))
            }
        };
        if let Some(why) = why {
            stale.push(StaleFile { path: g.path, why });
        }
    }
    Ok(stale)
}

/// Write every generated file under `root` whose text changed; returns the
/// paths written.
pub fn write_all(root: &Path, set: &SpecSet) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for g in generate_all(set) {
        let full = root.join(&g.path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(g.contents.as_str()) {
            continue;
        }
        let ctx =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", full.display()));
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).map_err(ctx)?;
        }
        std::fs::write(&full, &g.contents).map_err(ctx)?;
        written.push(g.path);
    }
    Ok(written)
}
