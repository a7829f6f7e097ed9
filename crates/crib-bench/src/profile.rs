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

/// The hottest symbols by self time, plus the engine's own operations by
/// inclusive time (so the table says which operation the time is under).
pub fn select(mut all: Vec<ProfileEntry>) -> Vec<ProfileEntry> {
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

pub fn profile(
    kind: EngineKind,
    pid: i32,
    repeat: usize,
    scratch: &Path,
) -> Result<Vec<ProfileEntry>> {
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
            .args([
                "once",
                "--engine",
                kind.name(),
                "--pid",
                &pid.to_string(),
                "--repeat",
                &repeat.to_string(),
            ]),
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
    let v = select(parse_report(&String::from_utf8_lossy(&rep.stdout)));
    if v.is_empty() {
        bail!("perf report has no samples");
    }
    Ok(v)
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
