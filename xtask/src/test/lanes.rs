//! The lanes of `cargo xtask test`, one function each; each returns its
//! results, a failure with its reason when it cannot run.

use super::LaneResult;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// `cargo fmt --check` and `cargo clippy -D warnings` over the workspace:
/// one check each, so a style regression fails CI like a test does.
pub fn lint_lane() -> LaneResult {
    let t = Instant::now();
    eprintln!("[test] lint lane: cargo fmt --check, cargo clippy -D warnings");
    let checks: [&[&str]; 2] = [
        &["fmt", "--all", "--", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ];
    let mut r = LaneResult {
        name: "lint".into(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    for args in checks {
        let ok = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(crate::workspace_root())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            r.passed += 1;
        } else {
            r.failed += 1;
            r.note
                .push_str(&format!("`cargo {}` failed; ", args.join(" ")));
        }
    }
    r.secs = t.elapsed().as_secs_f64();
    r
}

/// `cargo test --workspace`, streamed, with its `test result:` lines summed.
pub fn host_lane() -> Result<LaneResult> {
    let t = Instant::now();
    eprintln!("[test] host lane: cargo test --workspace");
    let mut child = Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--no-fail-fast", "--color", "never"])
        .current_dir(crate::workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo test")?;
    let mut r = LaneResult {
        name: "host".into(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("reading cargo test output")?;
            println!("{line}");
            if let Some(counts) = parse_test_result(&line) {
                r.passed += counts.0;
                r.failed += counts.1;
                r.skipped += counts.2;
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() && r.failed == 0 {
        // A build error or a crashed test binary: no per-test line says so.
        r.failed += 1;
        r.note = format!("cargo test exited with {status}");
    }
    r.secs = t.elapsed().as_secs_f64();
    Ok(r)
}

/// Counts of a libtest `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
fn parse_test_result(line: &str) -> Option<(usize, usize, usize)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let num = |key: &str| -> usize {
        rest.split(';')
            .find_map(|part| {
                part.trim()
                    .strip_suffix(key)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    Some((num(" passed"), num(" failed"), num(" ignored")))
}

pub fn vm_lane(lane: &str) -> LaneResult {
    let t = Instant::now();
    eprintln!("[test] VM lane {lane}");
    let mut r = LaneResult {
        name: lane.to_string(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    match crate::vmtest::run_lane(lane) {
        Ok(s) => {
            r.name = s.lane;
            r.passed = s.passed;
            r.failed = s.failed;
            r.skipped = s.skipped;
            r.note = match s.boot_problem {
                Some(p) => format!("boot problem: {p}"),
                None => s.run_dir.display().to_string(),
            };
            for f in &s.flaky {
                r.note.push_str(&format!("; flaky boot, retried once: {f}"));
            }
        }
        Err(e) => {
            r.failed = 1;
            r.note = format!("lane could not run: {e:#}");
        }
    }
    r.secs = t.elapsed().as_secs_f64();
    r
}

/// The README's commands in a new Debian 12 root (xtask/src/fresh.rs):
/// each step is one test.
pub fn fresh_lane() -> LaneResult {
    let t = Instant::now();
    eprintln!("[test] fresh lane: the README's commands in a new debootstrap root");
    let mut r = LaneResult {
        name: "fresh".into(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    match crate::fresh::run_lane(&crate::fresh::Args::default()) {
        Ok(s) => {
            crate::fresh::print_summary(&s);
            for st in &s.steps {
                if st.ok {
                    r.passed += 1;
                } else {
                    r.failed += 1;
                    r.note.push_str(&format!("{}: {}; ", st.name, st.note));
                }
            }
            if r.note.is_empty() {
                r.note = s.run_dir.display().to_string();
            }
        }
        Err(e) => {
            r.failed = 1;
            r.note = format!("lane could not run: {e:#}");
        }
    }
    r.secs = t.elapsed().as_secs_f64();
    r
}

/// One ZDTM lane (xtask/src/criu/zdtm.rs): each test and flavor one test.
/// `zdtm_json` gets the lane's zdtm.json (for the per-kernel comparison).
pub fn zdtm_lane(lane: &str, full: bool, zdtm_json: &mut Option<std::path::PathBuf>) -> LaneResult {
    let t = Instant::now();
    eprintln!(
        "[test] ZDTM lane {lane} ({}): CRIU's own suite in a VM",
        if full { "full" } else { "CI part" }
    );
    let args = crate::criu::ZdtmArgs {
        lanes: vec![lane.to_string()],
        full,
        flavors: vec![],
        tests: vec![],
        accel: "auto".into(),
    };
    let mut r = LaneResult {
        name: format!("zdtm-{lane}"),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    match crate::criu::zdtm_lanes(&args) {
        Ok(runs) => {
            for run in runs {
                let tl = crate::criu::zdtm::tally(&run.results);
                r.passed += tl.passed + tl.crfail + tl.xfail;
                r.failed += tl.failed + usize::from(run.problem.is_some());
                r.skipped += tl.skipped + tl.denied;
                r.note = format!(
                    "{} crfail, {} xfail, {} denied; {}",
                    tl.crfail,
                    tl.xfail,
                    tl.denied,
                    run.run_dir.display()
                );
                if let Some(p) = &run.problem {
                    r.note = format!("{p}; {}", r.note);
                }
                *zdtm_json = Some(run.run_dir.join("zdtm.json"));
            }
        }
        Err(e) => {
            r.failed = 1;
            r.note = format!("lane could not run: {e:#}");
        }
    }
    r.secs = t.elapsed().as_secs_f64();
    r
}

/// The per-kernel comparison of two stock ZDTM lanes, from their zdtm.json.
pub fn zdtm_diff(a: &std::path::Path, b: &std::path::Path) -> LaneResult {
    let read = |p: &std::path::Path| -> Result<(String, Vec<crate::criu::zdtm::CaseResult>)> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let kernel = v["kernel"].as_str().unwrap_or_default().to_string();
        let results = serde_json::from_value(v["results"].clone())?;
        Ok((kernel, results))
    };
    let mut r = LaneResult {
        name: "zdtm-diff".into(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    match (read(a), read(b)) {
        (Ok((ka, ra)), Ok((kb, rb))) => {
            let d = crate::criu::zdtm::differences(&ra, &rb);
            if d.is_empty() {
                r.passed = 1;
                r.note = format!("{ka} and {kb}: the same verdict for every test and flavor");
            } else {
                r.failed = 1;
                r.note = format!("{ka} vs {kb}: {}", d.join("; "));
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            r.failed = 1;
            r.note = format!("cannot compare: {e:#}");
        }
    }
    r
}

pub fn matrix_lane() -> LaneResult {
    let t = Instant::now();
    eprintln!("[test] BPF load matrix vs crib compat");
    let mut r = LaneResult {
        name: "matrix".into(),
        passed: 0,
        failed: 0,
        skipped: 0,
        secs: 0.0,
        note: String::new(),
    };
    match matrix_args().and_then(crate::vmtest::run) {
        Ok(()) => {
            r.passed = 1;
            r.note = "every kernel agreed with crib compat".into();
        }
        Err(e) => {
            r.failed = 1;
            r.note = format!("{e:#}");
        }
    }
    r.secs = t.elapsed().as_secs_f64();
    r
}

/// `cargo xtask vmtest --matrix` with every other option at its default.
fn matrix_args() -> Result<crate::vmtest::Args> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: crate::vmtest::Args,
    }
    use clap::Parser;
    Ok(Wrap::try_parse_from(["vmtest", "--matrix"])?.args)
}

#[cfg(test)]
mod tests {
    use super::parse_test_result;

    #[test]
    fn parses_libtest_summary() {
        let l = "test result: FAILED. 12 passed; 2 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(parse_test_result(l), Some((12, 2, 3)));
        assert_eq!(parse_test_result("running 3 tests"), None);
    }
}
