//! `cargo xtask kernel build [--upto N] [--base 6.12]`: apply the CRIB
//! series (or its first N patches) on the pinned Debian kernel source,
//! configure it (`tinyconfig` + `kernel-patches/config`), build `bzImage` and
//! `vmlinux` with ccache, and keep the result in a cache outside the repo
//! keyed by hash(base, patches 1..N, config fragment). [`ensure_built`] is
//! the same thing for other verbs (vmtest, patches check --bisect).

mod base;
mod build;
mod cache;
mod config;
mod series;
mod tree;

use cache::Layout;

pub use base::{sha256_bytes, sha256_file};
pub use build::compiler_version;
pub use series::{load_dir as load_series_dir, Patch};

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

/// What a finished kernel build leaves in the cache.
#[derive(Debug, Clone)]
pub struct KernelArtifacts {
    pub bzimage: PathBuf,
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    /// Cache key: hash(base, patches 1..N, config fragment, compiler).
    pub key: String,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Build (or find in the cache) the patched kernel; prints its paths.
    Build(BuildArgs),
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Apply only the first N patches of kernel-patches/series.
    #[arg(long)]
    upto: Option<usize>,
    /// Base kernel series (only the pinned one, see kernel-patches/base.toml).
    #[arg(long)]
    base: Option<String>,
    /// Print the artifacts as JSON instead of lines.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Build(b) => {
            let a = ensure_built_on(b.upto, b.base.as_deref())?;
            if b.json {
                let v = serde_json::json!({
                    "key": a.key,
                    "bzimage": a.bzimage,
                    "vmlinux": a.vmlinux,
                    "config": a.config,
                });
                println!("{v}");
            } else {
                println!("key      {}", a.key);
                println!("bzImage  {}", a.bzimage.display());
                println!("vmlinux  {}", a.vmlinux.display());
                println!("config   {}", a.config.display());
            }
            Ok(())
        }
    }
}

/// Build (or find in the cache) the kernel with patches 1..=`upto` applied
/// (`None` = the whole series) on the pinned base.
pub fn ensure_built(upto: Option<usize>) -> Result<KernelArtifacts> {
    ensure_built_on(upto, None)
}

fn ensure_built_on(upto: Option<usize>, base_series: Option<&str>) -> Result<KernelArtifacts> {
    let t0 = Instant::now();
    let root = crate::workspace_root();
    let patches = series::load(&root)?;
    let patches = series::prefix(&patches, upto)?;
    let fragment = root.join("kernel-patches/config");
    // Parse early: a malformed fragment fails before any work.
    config::load(&fragment)?;
    crate::deps::ensure(crate::deps::KERNEL)?;
    let base = base::resolve(base::load_pin(&root)?, base_series)?;
    let layout = Layout {
        root: cache::root()?,
    };
    std::fs::create_dir_all(&layout.root)
        .with_context(|| format!("creating {}", layout.root.display()))?;
    let compiler = build::compiler_version()?;
    let key = series::cache_key(&base.version, &base.sha256, patches, &fragment, &compiler)?;
    if let Some(a) = build::cached(&layout, &key) {
        eprintln!(
            "[kernel] cache hit {key} ({} patches on {}) in {:.1?}",
            patches.len(),
            base.version,
            t0.elapsed()
        );
        return Ok(a);
    }
    let _lock = crate::lock::Lock::acquire(&layout.lock(), "kernel")?;
    // Someone else may have built it while we waited.
    if let Some(a) = build::cached(&layout, &key) {
        return Ok(a);
    }
    eprintln!(
        "[kernel] building {key}: {} of the series on {} {}",
        patches.len(),
        base.pin.package,
        base.version
    );
    let base_commit = tree::ensure_pristine(&layout, &base)?;
    let t = Instant::now();
    let commit = tree::apply_series(&layout, &base, &base_commit, patches)?;
    tree::checkout_work(&layout, &base, &commit)?;
    eprintln!("[kernel] series applied in {:.1?}", t.elapsed());
    let a = build::build(&layout, &fragment, &key)?;
    eprintln!("[kernel] done in {:.0?}", t0.elapsed());
    Ok(a)
}

/// Apply the first `upto` patches (all when `None`) on the pinned base in
/// the cache's apply worktree, without building; returns that tree and the
/// patches. Fails naming the first patch that does not apply.
pub fn apply_only(upto: Option<usize>) -> Result<(PathBuf, Vec<Patch>)> {
    let root = crate::workspace_root();
    let all = series::load(&root)?;
    let patches = series::prefix(&all, upto)?.to_vec();
    let base = base::resolve(base::load_pin(&root)?, None)?;
    let layout = Layout {
        root: cache::root()?,
    };
    std::fs::create_dir_all(&layout.root)
        .with_context(|| format!("creating {}", layout.root.display()))?;
    let _lock = crate::lock::Lock::acquire(&layout.lock(), "kernel")?;
    let base_commit = tree::ensure_pristine(&layout, &base)?;
    tree::apply_series(&layout, &base, &base_commit, &patches)?;
    Ok((layout.apply(), patches))
}

/// Every patch of `kernel-patches/series`.
pub fn series_patches() -> Result<Vec<Patch>> {
    series::load(&crate::workspace_root())
}
