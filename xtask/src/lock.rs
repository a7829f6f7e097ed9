//! An exclusive lock on a cache entry (a directory holding the owner's
//! pid): two builds of the kernel, or of CRIU, never share a tree.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// An exclusive lock on the cache (a directory holding the owner's pid),
/// so that two builds never share the tree; removed on drop. A lock whose
/// owner is gone is taken over.
pub struct Lock {
    dir: PathBuf,
}

impl Lock {
    pub fn acquire(dir: &Path, what: &str) -> Result<Lock> {
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
                            "[{what}] removing stale lock {} (pid {owner:?} is gone)",
                            dir.display()
                        );
                        std::fs::remove_dir_all(dir)
                            .with_context(|| format!("removing stale lock {}", dir.display()))?;
                        continue;
                    }
                    if waited == 0 {
                        eprintln!(
                            "[{what}] waiting for another {what} build (pid {owner}) to finish..."
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
