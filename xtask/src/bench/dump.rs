//! `cargo xtask bench dump`: the dump engines (crib, upstream, procfs, and
//! `criu dump` where it runs) on prepared processes of N fds and N mappings.
//!
//! Measuring happens in `crib-bench` (crates/crib-bench), built here in
//! release mode and run once per lane: on the host kernel, and inside the
//! patched kernel under QEMU (the VM lane). This module turns the lanes into
//! `target/bench/report.json`, a table on stdout, log-log SVGs per scenario
//! under `target/bench/`, and the generated part of `docs/performance.md`.

mod fmt;
mod machine;
mod markdown;
mod plot;
mod report;
pub mod schema;
mod stats;
mod table;
#[cfg(test)]
mod tests;
pub mod vm_lane;

use anyhow::{bail, Context, Result};
use report::{lane_report, Report};
use schema::LaneRun;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// CI-sized run: N in {100, 1000}, fewer repetitions; docs left alone
    /// unless --docs.
    #[arg(long)]
    pub quick: bool,
    /// Warm dumps per engine and size (default 15, quick 5).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Skip the VM lane (patched kernel under QEMU).
    #[arg(long)]
    pub no_vm: bool,
    /// Kernel of the VM lane: patched (built by cargo xtask kernel, cached),
    /// a bzImage path of a patched build, or a stock debian-6.12 / debian-6.1.
    #[arg(long, default_value = "patched")]
    pub vm_kernel: String,
    /// Skip the host lane.
    #[arg(long)]
    pub no_host: bool,
    /// Profile every engine with perf at the largest N (both lanes).
    #[arg(long)]
    pub profile: bool,
    /// Do not count syscalls (no strace runs).
    #[arg(long)]
    pub no_strace: bool,
    /// Rewrite docs/performance.md even for --quick.
    #[arg(long)]
    pub docs: bool,
    /// Never rewrite docs/performance.md.
    #[arg(long, conflicts_with = "docs")]
    pub no_docs: bool,
    /// Re-render tables, plots and docs from an existing report.json
    /// instead of measuring.
    #[arg(long, value_name = "REPORT_JSON")]
    pub from_json: Option<PathBuf>,
}

/// What plain `cargo xtask bench` runs: the full dump benchmark, both lanes.
impl Default for Args {
    fn default() -> Self {
        Args {
            quick: false,
            reps: None,
            no_vm: false,
            vm_kernel: "patched".into(),
            no_host: false,
            profile: false,
            no_strace: false,
            docs: false,
            no_docs: false,
            from_json: None,
        }
    }
}

struct Plan {
    sizes: &'static str,
    reps: usize,
    loads: usize,
    criu_reps: usize,
}

impl Plan {
    fn host(a: &Args) -> Plan {
        let (sizes, reps, loads, criu_reps) = if a.quick {
            ("100,1000", 5, 2, 1)
        } else {
            ("100,1000,10000", 15, 5, 3)
        };
        Plan {
            sizes,
            reps: a.reps.unwrap_or(reps),
            loads,
            criu_reps,
        }
    }
    /// Emulation is 10-50x slower: fewer repetitions.
    fn vm(a: &Args) -> Plan {
        let h = Plan::host(a);
        Plan {
            reps: a.reps.unwrap_or(if a.quick { 3 } else { 5 }),
            loads: 2,
            criu_reps: 1,
            ..h
        }
    }
    fn suite_args(&self, no_strace: bool) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--sizes".into(),
            self.sizes.into(),
            "--reps".into(),
            self.reps.to_string(),
            "--loads".into(),
            self.loads.to_string(),
            "--criu-reps".into(),
            self.criu_reps.to_string(),
        ];
        if no_strace {
            v.push("--no-strace".into());
        }
        v
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                crate::workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

pub fn build_bench() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("[bench] building crib-bench (release)");
    let st = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args([
            "build",
            "--release",
            "-p",
            "crib-bench",
            "-p",
            "crib-cli",
            "--bins",
        ])
        .status()
        .context("running cargo build")?;
    if !st.success() {
        bail!("cargo build --release -p crib-bench -p crib-cli failed ({st})");
    }
    let bin = target_dir().join("release/crib-bench");
    if !bin.is_file() {
        bail!("{}: not found after the build", bin.display());
    }
    Ok(bin)
}

fn host_lane(bin: &Path, plan: &Plan, a: &Args, out: &Path) -> Result<LaneRun> {
    let json = out.join("host-lane.json");
    let st = Command::new(bin)
        .arg("suite")
        .args(["--lane", "host", "--scratch"])
        .arg(out.join("scratch"))
        .args(plan.suite_args(a.no_strace))
        .args(a.profile.then_some("--profile"))
        .arg("--out")
        .arg(&json)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !st.success() {
        bail!("host lane: crib-bench suite failed ({st})");
    }
    let text =
        std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a lane result", json.display()))
}

fn measure(a: &Args, out: &Path) -> Result<Report> {
    crate::deps::ensure(crate::deps::BENCH)?;
    // The criu column is the kit's CRIU 4.2 (built and cached), in both lanes.
    let criu = crate::criu::build::ensure_built(None)?;
    std::env::set_var(crate::criu::CRIU_ENV, &criu.criu);
    if a.profile {
        crate::deps::ensure(crate::deps::PROFILE)?;
    }
    let bin = build_bench()?;
    let mut lanes = Vec::new();
    let mut skipped = Vec::new();
    if a.no_host {
        skipped.push("host: not requested (--no-host)".to_string());
    } else {
        lanes.push(lane_report(host_lane(&bin, &Plan::host(a), a, out)?));
    }
    if a.no_vm {
        skipped.push("vm: not requested (--no-vm)".to_string());
    } else {
        let plan = Plan::vm(a);
        let lane = vm_lane::lane_name(&a.vm_kernel);
        let mut suite_args = plan.suite_args(a.no_strace);
        if a.profile {
            // perf's cpu-clock works under TCG: the crib engine's profile
            // exists only here (the host kernel has no CRIB kfuncs)
            suite_args.push("--profile".into());
        }
        match vm_lane::run(&a.vm_kernel, &bin, &suite_args, &out.join(&lane)) {
            Ok(l) => lanes.push(lane_report(l)),
            Err(e) => {
                eprintln!("[bench] {lane} lane failed: {e:#}");
                skipped.push(format!("{lane}: {e:#}"));
            }
        }
    }
    let mut command = String::from("cargo xtask bench dump");
    for (on, flag) in [
        (a.profile, " --profile"),
        (a.quick, " --quick"),
        (a.no_vm, " --no-vm"),
        (a.no_host, " --no-host"),
        (a.no_strace, " --no-strace"),
    ] {
        if on {
            command.push_str(flag);
        }
    }
    if !a.no_vm && a.vm_kernel != "patched" {
        command.push_str(&format!(" --vm-kernel {}", a.vm_kernel));
    }
    if let Some(r) = a.reps {
        command.push_str(&format!(" --reps {r}"));
    }
    Ok(Report {
        generated: machine::utc_now(),
        machine: machine::detect(),
        quick: a.quick,
        command,
        lanes,
        skipped,
    })
}

/// SVGs for every lane and scenario; returns the written paths per lane.
fn plots(r: &Report, out: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut all = Vec::new();
    for lane in &r.lanes {
        let mut files = Vec::new();
        for sc in plot::SCENARIOS {
            let name = plot::file_name(&lane.raw.lane, sc);
            if plot::draw(lane, sc, &out.join(&name))?.is_some() {
                files.push(format!("`target/bench/{name}`"));
            }
        }
        all.push((lane.raw.lane.clone(), files));
    }
    Ok(all)
}

pub fn run(a: Args) -> Result<()> {
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let report = match &a.from_json {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let mut r = serde_json::from_str::<Report>(&text)
                .with_context(|| format!("{}: not a bench report", p.display()))?;
            // Derive again from the raw samples (the derivation may have changed).
            r.lanes = r.lanes.into_iter().map(|l| lane_report(l.raw)).collect();
            r
        }
        None => measure(&a, &out)?,
    };
    let json_path = out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    print!("{}", table::render(&report));
    let plots = plots(&report, &out)?;
    let lookup = |lane: &str| {
        plots
            .iter()
            .find(|(l, _)| l == lane)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };
    println!("\nreport: {}", json_path.display());
    for (_, files) in &plots {
        for f in files {
            println!("plot: {}", f.trim_matches('`'));
        }
    }
    let write_docs = !a.no_docs && (a.docs || !report.quick);
    if write_docs {
        let doc_path = crate::workspace_root().join("docs/performance.md");
        let doc = std::fs::read_to_string(&doc_path)
            .with_context(|| format!("reading {}", doc_path.display()))?;
        let new = markdown::splice(
            &doc,
            &markdown::render(&report, &lookup),
            "docs/performance.md",
        )?;
        std::fs::write(&doc_path, new)
            .with_context(|| format!("writing {}", doc_path.display()))?;
        println!("docs: {} regenerated", doc_path.display());
    }
    Ok(())
}
