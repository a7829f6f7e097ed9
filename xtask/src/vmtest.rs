//! `cargo xtask vmtest`: boot kernels under QEMU and run the in-guest suite
//! from `vmtest.toml` (the kit's main job), a one-liner
//! (`--kernel K -- CMD`), or the BPF load matrix (`--matrix`).
//!
//! For `cargo xtask test`: [`run_lane`] runs one target of `vmtest.toml`
//! (`debian-6.12`, `debian-6.1`, `patched`) and returns its counts.

mod build;
mod host_prepare;
mod lanes;
mod matrix;
mod newer;
pub mod output;

/// The compiled BPF objects every verb checks (`target/bpf/*.bpf.o`).
pub use matrix::objects as bpf_objects;

use anyhow::{bail, Result};
use crib_vmtest::{Accel, BootReport};
use std::path::PathBuf;

pub use build::ensure_vng;
pub use lanes::{
    boot_one, detector, job_for, load_config, pick_accel, resolve_kernel, LaneSummary,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Runner {
    /// Our own runner: QEMU + generated initramfs + virtio-serial results.
    Qemu,
    /// virtme-ng (`vng --run`), installed from PyPI by this command.
    Vng,
}

#[derive(clap::Args)]
pub struct Args {
    /// Kernel to boot: patched | patched-7.3 | debian-6.12 | debian-6.1 | PATH to a bzImage.
    /// Without a command after `--`, runs the suite on it.
    #[arg(long, conflicts_with_all = ["targets", "matrix"])]
    pub kernel: Option<String>,
    /// Targets of vmtest.toml to run (repeatable; default: [defaults] targets;
    /// with --matrix: host, the stock kernels of xtask/src/vmtest/matrix.rs,
    /// patched and patched-7.3).
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// On the host kernel and in boots of Debian's 6.1 to 7.3 kernels,
    /// patched and patched-7.3, load every program of every BPF object and compare each
    /// verdict with `crib compat`'s prediction.
    #[arg(long)]
    pub matrix: bool,
    /// Which runner boots the kernel.
    #[arg(long, value_enum, default_value = "qemu")]
    pub runner: Runner,
    /// auto (KVM only if a probe boot works, else TCG), kvm or tcg.
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// Targets/tests file.
    #[arg(long, default_value = "vmtest.toml")]
    pub config: PathBuf,
    /// Per-command timeout in seconds for the one-liner.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Skip building the workspace before booting.
    #[arg(long)]
    pub no_build: bool,
    /// TCG threading (single | multi), instead of vmtest.toml's (default
    /// single: reliable boots, see docs/architecture.md).
    #[arg(long)]
    pub tcg_thread: Option<String>,
    /// Command to run in the guest (one-liner mode).
    #[arg(last = true)]
    pub command: Vec<String>,
}

impl Args {
    pub fn forced_accel(&self) -> Result<Option<Accel>> {
        match self.accel.as_str() {
            "auto" => Ok(None),
            other => other.parse().map(Some).map_err(anyhow::Error::msg),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.matrix {
        return matrix::run(&args);
    }
    let (reports, _) = lanes::run(&args)?;
    finish(&reports, &args)
}

/// Fail (non-zero exit) if anything in `reports` failed; in one-liner mode
/// print the command's output on stdout first.
fn finish(reports: &[BootReport], args: &Args) -> Result<()> {
    if !args.command.is_empty() {
        for c in reports.iter().flat_map(|r| &r.commands) {
            print!("{}", c.output);
        }
    }
    let failed: usize = reports
        .iter()
        .map(|r| {
            r.commands.iter().filter(|c| c.status.is_failure()).count()
                + usize::from(r.boot_problem().is_some())
        })
        .sum();
    if failed > 0 {
        bail!("{failed} failure(s) in the VM run (details above and in the run directory)");
    }
    Ok(())
}

/// Run one lane (a target of vmtest.toml) for `cargo xtask test`: builds
/// what the suite needs, boots once, runs the suite, writes results.json and
/// junit.xml under target/vmtest/<run>/, and returns the counts. A boot
/// failure counts as one failed test. `Err` only for setup problems
/// (unknown lane, kernel that cannot be fetched or built, QEMU missing).
pub fn run_lane(lane: &str) -> Result<LaneSummary> {
    lanes::run_lane(lane)
}

/// The verifier statistics of every program on the matrix's kernels
/// (`cargo xtask veristat`).
pub fn matrix_stats(
    kernels: &[String],
) -> Result<
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, crate::veristat::Stat>>,
> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: Args,
    }
    use clap::Parser;
    let mut words = vec!["vmtest".to_string(), "--matrix".to_string()];
    for k in kernels {
        words.push("--target".into());
        words.push(k.clone());
    }
    let a = Wrap::try_parse_from(words)?.args;
    Ok(matrix::collect(&a)?.stats)
}

/// Build everything the suite of vmtest.toml names (packages, test and
/// other binaries), so that lanes started side by side find it built.
pub fn build_suite() -> Result<()> {
    let clock = output::Clock::start();
    let cfg = lanes::load_config(std::path::Path::new("vmtest.toml"))?;
    let texts: Vec<&str> = cfg
        .tests
        .iter()
        .flat_map(|t| std::iter::once(t.command.as_str()).chain(t.host_prepare.as_deref()))
        .collect();
    let mut tests: Vec<(String, String)> = texts
        .iter()
        .flat_map(|t| crib_vmtest::config::test_bin_refs(t))
        .collect();
    tests.sort();
    tests.dedup();
    let mut bins: Vec<(String, String)> = texts
        .iter()
        .flat_map(|t| crib_vmtest::config::bin_refs(t))
        .collect();
    bins.sort();
    bins.dedup();
    build::build_packages(build::SUITE_PACKAGES, &clock)?;
    build::test_bins(&tests, &clock)?;
    build::bins(&bins, &clock)?;
    Ok(())
}
