//! The git trees in the cache: the pristine base, the series applied with
//! `git am`, and the build worktree.

use super::base::Base;
use super::cache::Layout;
use super::series::Patch;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

const GIT_USER: [&str; 4] = [
    "-c",
    "user.name=crib-kit",
    "-c",
    "user.email=crib-kit@example.invalid",
];

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(GIT_USER)
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "git {} (in {}): {}",
            args.join(" "),
            dir.display(),
            err.lines().take(6).collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The unpacked base as a git repository; returns its base commit.
pub fn ensure_pristine(layout: &Layout, base: &Base) -> Result<String> {
    let dir = layout.pristine(&base.version);
    let ready = dir.join(".git/crib-base");
    if let Ok(commit) = std::fs::read_to_string(&ready) {
        return Ok(commit.trim().to_string());
    }
    if dir.exists() {
        // An interrupted unpack: start over.
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let t = std::time::Instant::now();
    eprintln!(
        "[kernel] unpacking {} into {}",
        base.pin.tarball.display(),
        dir.display()
    );
    let tmp = layout.root.join(format!("unpack-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&base.pin.tarball)
        .arg("-C")
        .arg(&tmp)
        .status()
        .context("running tar")?;
    if !st.success() {
        bail!("tar -xf {} failed ({st})", base.pin.tarball.display());
    }
    // The tarball holds one top directory (linux-source-6.12).
    let top = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .with_context(|| format!("{}: no directory inside", base.pin.tarball.display()))?;
    std::fs::rename(&top, &dir)
        .with_context(|| format!("moving {} to {}", top.display(), dir.display()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    git(&dir, &["init", "-q"])?;
    // Debian's top-level .gitignore ignores everything: add with -f.
    git(&dir, &["add", "-f", "-A", "."])?;
    let msg = format!("base: {} {}", base.pin.package, base.version);
    git(&dir, &["commit", "-q", "--no-verify", "-m", &msg])?;
    let commit = git(&dir, &["rev-parse", "HEAD"])?;
    std::fs::write(&ready, &commit).with_context(|| format!("writing {}", ready.display()))?;
    eprintln!("[kernel] base ready in {:.0?}", t.elapsed());
    Ok(commit)
}

/// A detached worktree of the pristine repository at `path` (recreated
/// when it belongs to another base).
fn ensure_worktree(layout: &Layout, base: &Base, path: &Path, at: &str) -> Result<()> {
    let pristine = layout.pristine(&base.version);
    let owner = path.join(".git");
    let belongs = std::fs::read_to_string(&owner)
        .map(|t| t.contains(&format!("{}/.git/worktrees", pristine.display())))
        .unwrap_or(false);
    if belongs {
        return Ok(());
    }
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    git(&pristine, &["worktree", "prune"])?;
    let p = path.to_string_lossy();
    git(
        &pristine,
        &["worktree", "add", "-q", "--detach", p.as_ref(), at],
    )?;
    Ok(())
}

/// Apply `patches` on the base in the apply worktree; returns the commit.
/// Fails naming the first patch that does not apply.
pub fn apply_series(
    layout: &Layout,
    base: &Base,
    base_commit: &str,
    patches: &[Patch],
) -> Result<String> {
    let dir = layout.apply();
    ensure_worktree(layout, base, &dir, base_commit)?;
    let _ = git(&dir, &["am", "--abort"]);
    git(&dir, &["checkout", "-q", "-f", "--detach", base_commit])?;
    git(&dir, &["clean", "-q", "-f", "-d", "-x"])?;
    for (i, p) in patches.iter().enumerate() {
        let path = p.path.to_string_lossy();
        if let Err(e) = git(&dir, &["am", "-q", "--keep-cr", path.as_ref()]) {
            let _ = git(&dir, &["am", "--abort"]);
            bail!(
                "patch {} ({}) does not apply on {} {}: {e:#}",
                i + 1,
                p.name,
                base.pin.package,
                base.version
            );
        }
    }
    git(&dir, &["rev-parse", "HEAD"])
}

/// Move the build worktree to `commit`; git rewrites only the files whose
/// content differs, which keeps incremental builds incremental.
pub fn checkout_work(layout: &Layout, base: &Base, commit: &str) -> Result<()> {
    let dir = layout.work();
    ensure_worktree(layout, base, &dir, commit)?;
    git(&dir, &["checkout", "-q", "-f", "--detach", commit])?;
    Ok(())
}
