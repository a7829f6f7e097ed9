//! `crib load OBJ...`: load every program of each BPF object into the
//! running kernel, each alone, and report the verifier's verdict per
//! program: its reason for a rejection, its statistics for an acceptance.
//! The real-load half of `crib compat` (which predicts from BTF), used by
//! the VM matrix and `cargo xtask veristat`.

use anyhow::{Context, Result};
use crib_harness::engine::progload::{check_file, ObjectVerdict};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// BPF object files (`target/bpf/*.bpf.o`).
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// Print JSON (`{"kernel": ..., "objects": [...]}`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Exit status: 0 every autoloaded program loaded, 1 the kernel refused
/// one, 2 an object could not be read.
pub fn run(a: Args) -> Result<ExitCode> {
    let mut verdicts: Vec<ObjectVerdict> = Vec::new();
    for o in &a.objects {
        verdicts.push(check_file(o).with_context(|| format!("{}", o.display()))?);
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if a.json {
        let v = serde_json::json!({ "kernel": kernel, "objects": verdicts });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("kernel {kernel}");
        for v in &verdicts {
            println!("{}", v.path);
            for p in &v.programs {
                let what = match (&p.reason, &p.stats) {
                    (Some(r), _) => format!("REFUSED  {r}"),
                    (None, Some(s)) => format!(
                        "loaded   {} insns, {} states (peak {}){}",
                        s.insns,
                        s.total_states,
                        s.peak_states,
                        s.verification_usec
                            .map(|u| format!(", {u} us"))
                            .unwrap_or_default()
                    ),
                    (None, None) => "loaded".into(),
                };
                let opt = if p.autoload { "" } else { " (not autoloaded)" };
                println!(
                    "  {:<24} {:<16} as {:<8} {what}{opt}",
                    p.name, p.section, p.prog_type
                );
            }
        }
    }
    Ok(if verdicts.iter().all(ObjectVerdict::all_loaded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
