//! `cargo xtask kernel build [--upto N] [--base 6.12|7.3]`: apply the CRIB
//! series of a base (or its first N patches) on its pinned Debian kernel
//! source, configure it (`tinyconfig` + the base's `config`), build `bzImage` and
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
    /// Apply only the first N patches of the base's series.
    #[arg(long)]
    upto: Option<usize>,
    /// Base kernel series: 6.12 (kernel-patches/base.toml, the default)
    /// or a directory kernel-patches/<series>/ (7.3).
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
/// (`None` = the whole series) on the primary base.
pub fn ensure_built(upto: Option<usize>) -> Result<KernelArtifacts> {
    ensure_built_on(upto, None)
}

/// A base: its pin (directory, package) and its series.
struct Selected {
    pin: base::BasePin,
    patches: Vec<Patch>,
}

fn select(base_series: Option<&str>) -> Result<Selected> {
    let root = crate::workspace_root();
    let pin = base::load_pin(&root, base_series)?;
    let patches = series::load_dir(&pin.dir, false)?;
    Ok(Selected { pin, patches })
}

fn layout_for(pin: &base::BasePin) -> Result<Layout> {
    let layout = Layout::for_base(cache::root()?, &pin.series, pin.is_primary());
    std::fs::create_dir_all(&layout.root)
        .with_context(|| format!("creating {}", layout.root.display()))?;
    Ok(layout)
}

/// [`ensure_built`] on base `base_series` (`None`: the primary base).
pub fn ensure_built_on(upto: Option<usize>, base_series: Option<&str>) -> Result<KernelArtifacts> {
    let t0 = Instant::now();
    let sel = select(base_series)?;
    let patches = series::prefix(&sel.patches, upto)?;
    let fragment = sel.pin.fragment();
    // Parse early: a malformed fragment fails before any work.
    config::load(&fragment)?;
    crate::deps::ensure(crate::deps::KERNEL)?;
    let layout = layout_for(&sel.pin)?;
    let base = base::resolve(sel.pin.clone())?;
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

/// Apply the first `upto` patches (all when `None`) on the primary base in
/// the cache's apply worktree, without building; returns that tree and the
/// patches. Fails naming the first patch that does not apply.
pub fn apply_only(upto: Option<usize>) -> Result<(PathBuf, Vec<Patch>)> {
    apply_only_on(upto, None)
}

/// [`apply_only`] on base `base_series`.
pub fn apply_only_on(
    upto: Option<usize>,
    base_series: Option<&str>,
) -> Result<(PathBuf, Vec<Patch>)> {
    let sel = select(base_series)?;
    let patches = series::prefix(&sel.patches, upto)?.to_vec();
    let layout = layout_for(&sel.pin)?;
    let base = base::resolve(sel.pin)?;
    let _lock = crate::lock::Lock::acquire(&layout.lock(), "kernel")?;
    let base_commit = tree::ensure_pristine(&layout, &base)?;
    tree::apply_series(&layout, &base, &base_commit, &patches)?;
    Ok((layout.apply(), patches))
}

/// Every patch of the primary base's series (`kernel-patches/series`).
pub fn series_patches() -> Result<Vec<Patch>> {
    Ok(select(None)?.patches)
}

/// Every patch of base `series`' series.
pub fn series_patches_on(base_series: &str) -> Result<Vec<Patch>> {
    Ok(select(Some(base_series))?.patches)
}

/// A base's identity for reports: series name, version, directory.
pub struct BaseInfo {
    pub series: String,
    pub version: String,
    pub dir: PathBuf,
    pub primary: bool,
}

/// Every base (the primary first), without fetching anything.
pub fn bases() -> Result<Vec<BaseInfo>> {
    let root = crate::workspace_root();
    base::all_series(&root)?
        .iter()
        .map(|s| {
            let pin = base::load_pin(&root, Some(s))?;
            Ok(BaseInfo {
                series: pin.series.clone(),
                version: pin.version.clone(),
                primary: pin.is_primary(),
                dir: pin.dir,
            })
        })
        .collect()
}
