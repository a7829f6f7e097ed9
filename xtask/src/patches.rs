//! `cargo xtask patches check [--base 6.12|7.3|all] [--bisect]`: for each
//! base, the CRIB series applies cleanly on the pinned source, every patch
//! is `checkpatch.pl --strict` clean, the tree matches kfunc-specs/
//! (crib_spec::drift), every spec'd crib kfunc is registered by the patch
//! its spec names (or, on a base at least as new as its `upstream_since`,
//! by mainline and by no patch), and with `--bisect` every prefix of the
//! series builds.

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
        /// Which base: a series name (6.12, 7.3) or `all`; default 6.12.
        #[arg(long)]
        base: Option<String>,
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
        /// Export into this kernel base's directory (kernel-patches/<series>/);
        /// a patch whose change is the primary base's is listed as `../NAME`.
        #[arg(long)]
        series: Option<String>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Check { bisect, base } => {
            let bases: Vec<Option<String>> = match base.as_deref() {
                Some("all") => kernel::bases()?
                    .into_iter()
                    .map(|b| Some(b.series))
                    .collect(),
                other => vec![other.map(str::to_string)],
            };
            let mut failed = Vec::new();
            for b in &bases {
                if let Err(e) = check(bisect, b.as_deref()) {
                    println!("{e:#}");
                    failed.push(b.clone().unwrap_or_else(|| "6.12".into()));
                }
            }
            if !failed.is_empty() {
                bail!("patches check failed on base {}", failed.join(", "));
            }
            Ok(())
        }
        Cmd::Export { from, base, series } => export(&from, base.as_deref(), series.as_deref()),
    }
}

fn check(bisect: bool, base: Option<&str>) -> Result<()> {
    let root = crate::workspace_root();
    let mut failures = Vec::new();
    let info = kernel::bases()?
        .into_iter()
        .find(|b| base.is_none_or(|s| s == b.series) && (base.is_some() || b.primary))
        .with_context(|| format!("--base {}: no such base", base.unwrap_or("?")))?;
    println!("== base {} ({})", info.series, info.version);

    let listed = match base {
        Some(s) => kernel::series_patches_on(s)?,
        None => kernel::series_patches()?,
    };
    unlisted_patches(&info.dir, &listed)?;

    let (tree, patches) = kernel::apply_only_on(None, base)?;
    let shared = patches.iter().filter(|p| p.shared).count();
    println!(
        "apply      ok   {} patches on {} {} ({shared} shared with the primary base)",
        patches.len(),
        info.series,
        info.version
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

    let misplaced = misplaced_kfuncs(&set, &patches, &info.series, Some(&tree))?;
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
            match kernel::ensure_built_on(Some(n), base) {
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

/// `.patch` files in a base's directory that its `series` does not list.
fn unlisted_patches(dir: &Path, listed: &[Patch]) -> Result<()> {
    let mut extra = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".patch") && !listed.iter().any(|p| !p.shared && p.name == name) {
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

/// `"7.3"` → (7, 3).
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(['.', '-', '+', '~']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Whether `line` of a C file or patch registers kfunc `name`.
fn registers(line: &str, name: &str) -> bool {
    let reg = format!("BTF_ID_FLAGS(func, {name}");
    line.trim_start_matches('+')
        .strip_prefix(reg.as_str())
        .is_some_and(|rest| rest.starts_with([',', ')']))
}

/// Whether a patch's added lines register kfunc `name`.
fn patch_registers(text: &str, name: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with('+') && registers(l, name))
}

/// Crib kfuncs whose spec names a patch that does not register them. On a
/// base at least as new as a kfunc's `upstream_since`, mainline provides
/// it: then no patch may register it and (when `tree` is given) the base's
/// `kernel/bpf/helpers.c` must.
fn misplaced_kfuncs(
    set: &crib_spec::SpecSet,
    patches: &[Patch],
    base_series: &str,
    tree: Option<&Path>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let base_v = major_minor(base_series);
    let texts = patches
        .iter()
        .map(|p| {
            std::fs::read_to_string(&p.path)
                .with_context(|| format!("reading {}", p.path.display()))
                .map(|t| (p, t))
        })
        .collect::<Result<Vec<_>>>()?;
    for k in set.kfuncs() {
        let crib_spec::Origin::Crib {
            patch,
            upstream_since,
        } = &k.origin
        else {
            continue;
        };
        let mainline = matches!(
            (upstream_since.as_deref().and_then(major_minor), base_v),
            (Some(since), Some(base)) if base >= since
        );
        if mainline {
            for (p, text) in &texts {
                if patch_registers(text, &k.name) {
                    out.push(format!(
                        "{}: mainline has it since {}, but {} registers another",
                        k.name,
                        upstream_since.as_deref().unwrap_or("?"),
                        p.name
                    ));
                }
            }
            if let Some(tree) = tree {
                let helpers = tree.join("kernel/bpf/helpers.c");
                let text = std::fs::read_to_string(&helpers)
                    .with_context(|| format!("reading {}", helpers.display()))?;
                if !text.lines().any(|l| registers(l, &k.name)) {
                    out.push(format!(
                        "{}: spec says mainline since {}, but {} does not register it",
                        k.name,
                        upstream_since.as_deref().unwrap_or("?"),
                        helpers.display()
                    ));
                }
            }
            continue;
        }
        let Some((_, text)) = texts.iter().find(|(p, _)| &p.name == patch) else {
            out.push(format!("{}: spec names {patch}, not in the series", k.name));
            continue;
        };
        if !patch_registers(text, &k.name) {
            out.push(format!("{}: {patch} does not register it", k.name));
        }
    }
    Ok(out)
}

/// `git format-patch` BASE..HEAD of `tree` into kernel-patches/, replacing
/// the old patch files, and rewrite `series`.
fn export(tree: &Path, base: Option<&str>, series: Option<&str>) -> Result<()> {
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
    let primary = crate::workspace_root().join("kernel-patches");
    let dir = match series {
        None => primary.clone(),
        Some(s) => kernel::bases()?
            .into_iter()
            .find(|b| b.series == s)
            .map(|b| b.dir)
            .with_context(|| {
                format!("--series {s}: no such base (add kernel-patches/{s}/base.toml first)")
            })?,
    };
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
    let mut lines = Vec::new();
    for name in names
        .lines()
        .filter_map(|l| Path::new(l).file_name())
        .map(|n| n.to_string_lossy().into_owned())
    {
        let here = dir.join(&name);
        let theirs = primary.join(&name);
        let same = dir != primary
            && theirs.is_file()
            && same_change(
                &std::fs::read_to_string(&here)?,
                &std::fs::read_to_string(&theirs)?,
            );
        if same {
            std::fs::remove_file(&here).with_context(|| format!("removing {}", here.display()))?;
            lines.push(format!("../{name}"));
        } else {
            lines.push(name);
        }
    }
    std::fs::write(dir.join("series"), lines.join("\n") + "\n")
        .with_context(|| format!("writing {}/series", dir.display()))?;
    let shared = lines.iter().filter(|l| l.starts_with("../")).count();
    println!(
        "exported {} patches to {} ({shared} shared with the primary base)",
        lines.len(),
        dir.display()
    );
    // The spec loader checks every kfunc's `patch` against the new series.
    crib_spec::load_dir(&crate::workspace_root().join("kfunc-specs"))
        .map_err(|e| anyhow::anyhow!("kfunc-specs no longer match the series: {e}"))?;
    Ok(())
}

/// Whether two format-patch files make the same change: the same subject
/// and the same diff lines, ignoring what depends on the tree they were
/// made in (blob ids, hunk positions, `[PATCH n/m]`).
fn same_change(a: &str, b: &str) -> bool {
    fn key(t: &str) -> Vec<&str> {
        t.lines()
            .filter(|l| {
                !["index ", "From ", "Date: "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| {
                if let Some(rest) = l.strip_prefix("Subject: ") {
                    rest.rsplit_once("] ").map_or(rest, |(_, s)| s)
                } else if l.starts_with("@@ ") {
                    l.splitn(4, ' ').nth(3).map_or("@@", |_| "@@")
                } else {
                    l
                }
            })
            .collect()
    }
    key(a) == key(b)
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
        let misplaced = misplaced_kfuncs(&specs(), &patches, "6.12", None).expect("read patches");
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
        let misplaced = misplaced_kfuncs(&specs(), &patches, "6.12", None).expect("read patches");
        assert!(
            misplaced
                .iter()
                .any(|m| m.starts_with("bpf_crib_file_from_fd: 0004-")),
            "{misplaced:?}"
        );
    }

    #[test]
    fn on_a_newer_base_mainline_kfuncs_come_from_mainline() {
        let patches = kernel::series_patches_on("7.3").expect("7.3 series");
        let misplaced = misplaced_kfuncs(&specs(), &patches, "7.3", None).expect("read patches");
        assert!(misplaced.is_empty(), "{misplaced:?}");
        // The 6.12 series carries a backport of bpf_task_from_vpid: on a
        // base that has mainline's, that patch is a duplicate.
        let old = kernel::series_patches().expect("series");
        let misplaced = misplaced_kfuncs(&specs(), &old, "7.3", None).expect("read patches");
        assert!(
            misplaced
                .iter()
                .any(|m| m.starts_with("bpf_task_from_vpid: mainline has it since 6.13")),
            "{misplaced:?}"
        );
    }

    #[test]
    fn same_change_ignores_tree_positions_only() {
        let a = "From 0000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/9] x: y\n\
                 index 111..222 100644\n@@ -10,3 +10,4 @@ int f(void)\n a\n+b\n";
        let b = "From 0000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 2/8] x: y\n\
                 index 333..444 100644\n@@ -90,3 +91,4 @@ int f(void)\n a\n+b\n";
        assert!(same_change(a, b));
        assert!(!same_change(a, &b.replace("+b", "+c")));
        assert!(!same_change(a, &b.replace(" a\n", " z\n")));
    }

    #[test]
    fn the_bases_are_6_12_then_7_3_and_others_are_refused() {
        let b = kernel::bases().expect("bases");
        let names: Vec<&str> = b.iter().map(|b| b.series.as_str()).collect();
        assert_eq!(names, ["6.12", "7.3"]);
        assert!(b[0].primary && !b[1].primary);
        let e = kernel::series_patches_on("9.9").expect_err("no 9.9");
        assert!(
            e.to_string().contains("no such base (have: 6.12, 7.3)"),
            "{e}"
        );
        // 7.3 lists the shared 6.12 files through ../ and has its own 0001.
        let p = kernel::series_patches_on("7.3").expect("7.3");
        assert_eq!(p.len(), 10);
        assert!(
            p[1].shared
                && p[1]
                    .path
                    .parent()
                    .is_some_and(|d| d.ends_with("kernel-patches"))
        );
        assert!(!p[0].shared && p[0].path.parent().is_some_and(|d| d.ends_with("7.3")));
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert_eq!(major_minor("7.3"), Some((7, 3)));
        assert_eq!(major_minor("6.12.117-1~deb12u1"), Some((6, 12)));
        assert!(major_minor("7.3") > major_minor("6.13"));
        assert!(major_minor("6.12") < major_minor("6.13"));
        assert_eq!(major_minor("x"), None);
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
            shared: false,
        }];
        let e = unlisted_patches(&dir, &listed).expect_err("0002 unlisted");
        assert!(
            e.to_string().ends_with("does not list: 0002-b.patch"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
