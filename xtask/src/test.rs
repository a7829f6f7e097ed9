//! `cargo xtask test`: every test lane, in order, with one summary at the end.
//!
//! Lanes: `host` (the workspace's `cargo test`, which includes the host-side
//! engines and the checker on the BTF corpus), `fresh` (the README's
//! commands in a new debootstrap root, xtask/src/fresh.rs), then the VM lanes of
//! `vmtest.toml` (`debian-6.12`, `debian-6.1`: stock kernels; `patched`: our
//! series, built or reused from the cache), then the BPF load matrix. A lane
//! that cannot run is a failure with its reason, never a silent skip.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const VM_LANES: &[&str] = &["debian-6.12", "debian-6.1", "patched"];

#[derive(clap::Args)]
pub struct Args {
    /// Run only the host lane (no VM boots).
    #[arg(long)]
    pub host_only: bool,
    /// Run only these VM lanes (repeatable; default: all).
    #[arg(long = "lane", value_name = "NAME")]
    pub lanes: Vec<String>,
    /// Skip the BPF load matrix (host, debian-6.1, debian-6.12, patched vs `crib compat`).
    #[arg(long)]
    pub no_matrix: bool,
    /// Skip the fresh lane (the README's commands in a new Debian root).
    #[arg(long)]
    pub no_fresh: bool,
    /// Skip the ZDTM lanes (CRIU's own suite on debian-6.12 and patched).
    #[arg(long)]
    pub no_zdtm: bool,
    /// Heavy lanes in full: every curated ZDTM test in every flavor.
    #[arg(long)]
    pub full: bool,
}

struct LaneResult {
    name: String,
    passed: usize,
    failed: usize,
    skipped: usize,
    secs: f64,
    note: String,
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let all: Vec<&str> = crate::deps::BASE
        .iter()
        .chain(crate::deps::KERNEL)
        .chain(crate::deps::VM)
        .chain(crate::deps::VNG)
        .chain(crate::deps::BENCH)
        .chain(crate::fresh::HOST_PACKAGES)
        .copied()
        .collect();
    crate::deps::ensure(&all)?;
    // The host lane's VM harness tests compare against virtme-ng.
    crate::vmtest::ensure_vng()?;
    // CRIU 4.2 (cached): the ZDTM lanes and every criu column use it.
    let criu = crate::criu::build::ensure_built(None)?;
    std::env::set_var(crate::criu::CRIU_ENV, &criu.criu);

    let mut results = vec![lint_lane(), host_lane()?];
    if !args.host_only && !args.no_fresh {
        if std::env::var_os(crate::fresh::INSIDE_ENV).is_some() {
            eprintln!("[test] fresh lane: not run here: this run is itself inside a fresh root");
        } else {
            results.push(fresh_lane());
        }
    }
    if !args.host_only {
        let lanes: Vec<String> = if args.lanes.is_empty() {
            VM_LANES.iter().map(|s| (*s).to_string()).collect()
        } else {
            args.lanes.clone()
        };
        for lane in &lanes {
            results.push(vm_lane(lane));
        }
        if !args.no_matrix && args.lanes.is_empty() {
            results.push(matrix_lane());
        }
        if !args.no_zdtm && args.lanes.is_empty() {
            results.extend(zdtm_lanes(args.full));
        }
    }

    println!();
    println!(
        "{:<14} {:>7} {:>7} {:>8} {:>8}  note",
        "lane", "passed", "failed", "skipped", "secs"
    );
    for r in &results {
        println!(
            "{:<14} {:>7} {:>7} {:>8} {:>8.0}  {}",
            r.name, r.passed, r.failed, r.skipped, r.secs, r.note
        );
    }
    let passed: usize = results.iter().map(|r| r.passed).sum();
    let failed: usize = results.iter().map(|r| r.failed).sum();
    let skipped: usize = results.iter().map(|r| r.skipped).sum();
    println!("all lanes took {:.0} s", started.elapsed().as_secs_f64());
    println!("total: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        anyhow::bail!("{failed} test(s) failed");
    }
    Ok(())
}

/// `cargo fmt --check` and `cargo clippy -D warnings` over the workspace:
/// one check each, so a style regression fails CI like a test does.
fn lint_lane() -> LaneResult {
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
fn host_lane() -> Result<LaneResult> {
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

fn vm_lane(lane: &str) -> LaneResult {
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
fn fresh_lane() -> LaneResult {
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

/// CRIU's ZDTM suite (xtask/src/criu/zdtm.rs): one lane result per kernel
/// (each test and flavor one test), plus the comparison of the kernels'
/// verdicts (the series must break nothing CRIU relies on).
fn zdtm_lanes(full: bool) -> Vec<LaneResult> {
    let t = Instant::now();
    eprintln!(
        "[test] ZDTM lanes ({}): CRIU's own suite in the VM lanes",
        if full { "full" } else { "CI part" }
    );
    let args = crate::criu::ZdtmArgs {
        kernels: vec![],
        full,
        flavors: vec![],
        tests: vec![],
        accel: "auto".into(),
        no_plugin: false,
        plugin_only: false,
    };
    let runs = match crate::criu::zdtm_lanes(&args) {
        Ok(r) => r,
        Err(e) => {
            return vec![LaneResult {
                name: "zdtm".into(),
                passed: 0,
                failed: 1,
                skipped: 0,
                secs: t.elapsed().as_secs_f64(),
                note: format!("lane could not run: {e:#}"),
            }]
        }
    };
    let mut out: Vec<LaneResult> = runs
        .iter()
        .map(|r| {
            let tl = crate::criu::zdtm::tally(&r.results);
            let mut note = format!(
                "{} crfail, {} xfail, {} denied; {}",
                tl.crfail,
                tl.xfail,
                tl.denied,
                r.run_dir.display()
            );
            if let Some(p) = &r.problem {
                note = format!("{p}; {note}");
            }
            LaneResult {
                name: format!("zdtm-{}", r.kernel),
                passed: tl.passed + tl.crfail + tl.xfail,
                failed: tl.failed + usize::from(r.problem.is_some()),
                skipped: tl.skipped + tl.denied,
                secs: r.seconds,
                note,
            }
        })
        .collect();
    let diffs = crate::criu::kernel_differences(&runs);
    out.push(LaneResult {
        name: "zdtm-diff".into(),
        passed: usize::from(diffs.is_empty()),
        failed: usize::from(!diffs.is_empty()),
        skipped: 0,
        secs: 0.0,
        note: if diffs.is_empty() {
            "same verdict on every kernel".into()
        } else {
            diffs.join("; ")
        },
    });
    out
}

fn matrix_lane() -> LaneResult {
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
