//! `crib`: the user-facing command of crib-kit.
//!
//! Each subcommand lives in its own module with its own clap `Args`.

mod compat;
mod engine_cmds;
mod load;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "crib", version, about = "Checkpoint/Restore In eBPF")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check kernels (BTF) and BPF objects against the kfunc specs.
    Compat(compat::Args),
    /// Load each program of BPF objects into the running kernel and report
    /// the verifier's verdict per program.
    Load(load::Args),
    /// Dump a process's state to image files.
    Dump(engine_cmds::DumpArgs),
    /// Keep the engines loaded and answer dump requests on a unix socket.
    Serve(engine_cmds::ServeArgs),
    /// Print the contents of an image directory.
    Show(engine_cmds::ShowArgs),
    /// Recreate dumped state in a new process and exec a command.
    Restore(engine_cmds::RestoreArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::Compat(a) => compat::run(a),
        Cmd::Load(a) => load::run(a),
        Cmd::Dump(a) => engine_cmds::dump(a),
        Cmd::Serve(a) => engine_cmds::serve(a),
        Cmd::Show(a) => engine_cmds::show(a),
        Cmd::Restore(a) => engine_cmds::restore(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crib: error: {e:#}");
            // 2 = bad input or usage, shared by every subcommand.
            ExitCode::from(2)
        }
    }
}
