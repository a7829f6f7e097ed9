//! `cargo xtask vmtest --matrix`: on the host kernel and in a boot of each
//! of debian-6.1, debian-6.12, trixie-6.12, debian-7.2, debian-7.3,
//! debian-7.3-rt, patched and patched-7.3 (the newer ones through the private apt,
//! `newer.rs`), load every program of
//! every compiled BPF object (`target/bpf/`, built by crib-harness) alone
//! with `crib load`, and compare each verdict with `crib compat`'s static
//! prediction for that program on that kernel (`objects[].programs[]
//! .results` of its JSON). Any disagreement, or a kernel that could not be
//! checked, fails the run and names the object, program, kernel and the
//! verifier's reason.

use super::lanes::{boot_one, job_for, pick_accel, resolve_kernel};
use super::output::{self, Clock};
use super::{build, Args};
use anyhow::{bail, Context, Result};
use crib_vmtest::config::{self, Config};
use crib_vmtest::splat::Detector;
use crib_vmtest::{GuestCommand, Status};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The kernels of the matrix: `host` is the running kernel (no boot), the
/// others are targets of vmtest.toml (or built-in kernel names).
pub const MATRIX_KERNELS: &[&str] = &[
    "host",
    "debian-6.1",
    "debian-6.12",
    "trixie-6.12",
    "debian-7.2",
    "debian-7.3",
    "debian-7.3-rt",
    "patched",
    "patched-7.3",
];

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Cell {
    pub object: String,
    pub program: String,
    pub kernel: String,
    /// `crib compat` predicts the program loads on the kernel.
    pub predicted: Option<bool>,
    pub prediction_note: String,
    /// The program loaded (verifier passed) on the kernel.
    pub loaded: Option<bool>,
    pub load_note: String,
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

/// One program's prediction: (object, program) -> (loads, reasons).
type Predictions = Vec<(String, String, bool, String)>;

/// `crib compat --kernel KERNEL --object O... --format json`, per program.
fn predict(crib: &Path, kernel: &str, objs: &[PathBuf], save: &Path) -> Result<Predictions> {
    let mut c = Command::new(crib);
    c.current_dir(crate::workspace_root())
        .args(["compat", "--kernel", kernel, "--format", "json"]);
    for o in objs {
        c.arg("--object").arg(o);
    }
    let o = c
        .output()
        .with_context(|| format!("running {}", crib.display()))?;
    let _ = std::fs::write(save, &o.stdout);
    if !matches!(o.status.code(), Some(0) | Some(1)) {
        bail!(
            "crib compat --kernel {kernel} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let v: Value = serde_json::from_slice(&o.stdout).context("crib compat json")?;
    parse_predictions(&v)
}

/// The per-program predictions of a `crib compat` JSON report (one kernel).
pub fn parse_predictions(v: &Value) -> Result<Predictions> {
    let mut out = Vec::new();
    for o in v["objects"]
        .as_array()
        .context("crib compat json: no objects")?
    {
        let obj = short(Path::new(o["path"].as_str().unwrap_or_default()));
        for p in o["programs"]
            .as_array()
            .context("crib compat json: no programs")?
        {
            let r = &p["results"][0];
            let loads = r["loads"]
                .as_bool()
                .with_context(|| format!("crib compat json: {obj}: no results[0].loads"))?;
            let why: Vec<&str> = r["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.push((
                obj.clone(),
                p["name"].as_str().unwrap_or_default().to_string(),
                loads,
                why.join("; "),
            ));
        }
    }
    Ok(out)
}

/// `crib load --json` output -> (object, program) -> (loaded, reason).
pub fn parse_loads(text: &str) -> Result<Vec<(String, String, bool, String)>> {
    let start = text.find('{').context("no JSON in the loader's output")?;
    let v: Value = serde_json::from_str(&text[start..]).context("crib load json")?;
    let mut out = Vec::new();
    for o in v["objects"]
        .as_array()
        .context("crib load json: no objects")?
    {
        let obj = short(Path::new(o["path"].as_str().unwrap_or_default()));
        for p in o["programs"]
            .as_array()
            .context("crib load json: no programs")?
        {
            let loaded = p["loaded"].as_bool().context("crib load json: no loaded")?;
            let note = match p["reason"].as_str() {
                Some(r) => format!("verifier: {r}"),
                None => format!("loaded as {}", p["prog_type"].as_str().unwrap_or("?")),
            };
            out.push((
                obj.clone(),
                p["name"].as_str().unwrap_or_default().to_string(),
                loaded,
                note,
            ));
        }
    }
    Ok(out)
}

/// Cells of one kernel from its predictions and loads (either may be an
/// error: then every cell of that side is unknown, with the reason).
fn cells_for(
    kernel: &str,
    objs: &[PathBuf],
    predicted: &Result<Predictions>,
    loaded: &Result<Vec<(String, String, bool, String)>>,
) -> Vec<Cell> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for side in [predicted.as_ref().ok(), loaded.as_ref().ok()]
        .into_iter()
        .flatten()
    {
        for (o, p, _, _) in side {
            if !keys.contains(&(o.clone(), p.clone())) {
                keys.push((o.clone(), p.clone()));
            }
        }
    }
    if keys.is_empty() {
        keys = objs.iter().map(|o| (short(o), "*".to_string())).collect();
    }
    let side = |s: &Result<Vec<(String, String, bool, String)>>, o: &str, p: &str| match s {
        Ok(v) => match v.iter().find(|(a, b, _, _)| a == o && b == p) {
            Some((_, _, yes, note)) => (Some(*yes), note.clone()),
            None => (None, "not reported".into()),
        },
        Err(e) => (None, format!("{e:#}")),
    };
    keys.into_iter()
        .map(|(o, p)| {
            let (predicted, prediction_note) = side(predicted, &o, &p);
            let (loaded, load_note) = side(loaded, &o, &p);
            Cell {
                object: o,
                program: p,
                kernel: kernel.to_string(),
                predicted,
                prediction_note,
                loaded,
                load_note,
            }
        })
        .collect()
}

/// `crib load --json OBJ...` on the host kernel: its output.
fn host_loads(crib: &Path, objs: &[PathBuf]) -> Result<String> {
    let o = Command::new(crib)
        .arg("load")
        .arg("--json")
        .args(objs)
        .output()
        .with_context(|| format!("running {} load", crib.display()))?;
    if !matches!(o.status.code(), Some(0) | Some(1)) {
        bail!(
            "crib load failed on the host: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn host_label() -> String {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("host ({})", rel.trim())
}

/// What one matrix run found.
pub struct Collected {
    pub cells: Vec<Cell>,
    pub run_dir: PathBuf,
    /// Verifier statistics: kernel -> "object/program" -> figures.
    pub stats: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, crate::veristat::Stat>,
    >,
}

/// `cargo xtask vmtest --matrix`: the loads agree with the predictions,
/// and the verifier's statistics with the committed baseline (veristat).
pub fn run(args: &Args) -> Result<()> {
    let c = collect(args)?;
    let rows = crate::veristat::load_baseline()
        .map(|b| crate::veristat::compare(&b, &c.stats, &crate::veristat::gated));
    let veristat_bad = match &rows {
        Ok(rows) => {
            print!("{}", crate::veristat::render(rows));
            std::fs::write(
                c.run_dir.join("veristat.json"),
                serde_json::to_string_pretty(rows)?,
            )?;
            rows.iter().filter(|r| r.failure.is_some()).count()
        }
        Err(e) => {
            eprintln!("veristat: {e:#}");
            1
        }
    };
    let bad: Vec<&Cell> = c.cells.iter().filter(|c| !c.agrees()).collect();
    for x in &bad {
        eprintln!(
            "  {}/{} on {}: predicted {} ({}), loaded {} ({})",
            x.object,
            x.program,
            x.kernel,
            yes_no(x.predicted),
            x.prediction_note,
            yes_no(x.loaded),
            x.load_note
        );
    }
    if !bad.is_empty() || veristat_bad > 0 {
        bail!(
            "{} of {} matrix cells disagree or could not be checked; {veristat_bad} veristat failure(s) (matrix.json, veristat.json in {})",
            bad.len(),
            c.cells.len(),
            c.run_dir.display()
        );
    }
    println!(
        "matrix: {} cells, every program's load agreed with crib compat; veristat within the baseline",
        c.cells.len()
    );
    Ok(())
}

/// Boot (or use the host), load, predict; the cells and the statistics.
pub fn collect(args: &Args) -> Result<Collected> {
    let clock = Clock::start();
    let root = crate::workspace_root();
    let mut stats = std::collections::BTreeMap::new();
    build::ensure_tools(args.runner, true)?;
    if !args.no_build {
        build::build_packages(&["crib-harness", "crib-cli"], &clock)?;
    }
    let objs = objects(&root)?;
    let crib = root.join("target/debug/crib");
    if !crib.is_file() {
        bail!("{} is missing (build without --no-build)", crib.display());
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
    let mut labels = Vec::new();
    for name in &names {
        let dir = run_dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if name == "host" {
            let label = host_label();
            clock.say(&format!(
                "{label}: predicting and loading on the running kernel"
            ));
            let predicted = predict(&crib, "sys", &objs, &dir.join("compat.json"));
            let raw = host_loads(&crib, &objs);
            if let Ok(t) = &raw {
                if let Ok(st) = crate::veristat::parse(t) {
                    stats.insert(label.clone(), st);
                }
            }
            let loaded = raw.and_then(|t| parse_loads(&t));
            cells.extend(cells_for(&label, &objs, &predicted, &loaded));
            labels.push(label);
            continue;
        }
        labels.push(name.clone());
        let target = cfg.target(name).cloned().unwrap_or(config::Target {
            name: name.to_string(),
            kernel: name.to_string(),
            memory: None,
            cpus: None,
            boot_timeout: None,
            cmdline: None,
            tcg_thread: None,
            command: None,
            timeout: None,
        });
        let kernel = match resolve_kernel(&target.kernel, &clock) {
            Ok(k) => k,
            Err(e) => {
                clock.say(&format!("{name}: cannot get the kernel: {e:#}"));
                let none: Result<Predictions> = Err(anyhow::anyhow!("kernel unavailable: {e:#}"));
                let nl: Result<Vec<_>> = Err(anyhow::anyhow!("kernel unavailable: {e:#}"));
                cells.extend(cells_for(name, &objs, &none, &nl));
                continue;
            }
        };
        let (a, _) = match &accel {
            Some(x) => x.clone(),
            None => {
                let x = pick_accel(args.forced_accel()?, &kernel, &run_dir, &clock)?;
                accel = Some(x.clone());
                x
            }
        };
        let mut plan = cfg.resolve(&target);
        plan.commands = objs
            .iter()
            .map(|o| GuestCommand {
                name: format!("load/{}", short(o)),
                // Exit 1 (a program refused) is a verdict, not a failure
                // of the command: only a loader error (2) fails it.
                command: format!(
                    "{} load --json {} || [ $? -eq 1 ]",
                    crib.display(),
                    o.display()
                ),
                timeout: Duration::from_secs(180),
            })
            .collect();
        clock.say(&format!("{name}: predicting with crib compat"));
        let predicted = predict(
            &crib,
            &format!("k={}", kernel.image.display()),
            &objs,
            &dir.join("compat.json"),
        );
        clock.say(&format!("{name}: booting to load {} object(s)", objs.len()));
        let report = boot_one(args.runner, &kernel, &plan, &job_for(&plan), a, &dir, &det)?;
        let mut loads = Vec::new();
        let mut problem = None;
        for (i, o) in objs.iter().enumerate() {
            match report.commands.get(i) {
                Some(c) if matches!(c.status, Status::Passed | Status::Failed) => {
                    if let Ok(st) = crate::veristat::parse(&c.output) {
                        stats
                            .entry(name.clone())
                            .or_insert_with(std::collections::BTreeMap::new)
                            .extend(st);
                    }
                    match parse_loads(&c.output) {
                        Ok(v) => loads.extend(v),
                        Err(e) => problem = Some(format!("{}: {e:#}", short(o))),
                    }
                }
                Some(c) => {
                    problem = Some(format!(
                        "{}: {}: {}",
                        short(o),
                        c.status.label(),
                        c.detail.clone().unwrap_or_default()
                    ))
                }
                None => {
                    problem = Some(format!(
                        "{}: no result ({})",
                        short(o),
                        report
                            .boot_problem()
                            .unwrap_or_else(|| "no command ran".into())
                    ))
                }
            }
        }
        let loaded = match problem {
            Some(p) if loads.is_empty() => Err(anyhow::anyhow!(p)),
            _ => Ok(loads),
        };
        cells.extend(cells_for(name, &objs, &predicted, &loaded));
        reports.push(report);
    }
    let (accel_name, accel_why) = accel
        .map(|(a, w)| (a.name().to_string(), w))
        .unwrap_or_else(|| ("none".into(), "no VM kernel in this matrix".into()));
    if !reports.is_empty() {
        output::write_results(&run_dir, &reports, &accel_name, &accel_why, &clock)?;
    }
    print!("{}", render(&cells, &labels));
    std::fs::write(
        run_dir.join("matrix.json"),
        serde_json::to_string_pretty(&cells)?,
    )?;
    Ok(Collected {
        cells,
        run_dir,
        stats,
    })
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// The matrix as text: a row per program, a column per kernel,
/// `loaded/predicted`, `!!` on a disagreement.
pub fn render(cells: &[Cell], kernels: &[String]) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    for c in cells {
        let k = (c.object.clone(), c.program.clone());
        if !rows.contains(&k) {
            rows.push(k);
        }
    }
    let w = rows
        .iter()
        .map(|(o, p)| o.len() + p.len() + 1)
        .max()
        .unwrap_or(7)
        .max(7);
    let mut s =
        String::from("\nBPF load matrix, per program (loaded/predicted; !! = disagreement)\n");
    s.push_str(&format!("{:<w$}", "program"));
    for k in kernels {
        s.push_str(&format!("  {k:<12}"));
    }
    s.push('\n');
    for (o, p) in &rows {
        s.push_str(&format!("{:<w$}", format!("{o}/{p}")));
        for k in kernels {
            let c = cells
                .iter()
                .find(|c| &c.object == o && &c.program == p && &c.kernel == k);
            let text = match c {
                Some(c) => format!(
                    "{}/{}{}",
                    yes_no(c.loaded),
                    yes_no(c.predicted),
                    if c.agrees() { "" } else { " !!" }
                ),
                None => "-".into(),
            };
            s.push_str(&format!("  {:<w2$}", text, w2 = k.len().max(12)));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_and_loads_pair_up_per_program() {
        let compat = serde_json::json!({"objects": [{"path": "target/bpf/crib_iter.bpf.o", "programs": [
            {"name": "dump_vma", "results": [{"loads": true}]},
            {"name": "dump_unix", "results": [{"loads": false, "reasons": ["iterator target unix: no struct bpf_iter__unix"]}]}
        ]}]});
        let loads = r#"noise {"kernel": "6.18", "objects": [{"path": "/x/crib_iter.bpf.o", "programs": [
            {"name": "dump_vma", "loaded": false, "prog_type": "default", "reason": "R1 type=untrusted_ptr_"},
            {"name": "dump_unix", "loaded": false, "prog_type": "default", "reason": "no target"}
        ]}]}"#;
        let p = parse_predictions(&compat).map_err(|e| e.to_string());
        let l = parse_loads(loads).map_err(|e| e.to_string());
        let cells = cells_for(
            "k",
            &[],
            &p.map_err(anyhow::Error::msg),
            &l.map_err(anyhow::Error::msg),
        );
        assert_eq!(cells.len(), 2);
        let vma = &cells[0];
        assert_eq!(
            (vma.object.as_str(), vma.program.as_str()),
            ("crib_iter", "dump_vma")
        );
        assert!(!vma.agrees());
        assert_eq!(vma.load_note, "verifier: R1 type=untrusted_ptr_");
        assert!(cells[1].agrees());
        let text = render(&cells, &["k".into()]);
        assert!(text.contains("crib_iter/dump_vma   no/yes !!"), "{text}");
    }

    #[test]
    fn a_side_that_failed_makes_every_cell_unknown() {
        let p: Result<Predictions> = Err(anyhow::anyhow!("kernel unavailable"));
        let l: Result<Vec<(String, String, bool, String)>> = Err(anyhow::anyhow!("boot died"));
        let cells = cells_for("k", &[PathBuf::from("a/x.bpf.o")], &p, &l);
        assert_eq!(cells.len(), 1);
        assert!(!cells[0].agrees());
        assert_eq!(cells[0].load_note, "boot died");
    }
}
