//! `--profile`: where one engine's CPU time goes, from `perf record` of
//! `crib-bench once --repeat K` (one load, K warm dumps) and `perf report`.

use crate::schema::ProfileEntry;
use crate::target::run_bounded;
use anyhow::{bail, Context, Result};
use crib_harness::engine::EngineKind;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Symbols kept per engine.
const KEEP: usize = 12;
/// Recorded time per engine: enough samples at 1 kHz, small enough for
/// `perf report` to unwind DWARF stacks in seconds.
const BUDGET_NS: u64 = 2_000_000_000;

/// Warm dumps to record so that the run lasts about [`BUDGET_NS`].
pub fn repeat_for(warm_median_ns: u64, max: usize) -> usize {
    let n = BUDGET_NS / warm_median_ns.max(1);
    usize::try_from(n).unwrap_or(max).clamp(2, max.max(2))
}

/// Parse `perf report --children --sort sym --stdio` lines:
/// `    58.42%     0.00%  [.] symbol`.
pub fn parse_report(text: &str) -> Vec<ProfileEntry> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(c), Some(s)) = (it.next(), it.next()) else {
            continue;
        };
        let (Some(c), Some(s)) = (c.strip_suffix('%'), s.strip_suffix('%')) else {
            continue;
        };
        let (Ok(children_pct), Ok(self_pct)) = (c.parse::<f64>(), s.parse::<f64>()) else {
            continue;
        };
        let Some(rest) = line.split_once("] ").map(|(_, r)| r.trim()) else {
            continue;
        };
        v.push(ProfileEntry {
            symbol: rest.to_string(),
            self_pct,
            children_pct,
        });
    }
    v
}

/// The stopwatch's calibration spin (clock.rs): part of every recorded
/// `crib-bench once`, none of the engine's time.
const OWN_CLOCK: &str = "crib_bench::clock::";

/// `all` without the stopwatch's calibration, the rest scaled up to 100%.
fn without_clock(all: Vec<ProfileEntry>) -> Vec<ProfileEntry> {
    let clock_pct: f64 = all
        .iter()
        .filter(|e| e.symbol.starts_with(OWN_CLOCK))
        .map(|e| e.self_pct)
        .sum();
    let scale = if clock_pct > 0.0 && clock_pct < 100.0 {
        100.0 / (100.0 - clock_pct)
    } else {
        1.0
    };
    all.into_iter()
        .filter(|e| !e.symbol.starts_with(OWN_CLOCK))
        .map(|e| ProfileEntry {
            self_pct: e.self_pct * scale,
            children_pct: (e.children_pct * scale).min(100.0),
            ..e
        })
        .collect()
}

/// The hottest symbols by self time, plus the engine's own operations by
/// inclusive time (so the table says which operation the time is under).
/// Shares are of the engine's samples: the stopwatch's calibration is
/// taken out and the rest scaled up to match.
pub fn select(all: Vec<ProfileEntry>) -> Vec<ProfileEntry> {
    let mut all = without_clock(all);
    // The engine's operations: trait methods, or the procfs readers they
    // are inlined into.
    let is_op = |e: &ProfileEntry| {
        !e.symbol.contains("{{closure}}")
            && e.children_pct >= 1.0
            && (e.symbol.contains("DumpEngine>::")
                || (e.symbol.starts_with("crib_harness::engine::") && e.symbol.contains("::read_")))
    };
    let ops: Vec<ProfileEntry> = all.iter().filter(|e| is_op(e)).cloned().collect();
    all.sort_by(|a, b| b.self_pct.total_cmp(&a.self_pct));
    let mut out: Vec<ProfileEntry> = ops;
    for e in all.into_iter().filter(|e| e.self_pct > 0.0) {
        if out.len() >= KEEP + 5 {
            break;
        }
        if !out.iter().any(|o| o.symbol == e.symbol) {
            out.push(e);
        }
    }
    out
}

/// One engine's hottest symbols over one load and `repeat` warm dumps.
pub fn profile(
    kind: EngineKind,
    pid: i32,
    repeat: usize,
    scratch: &Path,
) -> Result<Vec<ProfileEntry>> {
    record(kind, pid, &["--repeat", &repeat.to_string()], scratch).map(select)
}

/// Where an engine open goes: `opens` opens (and one dump) recorded, the
/// inclusive share of each step of [`OPEN_STEPS`] that was sampled, then
/// the hottest symbols.
pub fn profile_open(
    kind: EngineKind,
    pid: i32,
    opens: usize,
    scratch: &Path,
) -> Result<Vec<ProfileEntry>> {
    record(kind, pid, &["--opens", &opens.to_string()], scratch).map(select_open)
}

/// `perf record` of `crib-bench once --engine K --pid P ARGS`, reported.
fn record(kind: EngineKind, pid: i32, args: &[&str], scratch: &Path) -> Result<Vec<ProfileEntry>> {
    let me = std::env::current_exe().context("locating crib-bench")?;
    let data = scratch.join(format!("perf-{}-{pid}.data", kind.name()));
    let rec = run_bounded(
        Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "2000",
                "--call-graph",
                "dwarf,16384",
                "-o",
            ])
            .arg(&data)
            .arg("--")
            .arg(&me)
            .args(["once", "--engine", kind.name(), "--pid", &pid.to_string()])
            .args(args),
        Duration::from_secs(600),
    )
    .context("running perf record (apt-get install linux-perf)")?;
    if !rec.status.success() {
        let _ = std::fs::remove_file(&data);
        bail!(
            "perf record failed ({}): {}",
            rec.status,
            String::from_utf8_lossy(&rec.stderr).trim()
        );
    }
    let rep = run_bounded(
        Command::new("perf")
            .args([
                "report",
                "--children",
                // addr2line for inlined frames takes minutes on big traces.
                "--no-inline",
                "--sort",
                "sym",
                "--stdio",
                "-g",
                "none",
                "-i",
            ])
            .arg(&data),
        Duration::from_secs(180),
    );
    let _ = std::fs::remove_file(&data);
    let rep = rep.context("running perf report")?;
    if !rep.status.success() {
        bail!(
            "perf report failed ({}): {}",
            rep.status,
            String::from_utf8_lossy(&rep.stderr).trim()
        );
    }
    let v = parse_report(&String::from_utf8_lossy(&rep.stdout));
    if v.is_empty() {
        bail!("perf report has no samples");
    }
    Ok(v)
}

/// The steps of an engine open, by the function that does each (libbpf's
/// and the kernel's own symbols), in the order they run.
pub const OPEN_STEPS: &[&str] = &[
    "crib_harness::engine::open_engine_for",
    "crib_harness::engine::features::KernelFeatures::from_file",
    "bpf_object_open",
    "btf__load_vmlinux_btf",
    "bpf_object__probe_loading",
    "bpf_object__relocate",
    "bpf_core_add_cands",
    "bpf_object__create_maps",
    "bpf_check",
    "ring_buffer__add",
    "bpf_object__close",
];

/// [`OPEN_STEPS`] as sampled (inclusive share), then the hottest symbols.
pub fn select_open(all: Vec<ProfileEntry>) -> Vec<ProfileEntry> {
    let all = without_clock(all);
    let mut out: Vec<ProfileEntry> = OPEN_STEPS
        .iter()
        .filter_map(|step| all.iter().find(|e| e.symbol == *step).cloned())
        .collect();
    let mut hot: Vec<&ProfileEntry> = all.iter().filter(|e| e.self_pct > 0.0).collect();
    hot.sort_by(|a, b| b.self_pct.total_cmp(&a.self_pct));
    for e in hot {
        if out.len() >= OPEN_STEPS.len() + KEEP {
            break;
        }
        if !out.iter().any(|o| o.symbol == e.symbol) {
            out.push(e.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_fits_the_budget() {
        assert_eq!(repeat_for(500_000_000, 20), 4);
        assert_eq!(repeat_for(1_000, 20), 20);
        assert_eq!(repeat_for(5_000_000_000, 20), 2);
        assert_eq!(repeat_for(0, 20), 20);
    }

    #[test]
    fn parses_and_selects() {
        let text = "# comment\n\
            \n    58.42%     0.00%  [.] crib_harness::engine::bpfobj::run_iter\n\
            \x20   38.79%     0.06%  [.] <crib_harness::engine::upstream::UpstreamEngine as crib_harness::engine::DumpEngine>::sockets\n\
            \x20   22.72%    22.72%  [.] alloc::vec::Vec<T,A>::retain\n\
            \x20   19.87%    19.10%  [k] copy_from_kernel_nofault\n";
        let all = parse_report(text);
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].symbol, "copy_from_kernel_nofault");
        assert_eq!(all[3].self_pct, 19.10);
        let sel = select(all);
        assert!(sel[0].symbol.ends_with("DumpEngine>::sockets"));
        assert_eq!(sel[1].symbol, "alloc::vec::Vec<T,A>::retain");
        assert!(
            !sel.iter().any(|e| e.symbol.ends_with("run_iter")),
            "0% self is dropped"
        );
    }

    #[test]
    fn the_stopwatch_calibration_is_not_the_engines_time() {
        let text = "    50.00%    50.00%  [.] crib_bench::clock::choose\n\
            \x20   25.00%    25.00%  [k] copy_from_kernel_nofault\n\
            \x20   25.00%    20.00%  [.] <crib_harness::engine::crib::CribEngine as crib_harness::engine::DumpEngine>::files\n";
        let sel = select(parse_report(text));
        assert!(!sel.iter().any(|e| e.symbol.starts_with(OWN_CLOCK)));
        let k = sel
            .iter()
            .find(|e| e.symbol == "copy_from_kernel_nofault")
            .expect("kept");
        assert_eq!(k.self_pct, 50.0);
        assert!(sel[0].symbol.ends_with("::files") && sel[0].children_pct == 50.0);
    }

    #[test]
    fn an_open_profile_lists_its_steps_in_order_then_the_hot_symbols() {
        let text = "    40.00%     0.00%  [k] bpf_check\n\
            \x20   90.00%     0.10%  [.] crib_harness::engine::open_engine_for\n\
            \x20   20.00%    20.00%  [.] crib_bench::clock::choose\n\
            \x20   10.00%     8.00%  [k] do_check_common\n";
        let sel = select_open(parse_report(text));
        let names: Vec<&str> = sel.iter().map(|e| e.symbol.as_str()).collect();
        assert_eq!(
            names,
            [
                "crib_harness::engine::open_engine_for",
                "bpf_check",
                "do_check_common"
            ]
        );
        assert_eq!(
            sel[1].children_pct, 50.0,
            "scaled: the stopwatch is not the open"
        );
    }

    #[test]
    fn procfs_readers_count_as_operations() {
        let text = "    58.56%     0.74%  [.] crib_harness::engine::procfs::files::read_files\n\
            \x20    0.03%     0.03%  [.] <crib_harness::engine::procfs::ProcfsEngine as crib_harness::engine::DumpEngine>::memory_map\n";
        let sel = select(parse_report(text));
        assert_eq!(
            sel[0].symbol,
            "crib_harness::engine::procfs::files::read_files"
        );
        // The 0.03% method is not an operation entry, only a hot symbol.
        assert_eq!(sel.len(), 2);
        assert!(sel[1].symbol.ends_with("::memory_map"));
    }
}
