//! The stdout table: one block per lane and size, one row per engine.

use super::fmt::{bytes, count, dur, opt_dur, times};
use super::report::{EngineSummary, LaneReport, Report};
use std::fmt::Write as _;

const HEAD: [&str; 15] = [
    "engine",
    "dump",
    "min..max",
    "task",
    "files",
    "mm",
    "sockets",
    "queues",
    "syscalls",
    "bytes->user",
    "load",
    "x dump",
    "x files",
    "x mm",
    "break-even",
];

fn row(e: &EngineSummary) -> Vec<String> {
    if let Some(why) = &e.unavailable {
        let mut short: String = why.chars().take(100).collect();
        if why.chars().count() > 100 {
            short.push_str("...");
        }
        return vec![e.engine.clone(), format!("unavailable: {short}")];
    }
    let op = |k: &str| opt_dur(e.ops.get(k).map(|s| s.median));
    let r = e.vs_procfs.clone().unwrap_or_default();
    vec![
        e.engine.clone(),
        opt_dur(e.dump.map(|d| d.median)),
        e.dump
            .map_or_else(|| "-".into(), |d| format!("{}..{}", dur(d.min), dur(d.max))),
        op("task"),
        op("files"),
        op("mm"),
        op("sockets"),
        op("queues"),
        count(e.syscalls),
        bytes(e.bytes_to_user),
        opt_dur(e.load.map(|l| l.median)),
        times(r.dump_speedup),
        times(r.files_speedup),
        times(r.mm_speedup),
        match (r.break_even_dumps, e.engine.as_str()) {
            (_, "procfs") => "-".into(),
            (Some(k), _) => format!("{k} dumps"),
            (None, _) if e.load.is_some() => "never".into(),
            _ => "-".into(),
        },
    ]
}

fn lane_block(out: &mut String, lane: &LaneReport) {
    let l = &lane.raw;
    let _ = writeln!(
        out,
        "\n== lane {} (kernel {}{}) ==",
        l.lane,
        l.kernel,
        if l.emulated {
            ", emulated: compare ratios only"
        } else {
            ""
        }
    );
    for s in &lane.sizes {
        let _ = writeln!(
            out,
            "\nn={} ({} fds, {} mappings, {} socket groups)",
            s.n, s.target_fds, s.target_maps, s.socket_groups
        );
        let rows: Vec<Vec<String>> = std::iter::once(HEAD.iter().map(|h| h.to_string()).collect())
            .chain(s.engines.iter().map(row))
            .collect();
        let mut widths = vec![0; HEAD.len()];
        for r in rows.iter().filter(|r| r.len() == HEAD.len()) {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        for e in s.engines.iter().filter(|e| !e.gaps.is_empty()) {
            let _ = writeln!(
                out,
                "  note: {} did not fully dump: {}",
                e.engine,
                e.gaps.join("; ")
            );
            if !e.via_procfs.is_empty() {
                let _ = writeln!(
                    out,
                    "  note: {} dump/syscalls include procfs's {} (as `crib dump --engine {}` does)",
                    e.engine,
                    e.via_procfs.join(", "),
                    e.engine
                );
            }
        }
    }
    for t in &lane.targets {
        let _ = writeln!(
            out,
            "target: {} {}: {}",
            t.what,
            t.rule(),
            match t.got_text() {
                Some(g) => format!("{g} ({})", if t.met { "met" } else { "MISSED" }),
                None => "not measured in this lane".into(),
            }
        );
    }
    for n in &l.notes {
        let _ = writeln!(out, "note: {n}");
    }
}

/// The whole report as plain text.
pub fn render(r: &Report) -> String {
    let mut out = format!(
        "dump benchmark, {} on {} ({} cores), {}{}\n",
        r.generated,
        r.machine.cpu,
        r.machine.cores,
        r.machine.kernel,
        if r.quick { ", --quick" } else { "" }
    );
    out.push_str("times are medians of warm dumps; x = procfs / engine (higher is better)\n");
    for lane in &r.lanes {
        lane_block(&mut out, lane);
    }
    for s in &r.skipped {
        let _ = writeln!(out, "\nlane skipped: {s}");
    }
    out
}
