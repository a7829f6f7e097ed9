//! System package installation: every apt dependency of the kit is listed
//! here, grouped by the verb that needs it, and installed only when missing.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// Packages every lane needs (building the workspace and the BPF objects).
pub const BASE: &[&str] = &[
    "build-essential",
    "pkg-config",
    "clang",
    "llvm",
    "libelf-dev",
    "zlib1g-dev",
    "liblzma-dev",
    "libbpf-dev",
    "bpftool",
    "xz-utils",
];

/// Packages for building the patched kernel.
pub const KERNEL: &[&str] = &[
    "linux-source-6.12",
    "git",
    "bc",
    "bison",
    "flex",
    "libssl-dev",
    "dwarves",
    "ccache",
    "cpio",
    "kmod",
    "perl",
    "rsync",
];

/// Packages for booting kernels under QEMU.
pub const VM: &[&str] = &["qemu-system-x86", "busybox-static", "cpio", "kmod"];

/// Packages for the virtme-ng backend (`--runner vng`, `bench vm`): vng
/// itself comes from PyPI into the kit's venv (python3-venv for Debian's
/// Python); it needs udev on the host to return output, and file(1) to
/// check that busybox is static.
pub const VNG: &[&str] = &["udev", "python3-venv", "file"];

/// Packages for `cargo xtask bench dump`: syscall counts (strace) and the
/// `criu dump` comparison (criu; Debian's 3.17 cannot run on every kernel,
/// the bench says so).
pub const BENCH: &[&str] = &["strace"];

/// `cargo xtask bench dump --profile`: perf.
pub const PROFILE: &[&str] = &["linux-perf"];

#[derive(clap::Args)]
pub struct Args {
    /// Only print what would be installed.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> Result<()> {
    let all: Vec<&str> = BASE
        .iter()
        .chain(KERNEL)
        .chain(VM)
        .chain(BENCH)
        .chain(crate::fresh::HOST_PACKAGES)
        .copied()
        .collect();
    if args.dry_run {
        let missing = missing(&all)?;
        println!("missing: {}", missing.join(" "));
        return Ok(());
    }
    ensure(&all)
}

/// Packages from `pkgs` that dpkg does not report as installed.
pub fn missing(pkgs: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for p in pkgs {
        let st = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", p])
            .output()
            .context("running dpkg-query (is this a Debian system?)")?;
        let status = String::from_utf8_lossy(&st.stdout);
        if !st.status.success() || !status.contains("install ok installed") {
            out.push((*p).to_string());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Install whatever of `pkgs` is missing (apt-get update first). Idempotent.
pub fn ensure(pkgs: &[&str]) -> Result<()> {
    let missing = missing(pkgs)?;
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("[setup] installing: {}", missing.join(" "));
    apt(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(missing.iter().map(String::as_str));
    apt(&install)
}

fn apt(args: &[&str]) -> Result<()> {
    // Root runs apt-get directly; anyone else goes through sudo.
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    let status = cmd
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(args)
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
