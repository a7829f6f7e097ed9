//! `cargo xtask test`: every test lane, with one summary at the end.
//!
//! - Serial, each using every core: `lint` (fmt, clippy), `host` (the
//!   workspace's `cargo test`: specs, the checker on the BTF corpus, the
//!   host-side engines, restore, ...), `fresh` (the README's commands in a
//!   new debootstrap root, xtask/src/fresh.rs); then what the VM lanes
//!   share is built once (the patched kernels, CRIU, the crib plugin).
//! - Side by side, as many at once as there are cores (a TCG guest runs on
//!   one host thread: `tcg_thread = "single"`): the VM lanes of
//!   `vmtest.toml` (`debian-6.12`, `debian-6.1`, `patched`, `patched-7.3`),
//!   the BPF load `matrix`, and the ZDTM lanes (CRIU's own suite:
//!   `zdtm-debian-6.12`, `zdtm-patched`, `zdtm-patched-7.3`,
//!   `zdtm-patched+crib` with the crib plugin), each a
//!   child process of this one with its output in `target/test-lanes/`
//!   (printed whole when it ends); then `zdtm-diff`, the two stock ZDTM
//!   lanes' verdicts compared.
//!
//! A lane that cannot run is a failure with its reason, never a silent skip.

mod lanes;
mod pool;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// The vmtest lanes: two stock kernels and the series on each of its bases.
const VM_LANES: &[&str] = &["debian-6.12", "debian-6.1", "patched", "patched-7.3"];

#[derive(clap::Args)]
pub struct Args {
    /// Run only the host lane (no VM boots).
    #[arg(long)]
    pub host_only: bool,
    /// Run only these VM lanes (repeatable; default: all).
    #[arg(long = "lane", value_name = "NAME")]
    pub lanes: Vec<String>,
    /// Skip the BPF load matrix (host, Debian 6.1 to 7.3, patched vs `crib compat`).
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
    /// Lanes side by side at most (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A VM lane still running after this many seconds is killed (its
    /// guests with it) and fails (default: 1800; `--full`: 7200).
    #[arg(long, value_name = "SECS")]
    pub lane_timeout: Option<u64>,
    /// (internal) Run this one parallel lane and write its results here.
    #[arg(long, hide = true, requires = "summary")]
    pub run_one: Option<String>,
    #[arg(long, hide = true)]
    pub summary: Option<PathBuf>,
}

/// One line of the summary table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaneResult {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub secs: f64,
    pub note: String,
}

/// What a parallel lane hands back to the parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub results: Vec<LaneResult>,
    /// A ZDTM lane's zdtm.json.
    pub zdtm_json: Option<PathBuf>,
}

/// A lane that runs in a child process: `debian-6.12`, `matrix`,
/// `zdtm:patched`, ...
fn run_one(name: &str, full: bool) -> Summary {
    let mut zdtm_json = None;
    let results = if name == "matrix" {
        vec![lanes::matrix_lane()]
    } else if let Some(z) = name.strip_prefix("zdtm:") {
        vec![lanes::zdtm_lane(z, full, &mut zdtm_json)]
    } else {
        vec![lanes::vm_lane(name)]
    };
    Summary { results, zdtm_json }
}

/// Everything the parallel lanes share, built before they start (two
/// builds at once on two cores would each take twice as long).
fn prepare_shared(zdtm: bool) -> Result<()> {
    // One kernel build at a time, each with every core, before the lanes.
    for base in crate::kernel::bases()? {
        crate::kernel::ensure_built_on(None, Some(&base.series))?;
    }
    for k in ["debian-6.12", "debian-6.1"] {
        crib_vmtest::Kernel::resolve(k)?;
    }
    if zdtm {
        crate::criu::plugin::build(false)?;
    }
    crate::vmtest::build_suite()?;
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    if let (Some(name), Some(path)) = (&args.run_one, &args.summary) {
        let s = run_one(name, args.full);
        std::fs::write(path, serde_json::to_string_pretty(&s)?)?;
        return Ok(());
    }
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

    let mut results = vec![lanes::lint_lane(), lanes::host_lane()?];
    if !args.host_only && !args.no_fresh {
        if std::env::var_os(crate::fresh::INSIDE_ENV).is_some() {
            eprintln!("[test] fresh lane: not run here: this run is itself inside a fresh root");
        } else {
            results.push(lanes::fresh_lane());
        }
    }
    if !args.host_only {
        let zdtm = !args.no_zdtm && args.lanes.is_empty();
        let mut jobs: Vec<String> = Vec::new();
        if zdtm {
            let shapes = crate::criu::lane_shapes()?;
            // Longest first: the ZDTM lanes.
            for k in &shapes.kernels {
                jobs.push(format!("zdtm:{k}"));
            }
            jobs.push(format!("zdtm:{}", shapes.plugin.name));
        }
        if args.lanes.is_empty() {
            jobs.extend(VM_LANES.iter().map(|s| s.to_string()));
        } else {
            jobs.extend(args.lanes.iter().cloned());
        }
        if !args.no_matrix && args.lanes.is_empty() {
            jobs.push("matrix".into());
        }
        let t = Instant::now();
        match prepare_shared(zdtm) {
            Ok(()) => {
                let slots = args
                    .jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let limit =
                    std::time::Duration::from_secs(args.lane_timeout.unwrap_or(if args.full {
                        7200
                    } else {
                        1800
                    }));
                let done = pool::run(&jobs, slots, args.full, limit)?;
                let mut zdtm_json = Vec::new();
                for s in done {
                    results.extend(s.results);
                    if let Some(j) = s.zdtm_json {
                        zdtm_json.push(j);
                    }
                }
                if zdtm {
                    // The stock lanes come first in `jobs`; the plugin lane
                    // differs from them by design.
                    match zdtm_json.as_slice() {
                        [a, b, ..] => results.push(lanes::zdtm_diff(a, b)),
                        _ => results.push(LaneResult {
                            name: "zdtm-diff".into(),
                            passed: 0,
                            failed: 1,
                            skipped: 0,
                            secs: 0.0,
                            note: "a stock ZDTM lane did not run: nothing to compare".into(),
                        }),
                    }
                }
            }
            Err(e) => results.push(LaneResult {
                name: "vm-lanes".into(),
                passed: 0,
                failed: 1,
                skipped: 0,
                secs: t.elapsed().as_secs_f64(),
                note: format!("cannot build what the VM lanes share: {e:#}"),
            }),
        }
    }

    println!();
    println!(
        "{:<20} {:>7} {:>7} {:>8} {:>8}  note",
        "lane", "passed", "failed", "skipped", "secs"
    );
    for r in &results {
        println!(
            "{:<20} {:>7} {:>7} {:>8} {:>8.0}  {}",
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
