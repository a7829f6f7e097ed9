//! Developer automation for crib-kit: `cargo xtask <verb>`.
//!
//! Each verb lives in its own module with its own clap `Args`; this file only
//! dispatches.

mod apt;
mod bench;
mod btf_corpus;
mod ci_figure;
mod criu;
mod deps;
mod deptree;
mod docgen;
mod fresh;
mod gen;
mod kernel;
mod lock;
mod patches;
mod test;
mod veristat;
mod vmtest;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "crib-kit developer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the system packages the kit needs (idempotent, apt).
    Setup(deps::Args),
    /// Regenerate files derived from kfunc-specs/ (or check they are fresh).
    Gen(gen::Args),
    /// Run every test lane (host tests, stock-kernel VM, patched-kernel VM).
    Test(test::Args),
    /// Boot a kernel in QEMU and run the in-guest suite (the main job).
    Vmtest(vmtest::Args),
    /// Run the README's commands in a new minimal Debian 12 root (the
    /// `fresh` lane): proves a new machine needs nothing but the toolchain.
    Fresh(fresh::Args),
    /// CRIU 4.2 from Debian's source with the kit's patches (cached).
    Criu(criu::Args),
    /// Build the patched CRIB kernel (cached).
    Kernel(kernel::Args),
    /// Check the kernel patch series (apply, checkpatch, spec drift).
    Patches(patches::Args),
    /// Rebuild a kernel BTF corpus from Debian linux-image packages.
    BtfCorpus(btf_corpus::Args),
    /// Verifier statistics of every program on the matrix's kernels vs
    /// the committed baseline (tests/verifier/baseline.json).
    Veristat(veristat::Args),
    /// Benchmarks that compare against the alternative in the same run.
    Bench(bench::Args),
}

fn main() -> std::process::ExitCode {
    // Print errors as one readable chain, never a backtrace dump.
    match dispatch(Cli::parse().cmd) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Setup(a) => deps::run(a),
        Cmd::Gen(a) => gen::run(a),
        Cmd::Test(a) => test::run(a),
        Cmd::Vmtest(a) => vmtest::run(a),
        Cmd::Fresh(a) => fresh::run(a),
        Cmd::Criu(a) => criu::run(a),
        Cmd::Kernel(a) => kernel::run(a),
        Cmd::Patches(a) => patches::run(a),
        Cmd::BtfCorpus(a) => btf_corpus::run(a),
        Cmd::Veristat(a) => veristat::run(a),
        Cmd::Bench(a) => bench::run(a),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}
