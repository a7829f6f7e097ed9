//! `cargo xtask bench [compat|vm|dump]`: benchmarks that compare against the
//! alternative in the same run. With no scenario, all of them run.

mod compat;
mod dump;
mod plugin;
mod soak;
mod vm;

use anyhow::Result;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub scenario: Option<Scenario>,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// `crib compat` on the BTF corpus vs `bpftool btf dump` of one kernel.
    Compat(compat::Args),
    /// Boot-to-first-result of our VM runner vs virtme-ng.
    Vm(vm::Args),
    /// Dump engines (crib, upstream, procfs, criu) on prepared processes.
    Dump(dump::Args),
    /// What the crib CRIU plugin adds to criu dump/restore of UDP sockets.
    Plugin(plugin::Args),
}

pub fn run(args: Args) -> Result<()> {
    match args.scenario {
        Some(Scenario::Compat(a)) => compat::run(a),
        Some(Scenario::Vm(a)) => vm::run(a),
        Some(Scenario::Dump(a)) => dump::run(a),
        Some(Scenario::Plugin(a)) => plugin::run(a),
        None => {
            compat::run(compat::Args::default())?;
            dump::run(dump::Args::default())?;
            vm::run(vm::Args::default())
        }
    }
}
