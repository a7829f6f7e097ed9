//! `cargo xtask veristat [--update-baseline]`: the verifier's statistics of
//! every program of every object on every kernel of the matrix (processed
//! instructions, states, peak states, verification time, from `crib load
//! --json`), compared with the committed baseline
//! (`tests/verifier/baseline.json`), as BPF CI's veristat job does. A
//! program that stops verifying, or whose processed instructions grow by
//! more than the baseline's threshold, fails; a program the baseline does
//! not know fails too (run with `--update-baseline` and commit the file).
//! The host kernel is compared only when the baseline has its release.
//! The matrix lane runs the comparison.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Write the statistics of this run as the new baseline.
    #[arg(long)]
    pub update_baseline: bool,
    /// Kernels (repeatable; default: the matrix's).
    #[arg(long = "kernel", value_name = "K")]
    pub kernels: Vec<String>,
}

/// One program's figures on one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// `None`: the program did not verify there.
    pub insns: Option<u64>,
    #[serde(default)]
    pub total_states: u64,
    #[serde(default)]
    pub peak_states: u64,
    /// Verification time: reported, never gated (it depends on the machine).
    #[serde(default, skip_serializing)]
    pub usec: Option<u64>,
}

/// `tests/verifier/baseline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Growth of processed instructions that fails, percent.
    pub threshold_pct: f64,
    /// kernel -> "object/program" -> figures.
    pub kernels: BTreeMap<String, BTreeMap<String, Stat>>,
}

pub fn baseline_path() -> PathBuf {
    crate::workspace_root().join("tests/verifier/baseline.json")
}

pub fn load_baseline() -> Result<Baseline> {
    let p = baseline_path();
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a veristat baseline", p.display()))
}

fn short(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".bpf.o").to_string())
        .unwrap_or_default()
}

/// The statistics in one `crib load --json` output.
pub fn parse(text: &str) -> Result<BTreeMap<String, Stat>> {
    let start = text.find('{').context("no JSON in the loader's output")?;
    let v: Value = serde_json::from_str(&text[start..]).context("crib load json")?;
    let mut out = BTreeMap::new();
    for o in v["objects"]
        .as_array()
        .context("crib load json: no objects")?
    {
        let obj = short(o["path"].as_str().unwrap_or_default());
        for p in o["programs"]
            .as_array()
            .context("crib load json: no programs")?
        {
            let name = format!("{obj}/{}", p["name"].as_str().unwrap_or_default());
            let loaded = p["loaded"].as_bool().unwrap_or(false);
            let s = &p["stats"];
            out.insert(
                name,
                Stat {
                    insns: if loaded { s["insns"].as_u64() } else { None },
                    total_states: s["total_states"].as_u64().unwrap_or(0),
                    peak_states: s["peak_states"].as_u64().unwrap_or(0),
                    usec: s["verification_usec"].as_u64(),
                },
            );
        }
    }
    Ok(out)
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kernel: String,
    pub program: String,
    pub base: Option<u64>,
    pub now: Option<u64>,
    pub delta_pct: Option<f64>,
    pub states: (u64, u64),
    pub peak: (u64, u64),
    pub usec: Option<u64>,
    /// Why this row fails, if it does.
    pub failure: Option<String>,
}

/// Compare `now` (kernel -> program -> stat) with `base`. Kernels the
/// baseline does not have are reported with no verdict (`gated` says
/// which kernels must be in it).
pub fn compare(
    base: &Baseline,
    now: &BTreeMap<String, BTreeMap<String, Stat>>,
    gated: &dyn Fn(&str) -> bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (k, progs) in now {
        let b = base.kernels.get(k);
        if b.is_none() && !gated(k) {
            for (p, s) in progs {
                rows.push(Row {
                    kernel: k.clone(),
                    program: p.clone(),
                    base: None,
                    now: s.insns,
                    delta_pct: None,
                    states: (0, s.total_states),
                    peak: (0, s.peak_states),
                    usec: s.usec,
                    failure: None,
                });
            }
            continue;
        }
        for (p, s) in progs {
            let bs = b.and_then(|b| b.get(p));
            let delta = match (bs.and_then(|b| b.insns), s.insns) {
                (Some(b), Some(n)) if b > 0 => Some((n as f64 - b as f64) * 100.0 / b as f64),
                _ => None,
            };
            let failure = match (bs, s.insns) {
                (None, _) => Some(format!(
                    "not in the baseline for {k}: cargo xtask veristat --update-baseline"
                )),
                (Some(b), None) if b.insns.is_some() => Some("stopped verifying".into()),
                (Some(b), Some(_)) if b.insns.is_none() => Some(
                    "verifies now but the baseline says it did not: update the baseline".into(),
                ),
                _ if delta.is_some_and(|d| d > base.threshold_pct) => Some(format!(
                    "processed instructions grew {:.1}% (> {}%)",
                    delta.unwrap_or(0.0),
                    base.threshold_pct
                )),
                _ => None,
            };
            rows.push(Row {
                kernel: k.clone(),
                program: p.clone(),
                base: bs.and_then(|b| b.insns),
                now: s.insns,
                delta_pct: delta,
                states: (bs.map(|b| b.total_states).unwrap_or(0), s.total_states),
                peak: (bs.map(|b| b.peak_states).unwrap_or(0), s.peak_states),
                usec: s.usec,
                failure,
            });
        }
        if let Some(b) = b {
            for p in b.keys().filter(|p| !progs.contains_key(*p)) {
                rows.push(Row {
                    kernel: k.clone(),
                    program: p.clone(),
                    base: b[p].insns,
                    now: None,
                    delta_pct: None,
                    states: (b[p].total_states, 0),
                    peak: (b[p].peak_states, 0),
                    usec: None,
                    failure: Some("in the baseline but no longer in the objects".into()),
                });
            }
        }
    }
    rows
}

fn cell(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
}

pub fn render(rows: &[Row]) -> String {
    let w = rows
        .iter()
        .map(|r| r.program.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = format!(
        "\nveristat: processed instructions (baseline -> now, delta), states, peak states, verification time\n{:<14} {:<w$} {:>8} {:>8} {:>8} {:>13} {:>11} {:>9}  verdict\n",
        "kernel", "program", "base", "now", "delta", "states", "peak", "usec"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<14} {:<w$} {:>8} {:>8} {:>8} {:>13} {:>11} {:>9}  {}\n",
            r.kernel,
            r.program,
            cell(r.base),
            cell(r.now),
            r.delta_pct
                .map(|d| format!("{d:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            format!("{}->{}", r.states.0, r.states.1),
            format!("{}->{}", r.peak.0, r.peak.1),
            cell(r.usec),
            r.failure
                .as_deref()
                .unwrap_or(if r.base.is_none() && r.now.is_some() {
                    "no baseline (not gated)"
                } else {
                    "ok"
                })
        ));
    }
    s
}

/// The kernels whose figures the baseline must hold: the matrix's VM
/// kernels (the host kernel differs from machine to machine).
pub fn gated(kernel: &str) -> bool {
    !kernel.starts_with("host")
}

/// Write `now` as the baseline (keeping the threshold).
pub fn update(now: &BTreeMap<String, BTreeMap<String, Stat>>) -> Result<()> {
    let old = load_baseline().ok();
    let threshold_pct = old.as_ref().map_or(10.0, |b| b.threshold_pct);
    // Kernels this run did not boot (`--kernel K`) keep their entries.
    let mut kernels = old.map(|b| b.kernels).unwrap_or_default();
    kernels.extend(
        now.iter()
            .filter(|(k, _)| gated(k))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let b = Baseline {
        threshold_pct,
        kernels,
    };
    let p = baseline_path();
    std::fs::write(&p, serde_json::to_string_pretty(&b)? + "\n")
        .with_context(|| format!("writing {}", p.display()))?;
    println!("veristat: baseline written to {}", p.display());
    Ok(())
}

/// `cargo xtask veristat`: the matrix's loads (every kernel), then the
/// comparison (or the baseline update).
pub fn run(a: Args) -> Result<()> {
    let stats = crate::vmtest::matrix_stats(&a.kernels)?;
    if a.update_baseline {
        return update(&stats);
    }
    let base = load_baseline()?;
    let rows = compare(&base, &stats, &gated);
    print!("{}", render(&rows));
    let bad: Vec<&Row> = rows.iter().filter(|r| r.failure.is_some()).collect();
    if !bad.is_empty() {
        anyhow::bail!("veristat: {} program(s) fail the baseline", bad.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(insns: Option<u64>) -> Stat {
        Stat {
            insns,
            total_states: 10,
            peak_states: 5,
            usec: Some(100),
        }
    }

    #[test]
    fn growth_regression_and_unknown_programs_fail() {
        let mut k = BTreeMap::new();
        k.insert("o/a".to_string(), stat(Some(1000)));
        k.insert("o/b".to_string(), stat(Some(1000)));
        k.insert("o/c".to_string(), stat(Some(1000)));
        k.insert("o/gone".to_string(), stat(Some(10)));
        let base = Baseline {
            threshold_pct: 10.0,
            kernels: [("debian-6.12".to_string(), k)].into(),
        };
        let mut n = BTreeMap::new();
        n.insert("o/a".to_string(), stat(Some(1050))); // +5%: fine
        n.insert("o/b".to_string(), stat(Some(1200))); // +20%: fails
        n.insert("o/c".to_string(), stat(None)); // stopped verifying
        n.insert("o/new".to_string(), stat(Some(1)));
        let now = [
            ("debian-6.12".to_string(), n.clone()),
            ("host (6.18)".to_string(), n),
        ]
        .into();
        let rows = compare(&base, &now, &gated);
        let f = |k: &str, p: &str| {
            rows.iter()
                .find(|r| r.kernel == k && r.program == p)
                .and_then(|r| r.failure.clone())
        };
        assert_eq!(f("debian-6.12", "o/a"), None);
        assert!(f("debian-6.12", "o/b").is_some_and(|e| e.contains("grew 20.0%")));
        assert_eq!(
            f("debian-6.12", "o/c").as_deref(),
            Some("stopped verifying")
        );
        assert!(f("debian-6.12", "o/new").is_some_and(|e| e.contains("--update-baseline")));
        assert!(f("debian-6.12", "o/gone").is_some());
        // The host kernel has no baseline here: reported, not gated.
        assert_eq!(f("host (6.18)", "o/b"), None);
        assert!(render(&rows).contains("+20.0%"));
    }

    #[test]
    fn stats_come_from_crib_load_json() {
        let t = r#"{"kernel":"x","objects":[{"path":"t/crib_iter.bpf.o","programs":[
            {"name":"dump_vma","loaded":true,"stats":{"insns":2246,"total_states":144,"peak_states":124,"verification_usec":1718}},
            {"name":"dump_x","loaded":false,"reason":"no"}]}]}"#;
        let m = parse(t).expect("parse");
        assert_eq!(m["crib_iter/dump_vma"].insns, Some(2246));
        assert_eq!(m["crib_iter/dump_x"].insns, None);
    }
}
