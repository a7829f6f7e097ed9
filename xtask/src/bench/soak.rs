//! `cargo xtask bench vm --soak N`: boot each kernel N times with the same
//! job (`true`) and count the boots that failed: the flake rate of a QEMU
//! setting. Used to pick the TCG settings that make boots reliable (the
//! measurements are in docs/architecture.md, "Boot reliability").

use crate::vmtest::{output::Clock, pick_accel, resolve_kernel};
use anyhow::{bail, Result};
use crib_vmtest::runner::{self, RunOptions};
use crib_vmtest::splat::Detector;
use crib_vmtest::{BootReport, GuestCommand, Job, Machine, TcgThread};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What one soak asks for.
pub struct Soak {
    pub boots: usize,
    pub kernels: Vec<String>,
    pub cpus: u32,
    pub tcg_thread: TcgThread,
    pub accel: Option<crib_vmtest::Accel>,
    /// The guest command of every boot.
    pub command: String,
}

#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
struct KernelSoak {
    kernel: String,
    boots: usize,
    failures: usize,
    secs_per_boot_median: f64,
    secs_per_boot_max: f64,
    /// First lines of each failure: why, and the console's last lines.
    failure_excerpts: Vec<String>,
}

/// Why a boot failed, shortest first: the kernel's own verdict line
/// (Oops, BUG, panic) and where it was, else the runner's reason.
fn why(r: &BootReport) -> String {
    let tail = r.console_tail.as_deref().unwrap_or("");
    let first = |pat: &str| {
        tail.lines()
            .find(|l| l.contains(pat))
            .map(|l| crib_vmtest::splat::strip_timestamp(l).trim().to_string())
    };
    let verdict = first("Oops")
        .or_else(|| first("BUG:"))
        .or_else(|| first("general protection"))
        .or_else(|| first("Kernel panic"));
    let at = first("RIP: 0010:");
    match (verdict, at) {
        (Some(v), Some(a)) => format!("{v} at {}", a.trim_start_matches("RIP: 0010:")),
        (Some(v), None) => v,
        _ => r
            .boot_problem()
            .or_else(|| {
                r.commands
                    .iter()
                    .find(|c| c.status.is_failure())
                    .map(|c| format!("{}: {}", c.name, c.status.label()))
            })
            .unwrap_or_else(|| "failed".into()),
    }
}

pub fn run(s: Soak) -> Result<()> {
    if s.boots == 0 {
        bail!("--soak needs at least 1 boot");
    }
    let clock = Clock::start();
    crate::deps::ensure(crate::deps::VM)?;
    let dir = crate::vmtest::output::new_run_dir("soak")?;
    let det = Arc::new(Detector::new());
    let job = Job {
        cwd: crate::workspace_root(),
        env: vec![],
        tmpfs: vec!["/tmp".into()],
        share: None,
        commands: vec![GuestCommand {
            name: "first".into(),
            command: s.command.clone(),
            timeout: Duration::from_secs(300),
        }],
    };
    let mut rows = Vec::new();
    let mut accel = None;
    for name in &s.kernels {
        let kernel = resolve_kernel(name, &clock)?;
        let a = match accel {
            Some(a) => a,
            None => {
                let (a, _) = pick_accel(s.accel, &kernel, &dir, &clock)?;
                accel = Some(a);
                a
            }
        };
        let machine = Machine {
            accel: a,
            cpus: s.cpus,
            tcg_thread: s.tcg_thread,
            ..Machine::default()
        };
        let mut secs = Vec::new();
        let mut excerpts = Vec::new();
        for i in 0..s.boots {
            let opts = RunOptions {
                machine: machine.clone(),
                boot_timeout: Duration::from_secs(120),
                out_dir: dir.join(format!("{name}-{i}")),
                detector: Arc::clone(&det),
                progress: false,
                silent_console_timeout: None,
            };
            let r = runner::boot(&kernel, &job, &opts)?;
            secs.push(r.total_seconds);
            if r.failed() {
                let w = why(&r);
                eprintln!("[soak] {name} boot {i}: FAILED: {w}");
                excerpts.push(format!("boot {i}: {w}"));
            } else if i % 5 == 4 {
                eprintln!("[soak] {name}: {} boots, {} failed", i + 1, excerpts.len());
            }
        }
        secs.sort_by(f64::total_cmp);
        rows.push(KernelSoak {
            kernel: name.clone(),
            boots: s.boots,
            failures: excerpts.len(),
            secs_per_boot_median: secs[secs.len() / 2],
            secs_per_boot_max: secs.last().copied().unwrap_or(0.0),
            failure_excerpts: excerpts,
        });
    }
    let setting = format!(
        "accel {}, -smp {}, tcg thread={}, command `{}`",
        accel.map(|a| a.name()).unwrap_or("?"),
        s.cpus,
        s.tcg_thread.name(),
        s.command
    );
    println!("\nboot soak: {setting}");
    println!(
        "{:<14} {:>6} {:>9} {:>10} {:>13}",
        "kernel", "boots", "failures", "s/boot", "s/boot (max)"
    );
    for r in &rows {
        println!(
            "{:<14} {:>6} {:>9} {:>10.2} {:>13.2}",
            r.kernel, r.boots, r.failures, r.secs_per_boot_median, r.secs_per_boot_max
        );
        for e in &r.failure_excerpts {
            println!("    {e}");
        }
    }
    let json = serde_json::json!({
        "setting": setting,
        "tcg_thread": s.tcg_thread.name(),
        "cpus": s.cpus,
        "command": s.command,
        "kernels": rows,
    });
    std::fs::write(dir.join("soak.json"), serde_json::to_string_pretty(&json)?)?;
    println!("soak report: {}", dir.join("soak.json").display());
    record(&s, &rows)?;
    let failed: usize = rows.iter().map(|r| r.failures).sum();
    clock.say(&format!("soak done: {failed} failed boot(s)"));
    if failed > 0 {
        bail!(
            "{failed} of {} boots failed ({setting})",
            rows.len() * s.boots
        );
    }
    Ok(())
}

/// One soak's figures, as kept in `docs/boot-soak.json`.
#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
struct SoakRecord {
    date: String,
    tcg_thread: String,
    cpus: u32,
    command: String,
    #[serde(flatten)]
    kernel: KernelSoak,
}

const RECORDS: &str = "docs/boot-soak.json";
const BEGIN: &str =
    "<!-- BEGIN generated by `cargo xtask bench vm --soak`: do not edit by hand -->";
const END: &str = "<!-- END generated by `cargo xtask bench vm --soak` -->";

/// Keep this soak's rows in docs/boot-soak.json (replacing earlier rows of
/// the same setting and kernel) and regenerate the table in
/// docs/architecture.md.
fn record(s: &Soak, rows: &[KernelSoak]) -> Result<()> {
    let path = crate::workspace_root().join(RECORDS);
    let mut all: Vec<SoakRecord> = std::fs::read_to_string(&path)
        .ok()
        .map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{RECORDS}: {e}"))?
        .unwrap_or_default();
    let date = crate::vmtest::output::timestamp()[..8].to_string();
    for r in rows {
        all.retain(|x| {
            !(x.tcg_thread == s.tcg_thread.name()
                && x.cpus == s.cpus
                && x.command == s.command
                && x.kernel.kernel == r.kernel)
        });
        all.push(SoakRecord {
            date: date.clone(),
            tcg_thread: s.tcg_thread.name().into(),
            cpus: s.cpus,
            command: s.command.clone(),
            kernel: r.clone(),
        });
    }
    all.sort_by(|a, b| {
        (&a.command, &a.kernel.kernel, &a.tcg_thread).cmp(&(
            &b.command,
            &b.kernel.kernel,
            &b.tcg_thread,
        ))
    });
    std::fs::write(&path, serde_json::to_string_pretty(&all)? + "\n")?;
    crate::docgen::write_section("docs/architecture.md", BEGIN, END, &render(&all))
}

fn render(all: &[SoakRecord]) -> String {
    let mut t = String::from(
        "| guest runs | kernel | TCG threads | vCPUs | boots | failures | s/boot (median) | s/boot (max) | first failure | date |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in all {
        let what = if r.command == "true" {
            "boot only (`true`)".to_string()
        } else {
            format!("`{}`", r.command)
        };
        let first = r
            .kernel
            .failure_excerpts
            .first()
            .map(|e| e.replace('|', "\\|").chars().take(120).collect::<String>())
            .unwrap_or_default();
        t.push_str(&format!(
            "| {what} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {first} | {} |\n",
            r.kernel.kernel,
            r.tcg_thread,
            r.cpus,
            r.kernel.boots,
            r.kernel.failures,
            r.kernel.secs_per_boot_median,
            r.kernel.secs_per_boot_max,
            r.date
        ));
    }
    t
}
