//! `crib-bench`: the measuring side of `cargo xtask bench dump`.
//!
//! - `suite`: prepare a target process per size, time every engine the
//!   running kernel opens against it (load, first dump, warm dumps, per
//!   operation), count syscalls of one dump under strace, time `criu dump`
//!   where it runs, and write one lane as JSON ([`schema::LaneRun`]).
//! - `once`: open one engine and dump once between strace markers (the
//!   suite runs this under strace; not meant to be called by hand).
//! - `plugin`: `criu dump`/`criu restore` of N UDP sockets with queued
//!   data, CRIU alone vs with the crib plugin (`cargo xtask bench plugin`).
//!
//! It runs the same way on the host and inside the VM guest, so the VM lane
//! is this binary started by the VM runner.

#[path = "../../../xtask/src/bench/dump/schema.rs"]
mod schema;

mod clock;
mod criu;
mod marks;
mod measure;
mod mmreaders;
mod plugin;
mod profile;
mod service;
mod strace;
mod suite;
mod target;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "crib-bench",
    about = "Dump engine benchmarks (driven by cargo xtask bench dump)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure every available engine on prepared processes; write JSON.
    Suite(suite::Args),
    /// One marked dump of `--pid` with `--engine` (run under strace).
    Once(measure::OnceArgs),
    /// What the crib CRIU plugin adds to criu dump/restore (UDP queues).
    Plugin(plugin::Args),
}

fn main() -> std::process::ExitCode {
    // Every engine dumps many times in this process, as a resident one
    // would: freed heap stays for the next dump (all engines alike).
    crib_harness::sys::keep_freed_heap();
    let r: Result<()> = match Cli::parse().cmd {
        Cmd::Suite(a) => suite::run(a),
        Cmd::Once(a) => measure::once(a),
        Cmd::Plugin(a) => plugin::run(a),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crib-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
