//! Where the kernel cache lives (outside the repository) and its lock.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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

/// An exclusive lock on the cache (a directory holding the owner's pid),
/// so that two builds never share the tree; removed on drop. A lock whose
/// owner is gone is taken over.
pub struct Lock {
    dir: PathBuf,
}

impl Lock {
    pub fn acquire(dir: &Path) -> Result<Lock> {
        let mut waited = 0u64;
        loop {
            match std::fs::create_dir(dir) {
                Ok(()) => {
                    std::fs::write(dir.join("pid"), std::process::id().to_string())
                        .with_context(|| format!("writing {}/pid", dir.display()))?;
                    return Ok(Lock {
                        dir: dir.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(dir.join("pid")).unwrap_or_default();
                    let owner = owner.trim();
                    let alive = !owner.is_empty() && Path::new("/proc").join(owner).exists();
                    if !alive && waited >= 2 {
                        eprintln!(
                            "[kernel] removing stale lock {} (pid {owner:?} is gone)",
                            dir.display()
                        );
                        std::fs::remove_dir_all(dir)
                            .with_context(|| format!("removing stale lock {}", dir.display()))?;
                        continue;
                    }
                    if waited == 0 {
                        eprintln!(
                            "[kernel] waiting for another kernel build (pid {owner}) to finish..."
                        );
                    }
                    if waited > 3 * 3600 {
                        bail!(
                            "{}: still locked by pid {owner} after 3 hours",
                            dir.display()
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    waited += 1;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating lock {}", dir.display()))
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
