//! `cargo xtask vmtest --matrix`: boot debian-6.1, debian-6.12 and the
//! patched kernel; in each, load every compiled BPF object (`target/bpf/`,
//! built by crib-harness) with `crib-vmtest-load`; compare with
//! `crib compat`'s static prediction for the same kernel and object
//! (`objects[].loads` of its JSON). Any disagreement, or a kernel that
//! could not be booted, fails the run.

use super::lanes::{boot_one, job_for, pick_accel, resolve_kernel};
use super::output::{self, Clock};
use super::{build, Args};
use anyhow::{bail, Context, Result};
use crib_vmtest::config::{self, Config};
use crib_vmtest::splat::Detector;
use crib_vmtest::{GuestCommand, Kernel, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The kernels of the matrix (targets of vmtest.toml, or built-in defaults).
pub const MATRIX_KERNELS: &[&str] = &["debian-6.1", "debian-6.12", "patched"];

#[derive(Serialize, Clone)]
struct Cell {
    object: String,
    kernel: String,
    /// `crib compat` says the object is compatible with the kernel.
    predicted: Option<bool>,
    prediction_note: String,
    /// The object loaded (verifier passed) in the booted kernel.
    loaded: Option<bool>,
    load_note: String,
}

impl Cell {
    fn agrees(&self) -> bool {
        matches!((self.predicted, self.loaded), (Some(p), Some(l)) if p == l)
    }
}

/// Compiled BPF objects: `target/bpf/*.bpf.o` (and any under `bpf/`).
pub fn objects(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in [root.join("target/bpf"), root.join("bpf")] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.to_string_lossy().ends_with(".bpf.o") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("no BPF objects in target/bpf/ or bpf/ (cargo build -p crib-harness builds them)");
    }
    Ok(out)
}

fn short(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".bpf.o").to_string())
        .unwrap_or_default()
}

/// `crib compat --kernel k=IMAGE --object O --format json`: the object's
/// `loads[0]` (the checker's per-kernel load prediction, docs/compat-json.md);
/// None (with the reason) when the checker could not answer.
fn predict(crib: &Path, kernel: &Kernel, obj: &Path, save: &Path) -> (Option<bool>, String) {
    let out = Command::new(crib)
        .current_dir(crate::workspace_root())
        .arg("compat")
        .arg("--kernel")
        .arg(format!("k={}", kernel.image.display()))
        .arg("--object")
        .arg(obj)
        .args(["--format", "json"])
        .output();
    let o = match out {
        Err(e) => return (None, format!("running {}: {e}", crib.display())),
        Ok(o) => o,
    };
    let _ = std::fs::write(save, &o.stdout);
    if !matches!(o.status.code(), Some(0) | Some(1)) {
        return (
            None,
            format!(
                "crib compat failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        );
    }
    let v: serde_json::Value = match serde_json::from_slice(&o.stdout) {
        Ok(v) => v,
        Err(e) => return (None, format!("crib compat json: {e}")),
    };
    match v["objects"][0]["loads"][0].as_bool() {
        Some(true) => (Some(true), "predicted to load".into()),
        Some(false) => {
            // Name the first entry that fails, for the report.
            let why = v["objects"][0]["entries"]
                .as_array()
                .and_then(|es| {
                    es.iter().find(|e| {
                        let st = e["results"][0]["status"].as_str().unwrap_or("");
                        !matches!(st, "ok" | "not_found")
                    })
                })
                .map(|e| {
                    format!(
                        "{} {}: {}",
                        e["kind"].as_str().unwrap_or(""),
                        e["name"].as_str().unwrap_or(""),
                        e["results"][0]["status"].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            (Some(false), format!("predicted not to load ({why})"))
        }
        None => (None, "crib compat json has no objects[0].loads[0]".into()),
    }
}

pub fn run(args: &Args) -> Result<()> {
    let clock = Clock::start();
    let root = crate::workspace_root();
    build::ensure_tools(args.runner, true)?;
    if !args.no_build {
        build::build_packages(&["crib-harness", "crib-cli", "crib-vmtest"], &clock)?;
    }
    let objs = objects(&root)?;
    let crib = root.join("target/debug/crib");
    let loader = root.join("target/debug/crib-vmtest-load");
    for p in [&crib, &loader] {
        if !p.is_file() {
            bail!("{} is missing (build without --no-build)", p.display());
        }
    }
    let cfg_path = if args.config.is_absolute() {
        args.config.clone()
    } else {
        root.join(&args.config)
    };
    let cfg = Config::load(&cfg_path)?;
    let run_dir = output::new_run_dir("matrix")?;
    let det = Arc::new(Detector::new());
    let mut cells: Vec<Cell> = Vec::new();
    let mut reports = Vec::new();
    let mut accel: Option<(crib_vmtest::Accel, String)> = None;
    let names: Vec<String> = if args.targets.is_empty() {
        MATRIX_KERNELS.iter().map(|s| s.to_string()).collect()
    } else {
        args.targets.clone()
    };
    clock.say(&format!(
        "matrix: {} object(s) x {} kernel(s), run directory {}",
        objs.len(),
        names.len(),
        run_dir.display()
    ));
    for name in &names {
        let target = cfg.target(name).cloned().unwrap_or(config::Target {
            name: name.to_string(),
            kernel: name.to_string(),
            memory: None,
            cpus: None,
            boot_timeout: None,
            cmdline: None,
            command: None,
            timeout: None,
        });
        let kernel = match resolve_kernel(&target.kernel, &clock) {
            Ok(k) => k,
            Err(e) => {
                clock.say(&format!("{name}: cannot get the kernel: {e:#}"));
                for o in &objs {
                    cells.push(Cell {
                        object: short(o),
                        kernel: name.to_string(),
                        predicted: None,
                        prediction_note: String::new(),
                        loaded: None,
                        load_note: format!("kernel unavailable: {e:#}"),
                    });
                }
                continue;
            }
        };
        let (a, why) = match &accel {
            Some(x) => x.clone(),
            None => {
                let x = pick_accel(args.forced_accel()?, &kernel, &run_dir, &clock)?;
                accel = Some(x.clone());
                x
            }
        };
        let _ = why;
        let dir = run_dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut plan = cfg.resolve(&target);
        plan.commands = objs
            .iter()
            .map(|o| GuestCommand {
                name: format!("load/{}", short(o)),
                command: format!("{} {}", loader.display(), o.display()),
                timeout: Duration::from_secs(120),
            })
            .collect();
        clock.say(&format!("{name}: predicting with crib compat"));
        let predictions: Vec<(Option<bool>, String)> = objs
            .iter()
            .map(|o| {
                predict(
                    &crib,
                    &kernel,
                    o,
                    &dir.join(format!("compat-{}.json", short(o))),
                )
            })
            .collect();
        clock.say(&format!("{name}: booting to load {} object(s)", objs.len()));
        let report = boot_one(args.runner, &kernel, &plan, &job_for(&plan), a, &dir, &det)?;
        for (i, o) in objs.iter().enumerate() {
            let c = report.commands.get(i);
            let (loaded, note) = match c.map(|c| c.status) {
                Some(Status::Passed) => (Some(true), first_line(c)),
                Some(Status::Failed) => (Some(false), first_line(c)),
                Some(s) => (
                    None,
                    format!(
                        "{}: {}",
                        s.label(),
                        c.and_then(|c| c.detail.clone()).unwrap_or_default()
                    ),
                ),
                None => (None, "no result".into()),
            };
            cells.push(Cell {
                object: short(o),
                kernel: name.to_string(),
                predicted: predictions[i].0,
                prediction_note: predictions[i].1.clone(),
                loaded,
                load_note: note,
            });
        }
        reports.push(report);
    }
    let (accel_name, accel_why) = accel
        .map(|(a, w)| (a.name().to_string(), w))
        .unwrap_or_default();
    output::write_results(&run_dir, &reports, &accel_name, &accel_why, &clock)?;
    print_matrix(&cells, &objs, &names);
    std::fs::write(
        run_dir.join("matrix.json"),
        serde_json::to_string_pretty(&cells)?,
    )?;
    let bad: Vec<&Cell> = cells.iter().filter(|c| !c.agrees()).collect();
    for c in &bad {
        eprintln!(
            "  {} on {}: predicted {} ({}), load {} ({})",
            c.object,
            c.kernel,
            yes_no(c.predicted),
            c.prediction_note,
            yes_no(c.loaded),
            c.load_note
        );
    }
    if !bad.is_empty() {
        bail!(
            "{} of {} matrix cells disagree or could not be checked (matrix.json in {})",
            bad.len(),
            cells.len(),
            run_dir.display()
        );
    }
    Ok(())
}

/// The loader's verdict line plus, on failure, the verifier's reason (the
/// last log line before libbpf's END marker that is not the stats line).
fn first_line(c: Option<&crib_vmtest::CommandResult>) -> String {
    let Some(c) = c else { return String::new() };
    let lines: Vec<&str> = c.output.lines().collect();
    let verdict = lines
        .iter()
        .find(|l| l.starts_with("LOADED") || l.starts_with("FAILED"))
        .map(|l| l.to_string())
        .unwrap_or_default();
    let reason = lines
        .iter()
        .position(|l| l.contains("-- END PROG LOAD LOG --"))
        .and_then(|end| {
            lines[..end]
                .iter()
                .rev()
                .find(|l| !l.starts_with("processed ") && !l.trim().is_empty())
        });
    match reason {
        Some(r) if verdict.starts_with("FAILED") => format!("{verdict} [verifier: {}]", r.trim()),
        _ => verdict,
    }
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn print_matrix(cells: &[Cell], objs: &[PathBuf], kernels: &[String]) {
    println!("\nBPF load matrix (loaded/predicted; !! = disagreement)");
    let w = objs
        .iter()
        .map(|o| short(o).len())
        .max()
        .unwrap_or(6)
        .max(6);
    print!("{:<w$}", "object");
    for k in kernels {
        print!("  {k:<14}");
    }
    println!();
    for o in objs {
        print!("{:<w$}", short(o));
        for k in kernels {
            let c = cells
                .iter()
                .find(|c| c.object == short(o) && &c.kernel == k);
            let text = match c {
                Some(c) => format!(
                    "{}/{}{}",
                    yes_no(c.loaded),
                    yes_no(c.predicted),
                    if c.agrees() { "" } else { " !!" }
                ),
                None => "-".into(),
            };
            print!("  {text:<14}");
        }
        println!();
    }
}
