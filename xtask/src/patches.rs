//! `cargo xtask patches check [--bisect]`: the CRIB series applies cleanly on
//! the pinned base, every patch is `checkpatch.pl --strict` clean, the tree
//! matches kfunc-specs/ (crib_spec::drift), every spec'd crib kfunc is
//! registered by the patch its spec names, and with `--bisect` every prefix
//! of the series builds.

use crate::kernel::{self, Patch};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Apply, checkpatch, spec drift (and optionally build every prefix).
    Check {
        /// Also build the kernel with patches 1..k for every k (cached).
        #[arg(long)]
        bisect: bool,
    },
    /// Regenerate kernel-patches/*.patch and series from a git tree whose
    /// commits BASE..HEAD are the series (deterministic format-patch).
    Export {
        /// Kernel git tree holding the series as commits.
        #[arg(long)]
        from: PathBuf,
        /// The base commit (default: the pristine base recorded in the
        /// tree's repository by `cargo xtask kernel build`).
        #[arg(long)]
        base: Option<String>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Check { bisect } => check(bisect),
        Cmd::Export { from, base } => export(&from, base.as_deref()),
    }
}

fn check(bisect: bool) -> Result<()> {
    let root = crate::workspace_root();
    let mut failures = Vec::new();

    unlisted_patches(&root.join("kernel-patches"), &kernel::series_patches()?)?;

    let (tree, patches) = kernel::apply_only(None)?;
    println!(
        "apply      ok   {} patches on the pinned base",
        patches.len()
    );

    for p in &patches {
        let problems = checkpatch(&tree, p)?;
        if problems.is_empty() {
            println!("checkpatch ok   {}", p.name);
        } else {
            println!("checkpatch FAIL {}", p.name);
            for l in &problems {
                println!("    {l}");
            }
            failures.push(format!("checkpatch: {}", p.name));
        }
    }

    let set = crib_spec::load_dir(&root.join("kfunc-specs")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let drift = crib_spec::drift::check_kernel_tree(&set, &tree)
        .map_err(|e| anyhow::anyhow!("spec drift: {e}"))?;
    if drift.is_empty() {
        println!("drift      ok   kernel tree matches kfunc-specs/");
    } else {
        println!("drift      FAIL");
        for d in &drift {
            println!("    {d}");
        }
        failures.push(format!("spec drift: {} difference(s)", drift.len()));
    }

    let misplaced = misplaced_kfuncs(&set, &patches)?;
    if misplaced.is_empty() {
        println!("placement  ok   every crib kfunc is registered by the patch its spec names");
    } else {
        println!("placement  FAIL");
        for m in &misplaced {
            println!("    {m}");
        }
        failures.push(format!("placement: {} kfunc(s)", misplaced.len()));
    }

    if bisect {
        for n in 1..=patches.len() {
            match kernel::ensure_built(Some(n)) {
                Ok(a) => println!("bisect     ok   1..{n} builds ({})", a.key),
                Err(e) => {
                    println!("bisect     FAIL 1..{n}: {e:#}");
                    failures.push(format!("bisect: 1..{n} does not build"));
                }
            }
        }
    }

    if !failures.is_empty() {
        bail!("patches check failed: {}", failures.join("; "));
    }
    println!("patches check: all clean");
    Ok(())
}

/// `.patch` files in kernel-patches/ that `series` does not list.
fn unlisted_patches(dir: &Path, listed: &[Patch]) -> Result<()> {
    let mut extra = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".patch") && !listed.iter().any(|p| p.name == name) {
            extra.push(name);
        }
    }
    if !extra.is_empty() {
        extra.sort();
        bail!(
            "{}/series does not list: {}",
            dir.display(),
            extra.join(", ")
        );
    }
    Ok(())
}

/// checkpatch.pl --strict findings (ERROR/WARNING/CHECK lines) of a patch.
fn checkpatch(tree: &Path, patch: &Patch) -> Result<Vec<String>> {
    checkpatch_with(
        &tree.join("scripts/checkpatch.pl"),
        patch,
        &[format!("--root={}", tree.display())],
    )
}

/// The same for a patch of another project (CRIU): the kernel's script
/// with `--no-tree`, minus the checks that are about the kernel's tree
/// (file paths, the maintainers' subject conventions).
pub fn checkpatch_foreign(script: &Path, patch: &Patch) -> Result<Vec<String>> {
    checkpatch_with(
        script,
        patch,
        &[
            "--no-tree".to_string(),
            "--ignore=FILE_PATH_CHANGES,EMAIL_SUBJECT".to_string(),
        ],
    )
}

fn checkpatch_with(script: &Path, patch: &Patch, extra: &[String]) -> Result<Vec<String>> {
    let out = Command::new("perl")
        .arg(script)
        .args(["--strict", "--no-summary", "--terse", "--showfile"])
        .args(extra)
        .arg(&patch.path)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let problems: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if !out.status.success() && problems.is_empty() {
        bail!(
            "checkpatch.pl {}: {}",
            patch.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(problems)
}

/// Crib kfuncs whose spec names a patch that does not register them.
fn misplaced_kfuncs(set: &crib_spec::SpecSet, patches: &[Patch]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for k in set.kfuncs() {
        let crib_spec::Origin::Crib { patch, .. } = &k.origin else {
            continue;
        };
        let Some(p) = patches.iter().find(|p| &p.name == patch) else {
            out.push(format!("{}: spec names {patch}, not in the series", k.name));
            continue;
        };
        let text = std::fs::read_to_string(&p.path)
            .with_context(|| format!("reading {}", p.path.display()))?;
        let reg = format!("+BTF_ID_FLAGS(func, {}", k.name);
        let registered = text
            .lines()
            .any(|l| l.starts_with(&reg) && l[reg.len()..].starts_with([',', ')']));
        if !registered {
            out.push(format!("{}: {patch} does not register it", k.name));
        }
    }
    Ok(out)
}

/// `git format-patch` BASE..HEAD of `tree` into kernel-patches/, replacing
/// the old patch files, and rewrite `series`.
fn export(tree: &Path, base: Option<&str>) -> Result<()> {
    let git = |args: &[&str]| -> Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(tree)
            .args(args)
            .output()
            .context("running git")?;
        if !out.status.success() {
            bail!(
                "git {} in {}: {}",
                args.join(" "),
                tree.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let base = match base {
        Some(b) => b.to_string(),
        None => {
            let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
            let marker = Path::new(&common).join("crib-base");
            std::fs::read_to_string(&marker)
                .map(|s| s.trim().to_string())
                .with_context(|| format!("{}: no base recorded; pass --base", marker.display()))?
        }
    };
    let dir = crate::workspace_root().join("kernel-patches");
    let range = format!("{base}..HEAD");
    let count = git(&["rev-list", "--count", &range])?;
    if count == "0" {
        bail!("{}: no commits in {range}", tree.display());
    }
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "patch") {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let out_dir = dir.to_string_lossy().into_owned();
    let names = git(&[
        "format-patch",
        "--zero-commit",
        "--no-signature",
        "--filename-max-length=80",
        "-o",
        &out_dir,
        &range,
    ])?;
    let series: Vec<String> = names
        .lines()
        .filter_map(|l| Path::new(l).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    std::fs::write(dir.join("series"), series.join("\n") + "\n")
        .with_context(|| format!("writing {}/series", dir.display()))?;
    println!("exported {} patches to {}", series.len(), dir.display());
    // The spec loader checks every kfunc's `patch` against the new series.
    crib_spec::load_dir(&crate::workspace_root().join("kfunc-specs"))
        .map_err(|e| anyhow::anyhow!("kfunc-specs no longer match the series: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> crib_spec::SpecSet {
        crib_spec::load_dir(&crate::workspace_root().join("kfunc-specs")).expect("specs load")
    }

    #[test]
    fn every_crib_kfunc_is_registered_by_its_patch() {
        let patches = kernel::series_patches().expect("series");
        let misplaced = misplaced_kfuncs(&specs(), &patches).expect("read patches");
        assert!(misplaced.is_empty(), "{misplaced:?}");
    }

    #[test]
    fn a_kfunc_in_the_wrong_patch_is_reported() {
        let mut patches = kernel::series_patches().expect("series");
        // Point the file patch at the task patch's content.
        let task = patches
            .iter()
            .find(|p| p.name.starts_with("0003-"))
            .expect("0003")
            .path
            .clone();
        for p in &mut patches {
            if p.name.starts_with("0004-") {
                p.path = task.clone();
            }
        }
        let misplaced = misplaced_kfuncs(&specs(), &patches).expect("read patches");
        assert!(
            misplaced
                .iter()
                .any(|m| m.starts_with("bpf_crib_file_from_fd: 0004-")),
            "{misplaced:?}"
        );
    }

    #[test]
    fn unlisted_patch_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("crib-unlisted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        std::fs::write(dir.join("0001-a.patch"), "").expect("write");
        std::fs::write(dir.join("0002-b.patch"), "").expect("write");
        let listed = vec![Patch {
            name: "0001-a.patch".into(),
            path: dir.join("0001-a.patch"),
        }];
        let e = unlisted_patches(&dir, &listed).expect_err("0002 unlisted");
        assert!(
            e.to_string().ends_with("does not list: 0002-b.patch"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
