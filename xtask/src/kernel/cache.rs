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
}

impl Layout {
    /// Unpacked base as a git repository (one per base version).
    pub fn pristine(&self, version: &str) -> PathBuf {
        self.root.join(format!("pristine-{version}"))
    }
    /// Worktree where `git am` applies the series.
    pub fn apply(&self) -> PathBuf {
        self.root.join("apply")
    }
    /// Worktree the kernel is built from; only files whose content changed
    /// are rewritten, so make rebuilds only what a patch touches.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }
    pub fn build(&self) -> PathBuf {
        self.root.join("build")
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
