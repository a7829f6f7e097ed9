//! Where the kernel cache lives (outside the repository) and its lock.

use anyhow::Result;
use std::path::PathBuf;

/// The kit's cache directory (`crib_vmtest::cache::root`).
pub fn root() -> Result<PathBuf> {
    Ok(crib_vmtest::cache::root())
}

/// Paths inside the cache.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    /// "" for the primary base, "-<series>" for the others: each base has
    /// its own worktrees and O= directory, so switching bases does not
    /// throw away the other's incremental build.
    pub tag: String,
}

impl Layout {
    /// The layout for a base (`primary`: the 6.12 series in kernel-patches/).
    pub fn for_base(root: PathBuf, series: &str, primary: bool) -> Layout {
        let tag = if primary {
            String::new()
        } else {
            format!("-{series}")
        };
        Layout { root, tag }
    }

    /// Unpacked base as a git repository (one per base version).
    pub fn pristine(&self, version: &str) -> PathBuf {
        self.root.join(format!("pristine-{version}"))
    }
    /// Worktree where `git am` applies the series.
    pub fn apply(&self) -> PathBuf {
        self.root.join(format!("apply{}", self.tag))
    }
    /// Worktree the kernel is built from; only files whose content changed
    /// are rewritten, so make rebuilds only what a patch touches.
    pub fn work(&self) -> PathBuf {
        self.root.join(format!("work{}", self.tag))
    }
    pub fn build(&self) -> PathBuf {
        self.root.join(format!("build{}", self.tag))
    }
    pub fn ccache(&self) -> PathBuf {
        self.root.join("ccache")
    }
    pub fn artifacts(&self, key: &str) -> PathBuf {
        self.root.join("artifacts").join(key)
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
}
