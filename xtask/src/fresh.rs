//! `cargo xtask fresh` and the `fresh` lane of `cargo xtask test`: run the
//! README's commands as a new user would, in a new Debian 12 root that has
//! only what a new machine of this kind has (the Rust toolchain, bound in
//! read-only, and gcc), so that a missing install step fails here and not
//! on the next new machine.
//!
//! - Base: `debootstrap --variant=minbase bookworm` from the machine's own
//!   mirror, kept untouched as a tarball in the kit's cache, one per day.
//!   Every run unpacks a new root from it; a root that has run anything is
//!   deleted afterwards, never reused.
//! - Machine: what the machine kind provides and the kit must not: the
//!   machine's apt sources and settings, pip.conf, DNS, CA certificates
//!   (the registries' TLS proxy), gcc, and the workspace's `../shared`
//!   (read-only, beside the checkout). Nothing else of the host is visible
//!   inside.
//! - Steps, each in a private mount namespace (`unshare`), so every mount
//!   goes away with the step: `git clone` of this checkout's HEAD, then
//!   `cargo xtask vmtest --kernel debian-6.12 -- true` (the set-up command
//!   up to one VM boot) and `cargo test --workspace --no-run` (the host
//!   lane's build); with `--full`, `.ci/run` itself (the cold CI figure).

use crate::vmtest::output::timestamp;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Host packages the lane needs to build and enter roots.
pub const HOST_PACKAGES: &[&str] = &["debootstrap", "git", "tar", "util-linux"];

/// What a new machine of this kind has besides Debian's minimal base.
const MACHINE_PACKAGES: &[&str] = &["gcc", "libc6-dev"];

/// Where the checkout lives inside the root.
const CHECKOUT: &str = "/work/crib-kit";
/// The toolchain's mount point inside the root.
const TOOLCHAIN: &str = "/opt/rust";
/// Where the workspace's `../shared` (the real kernel BTFs the host lane's
/// tests read) is bound read-only: beside the checkout, as on the machine.
const SHARED: &str = "/work/shared";

/// Host environment variables a new machine of this kind has too: where
/// its CA certificates are and how it reaches the registries.
const PASS_ENV: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "GIT_SSL_CAINFO",
    "CARGO_HTTP_CAINFO",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// Set inside the root by `--full`, so that the nested `cargo xtask test`
/// does not start a fresh lane of its own.
pub const INSIDE_ENV: &str = "CRIB_KIT_IN_FRESH_ROOT";

#[derive(clap::Args, Default)]
pub struct Args {
    /// Run `.ci/run` (every lane, cold) inside the root instead of the two
    /// README checks: the CI figure of the README.
    #[arg(long)]
    pub full: bool,
    /// Keep the root afterwards (under the kit's cache, `fresh/roots/`).
    #[arg(long)]
    pub keep: bool,
    /// Write the README's CI figure from the saved output of an earlier
    /// `cargo xtask fresh --full` (it names its run directory) and exit.
    #[arg(long, value_name = "LOG", conflicts_with_all = ["full", "keep"])]
    pub ci_figure: Option<PathBuf>,
}

/// One step of the lane and how it went.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: String,
    pub ok: bool,
    pub secs: f64,
    pub note: String,
}

/// What the lane reports to `cargo xtask test`.
pub struct Summary {
    pub steps: Vec<StepResult>,
    pub run_dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(log) = &args.ci_figure {
        return crate::ci_figure::from_saved_output(log);
    }
    let s = run_lane(&args)?;
    print_summary(&s);
    if args.full {
        // The figure is the tool's: written from this run, never typed in.
        if let Err(e) = crate::ci_figure::write_readme(&s.steps, &s.run_dir) {
            eprintln!("[fresh] README CI figure not written: {e:#}");
        }
    }
    let failed: Vec<&StepResult> = s.steps.iter().filter(|r| !r.ok).collect();
    if !failed.is_empty() {
        bail!(
            "fresh root: {} step(s) failed (logs in {})",
            failed.len(),
            s.run_dir.display()
        );
    }
    Ok(())
}

pub fn print_summary(s: &Summary) {
    println!("\nfresh root (logs in {})", s.run_dir.display());
    for r in &s.steps {
        println!(
            "  {:<24} {:<4} {:>7.0} s  {}",
            r.name,
            if r.ok { "pass" } else { "FAIL" },
            r.secs,
            r.note
        );
    }
}

fn cache() -> PathBuf {
    crib_vmtest::cache::root().join("fresh")
}

/// Build the root, run the steps, delete the root. A failure of the
/// machine set-up is `Err`; a failed README step is a failed step.
pub fn run_lane(args: &Args) -> Result<Summary> {
    crate::deps::ensure(HOST_PACKAGES)?;
    let run_dir = crate::workspace_root()
        .join("target/fresh")
        .join(timestamp());
    fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    warn_if_dirty();
    let mut steps = Vec::new();
    let t = Instant::now();
    let base = base_tarball(&run_dir.join("debootstrap.log"))?;
    steps.push(StepResult {
        name: "base".into(),
        ok: true,
        secs: t.elapsed().as_secs_f64(),
        note: base.display().to_string(),
    });
    let roots = cache().join("roots");
    remove_stale_roots(&roots);
    let root = roots.join(format!("{}-{}", timestamp(), std::process::id()));
    let result = (|| -> Result<()> {
        let t = Instant::now();
        unpack(&base, &root)?;
        machine_setup(&root)?;
        let setup = step_in(&root, "machine", &machine_install_script(), &run_dir, &[])?;
        let ok = setup.ok;
        steps.push(StepResult {
            secs: t.elapsed().as_secs_f64(),
            note: format!("minbase + machine files + {}", MACHINE_PACKAGES.join(" ")),
            ..setup
        });
        if !ok {
            bail!(
                "machine set-up failed (see {})",
                run_dir.join("machine.log").display()
            );
        }
        let t = Instant::now();
        clone_checkout(&root)?;
        steps.push(StepResult {
            name: "clone".into(),
            ok: true,
            secs: t.elapsed().as_secs_f64(),
            note: format!("git clone of HEAD into {CHECKOUT}"),
        });
        let plan: Vec<(&str, String)> = if args.full {
            vec![("ci-run", format!("cd {CHECKOUT} && .ci/run"))]
        } else {
            vec![
                (
                    "readme-vmtest",
                    format!("cd {CHECKOUT} && cargo xtask vmtest --kernel debian-6.12 -- true"),
                ),
                (
                    "host-lane-build",
                    format!("cd {CHECKOUT} && cargo test --workspace --no-run"),
                ),
            ]
        };
        for (name, script) in plan {
            let extra: Vec<(&str, &str)> = if args.full {
                vec![(INSIDE_ENV, "1")]
            } else {
                vec![]
            };
            let r = step_in(&root, name, &script, &run_dir, &extra)?;
            let stop = !r.ok;
            steps.push(r);
            if stop {
                break;
            }
        }
        Ok(())
    })();
    if args.keep {
        eprintln!("[fresh] root kept: {}", root.display());
    } else {
        remove_root(&root);
    }
    if let Err(e) = result {
        steps.push(StepResult {
            name: "set-up".into(),
            ok: false,
            secs: 0.0,
            note: format!("{e:#}"),
        });
    }
    Ok(Summary { steps, run_dir })
}

fn warn_if_dirty() {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(crate::workspace_root())
        .output();
    if let Ok(o) = out {
        if !o.stdout.is_empty() {
            eprintln!(
                "[fresh] note: the checkout has uncommitted changes; the fresh root tests HEAD"
            );
        }
    }
}

/// Today's untouched minbase tarball, built with debootstrap if missing.
fn base_tarball(log: &Path) -> Result<PathBuf> {
    let dir = cache();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let day = &timestamp()[..8];
    let tar = dir.join(format!("bookworm-minbase-{day}.tar"));
    if tar.is_file() {
        return Ok(tar);
    }
    let mirror = crate::apt::system_mirror("bookworm")?;
    eprintln!("[fresh] debootstrap --variant=minbase bookworm from {mirror}");
    let tmp = dir.join(format!("bootstrap-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let logf = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let st = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&tmp)
        .arg(&mirror)
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("running debootstrap")?;
    if !st.success() {
        let _ = fs::remove_dir_all(&tmp);
        bail!("debootstrap failed ({st}); log: {}", log.display());
    }
    let part = tar.with_extension("tar.partial");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&tmp)
        .arg("-cf")
        .arg(&part)
        .arg(".")
        .status()
        .context("running tar")?;
    let _ = fs::remove_dir_all(&tmp);
    if !st.success() {
        bail!("tar of the debootstrap root failed ({st})");
    }
    fs::rename(&part, &tar).with_context(|| format!("renaming to {}", tar.display()))?;
    // Older days' tarballs are superseded.
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = e.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(n) = name {
            if n.starts_with("bookworm-minbase-") && p != tar {
                let _ = fs::remove_file(&p);
            }
        }
    }
    Ok(tar)
}

fn unpack(tar: &Path, root: &Path) -> Result<()> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let st = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-xf")
        .arg(tar)
        .status()
        .context("running tar")?;
    if !st.success() {
        bail!("unpacking {} failed ({st})", tar.display());
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let st = Command::new("cp")
        .arg("-aL")
        .arg(from)
        .arg(to)
        .status()
        .context("running cp")?;
    if !st.success() {
        bail!("copying {} to {} failed", from.display(), to.display());
    }
    Ok(())
}

/// The machine kind's own files: apt sources, DNS, CA certificates.
fn machine_setup(root: &Path) -> Result<()> {
    let apt = root.join("etc/apt");
    let _ = fs::remove_file(apt.join("sources.list"));
    fs::create_dir_all(apt.join("sources.list.d"))?;
    let mut copied = 0;
    if Path::new("/etc/apt/sources.list").is_file() {
        fs::copy("/etc/apt/sources.list", apt.join("sources.list"))?;
        copied += 1;
    }
    for e in fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("list" | "sources")
        ) {
            if let Some(name) = p.file_name() {
                fs::copy(&p, apt.join("sources.list.d").join(name))?;
                copied += 1;
            }
        }
    }
    if copied == 0 {
        bail!("this machine has no apt sources to give the fresh root");
    }
    // The machine's own apt settings go with its sources (this kind's
    // registry serves a snapshot whose Release files are past Valid-Until,
    // and says so in apt.conf.d); the root's package-owned ones stay.
    for e in fs::read_dir("/etc/apt/apt.conf.d")
        .into_iter()
        .flatten()
        .flatten()
    {
        let to = apt.join("apt.conf.d").join(e.file_name());
        if e.path().is_file() && !to.exists() {
            fs::create_dir_all(apt.join("apt.conf.d"))?;
            fs::copy(e.path(), &to).with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    // pip's registry settings (its CA), likewise the machine's.
    if Path::new("/etc/pip.conf").is_file() {
        fs::copy("/etc/pip.conf", root.join("etc/pip.conf")).context("copying /etc/pip.conf")?;
    }
    fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    let _ = fs::remove_dir_all(root.join("etc/ssl/certs"));
    copy_tree(Path::new("/etc/ssl/certs"), &root.join("etc/ssl/certs"))?;
    let local = Path::new("/usr/local/share/ca-certificates");
    if local.is_dir() {
        let _ = fs::remove_dir_all(root.join("usr/local/share/ca-certificates"));
        copy_tree(local, &root.join("usr/local/share/ca-certificates"))?;
    }
    for d in [CHECKOUT, TOOLCHAIN, "/root"] {
        fs::create_dir_all(root.join(d.trim_start_matches('/')))?;
    }
    Ok(())
}

fn machine_install_script() -> String {
    format!(
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {}",
        MACHINE_PACKAGES.join(" ")
    )
}

fn clone_checkout(root: &Path) -> Result<()> {
    let dest = root.join(CHECKOUT.trim_start_matches('/'));
    let _ = fs::remove_dir(&dest);
    let st = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(crate::workspace_root())
        .arg(&dest)
        .status()
        .context("running git clone")?;
    if !st.success() {
        bail!("git clone of the checkout failed ({st})");
    }
    Ok(())
}

/// The toolchain this xtask was built with (its sysroot).
fn toolchain() -> Result<PathBuf> {
    let o = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    if !p.join("bin/cargo").is_file() {
        bail!(
            "{} has no bin/cargo: cannot bind the toolchain into the root",
            p.display()
        );
    }
    Ok(p)
}

/// The shell script of one step: mounts (private to the step's mount
/// namespace) and the command under chroot with a clean environment.
pub fn step_script(
    root: &Path,
    sysroot: &Path,
    shared: Option<&Path>,
    env: &[(String, String)],
    cmd: &str,
) -> String {
    let q = crib_vmtest::job::sh_quote;
    let r = q(&root.display().to_string());
    let shared = shared
        .map(|d| {
            format!(
                "mkdir -p {r}{SHARED}\nmount --bind {d} {r}{SHARED}\nmount -o remount,bind,ro {r}{SHARED}\n",
                d = q(&d.display().to_string())
            )
        })
        .unwrap_or_default();
    let mut envs = vec![
        "HOME=/root".to_string(),
        format!(
            "PATH={TOOLCHAIN}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "TERM=dumb".into(),
        "LANG=C.UTF-8".into(),
    ];
    envs.extend(env.iter().map(|(k, v)| q(&format!("{k}={v}"))));
    format!(
        "set -e\n\
         mount -t proc proc {r}/proc\n\
         mount -t sysfs sysfs {r}/sys\n\
         mount -t bpf bpf {r}/sys/fs/bpf 2>/dev/null || true\n\
         mount -t cgroup2 cgroup2 {r}/sys/fs/cgroup 2>/dev/null || true\n\
         mount -t tracefs tracefs {r}/sys/kernel/tracing 2>/dev/null || true\n\
         mount --rbind /dev {r}/dev\n\
         mount -t tmpfs tmpfs {r}/tmp\n\
         mount --bind {tc} {r}{TOOLCHAIN}\n\
         mount -o remount,bind,ro {r}{TOOLCHAIN}\n\
         {shared}\
         exec chroot {r} /usr/bin/env -i {envs} /bin/sh -c {cmd}\n",
        tc = q(&sysroot.display().to_string()),
        envs = envs.join(" "),
        cmd = q(cmd),
    )
}

/// Run `cmd` in the root, in its own mount namespace, logging to
/// `<run_dir>/<name>.log`.
fn step_in(
    root: &Path,
    name: &str,
    cmd: &str,
    run_dir: &Path,
    extra: &[(&str, &str)],
) -> Result<StepResult> {
    let sysroot = toolchain()?;
    let mut env: Vec<(String, String)> = PASS_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // The machine gives the workspace a `shared/` beside the checkout.
    let shared = crate::workspace_root().join("../shared");
    let shared = shared.is_dir().then_some(shared.as_path());
    let script = step_script(root, &sysroot, shared, &env, cmd);
    let log = run_dir.join(format!("{name}.log"));
    let mut logf = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    writeln!(logf, "$ {cmd}")?;
    eprintln!("[fresh] {name}: {cmd} (log: {})", log.display());
    let t = Instant::now();
    let st = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .status()
        .context("running unshare (util-linux)")?;
    let secs = t.elapsed().as_secs_f64();
    let note = if st.success() {
        String::new()
    } else {
        format!("{st}; last lines: {}", last_lines(&log, 3))
    };
    Ok(StepResult {
        name: name.to_string(),
        ok: st.success(),
        secs,
        note,
    })
}

fn last_lines(p: &Path, n: usize) -> String {
    let t = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether anything is mounted at or below `dir` (in this namespace).
fn has_mounts(dir: &Path) -> bool {
    let d = dir.display().to_string();
    fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines().any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|mp| mp == d || mp.starts_with(&format!("{d}/")))
            })
        })
        .unwrap_or(true)
}

/// Delete a root (never through a mount: the steps' mounts live in their
/// own namespaces, so none should remain; if one does, keep the root).
fn remove_root(root: &Path) {
    if has_mounts(root) {
        eprintln!(
            "[fresh] {} still has mounts: left in place, not deleted",
            root.display()
        );
        return;
    }
    if let Err(e) = fs::remove_dir_all(root) {
        eprintln!("[fresh] could not delete {}: {e}", root.display());
    }
}

/// Roots of earlier runs that died before their clean-up.
fn remove_stale_roots(roots: &Path) {
    for e in fs::read_dir(roots).into_iter().flatten().flatten() {
        remove_root(&e.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_script_mounts_privately_and_chroots_with_a_clean_environment() {
        let s = step_script(
            Path::new("/c/fresh/roots/r 1"),
            Path::new("/root/.rustup/toolchains/stable"),
            Some(Path::new("/w/shared")),
            &[("SSL_CERT_FILE".into(), "/etc/ssl/certs/ca.crt".into())],
            "cd /work/crib-kit && cargo xtask vmtest --kernel debian-6.12 -- true",
        );
        assert!(
            s.contains(
                "mount --bind '/root/.rustup/toolchains/stable' '/c/fresh/roots/r 1'/opt/rust"
            ),
            "{s}"
        );
        assert!(s.contains("mount -o remount,bind,ro '/c/fresh/roots/r 1'/opt/rust"));
        assert!(s.contains("mount -o remount,bind,ro '/c/fresh/roots/r 1'/work/shared\n"));
        assert!(s.contains(
            "exec chroot '/c/fresh/roots/r 1' /usr/bin/env -i HOME=/root PATH=/opt/rust/bin:"
        ));
        assert!(s.contains("'SSL_CERT_FILE=/etc/ssl/certs/ca.crt'"));
        assert!(
            s.ends_with("'cd /work/crib-kit && cargo xtask vmtest --kernel debian-6.12 -- true'\n")
        );
    }

    #[test]
    fn a_directory_with_a_mount_below_it_is_seen() {
        assert!(has_mounts(Path::new("/proc")));
        assert!(!has_mounts(Path::new("/no/such/dir/for/crib")));
    }
}
