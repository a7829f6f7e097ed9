//! The report: raw lane measurements plus what is derived from them
//! (summaries, ratios against procfs, break-even dumps, target checks).
//! Everything printed or plotted is computed here from the raw samples.

use super::schema::{EngineRun, LaneRun, SizeRun};
use super::stats::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The size the targets are stated for.
pub const TARGET_N: u64 = 10_000;
/// CRIB vs procfs targets at [`TARGET_N`].
pub const TARGET_SPEEDUP: f64 = 10.0;
pub const TARGET_SYSCALL_RATIO: f64 = 20.0;
/// The baseline every ratio is against.
pub const BASELINE: &str = "procfs";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub memory_gib: f64,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// UTC time the run finished.
    pub generated: String,
    pub machine: Machine,
    pub quick: bool,
    /// The command that produced it.
    pub command: String,
    pub lanes: Vec<LaneReport>,
    /// Lanes that did not run, and why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneReport {
    pub raw: LaneRun,
    pub sizes: Vec<SizeSummary>,
    pub targets: Vec<TargetCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeSummary {
    pub n: u64,
    pub target_fds: u64,
    pub target_maps: u64,
    pub socket_groups: u64,
    pub engines: Vec<EngineSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineSummary {
    pub engine: String,
    pub unavailable: Option<String>,
    /// Warm whole dump, ns.
    pub dump: Option<Summary>,
    /// Warm per operation, ns.
    pub ops: BTreeMap<String, Summary>,
    /// Engine open (BPF: load + verify), ns.
    pub load: Option<Summary>,
    pub first_dump_ns: Option<u64>,
    pub syscalls: Option<u64>,
    pub bytes_to_user: Option<u64>,
    pub load_syscalls: Option<u64>,
    pub op_syscalls: BTreeMap<String, u64>,
    /// The engine's own most frequent syscalls in one dump, most first.
    pub top_syscalls: Vec<(String, u64)>,
    /// perf profile (`--profile`), as measured.
    pub profile: Vec<super::schema::ProfileEntry>,
    /// What this engine did not fully dump (refused ops, unreadable items).
    pub gaps: Vec<String>,
    /// Operations whose cost in `dump`/`syscalls` is procfs's, because this
    /// engine left them to procfs (as `crib dump --engine` does).
    pub via_procfs: Vec<String>,
    pub records: super::schema::Records,
    pub vs_procfs: Option<Ratios>,
}

/// Baseline / this engine (so > 1 means this engine is better).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub dump_speedup: Option<f64>,
    pub files_speedup: Option<f64>,
    pub mm_speedup: Option<f64>,
    pub sockets_speedup: Option<f64>,
    pub syscall_ratio: Option<f64>,
    pub files_syscall_ratio: Option<f64>,
    pub mm_syscall_ratio: Option<f64>,
    pub bytes_ratio: Option<f64>,
    /// Dumps after which load-once-then-dump beats procfs; `None` when the
    /// engine is not faster per dump (it never catches up).
    pub break_even_dumps: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    pub what: String,
    pub wanted: f64,
    /// `None`: could not be measured here.
    pub got: Option<f64>,
    pub met: bool,
}

fn ratio(base: Option<f64>, this: Option<f64>) -> Option<f64> {
    match (base, this) {
        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
        _ => None,
    }
}

/// An op this engine leaves entirely to another one: refused, or not one
/// of its items read (upstream's queues). A partial op (crib reading socket
/// queues but not pipe buffers) stays the engine's own, with a gap note.
fn left_undone(op: &str, o: &super::schema::OpRun, r: &super::schema::Records) -> bool {
    if o.unsupported.is_some() {
        return true;
    }
    let items = match op {
        "queues" => 2 * r.sockets + r.pipes,
        _ => 0,
    };
    o.unavailable_items > 0 && o.unavailable_items >= items
}

/// Whole-dump samples and syscalls with the gap operations taken from the
/// baseline run (rep by rep), and the names of those operations.
fn with_fallback(
    e: &EngineRun,
    base: Option<&EngineRun>,
) -> (Vec<u64>, Option<(u64, u64)>, Vec<String>) {
    let own_sys = e.syscalls.as_ref().map(|s| (s.total, s.bytes_to_user));
    let Some(base) = base.filter(|b| b.engine != e.engine && e.engine != "criu") else {
        return (e.total_ns.clone(), own_sys, Vec::new());
    };
    let borrowed: Vec<String> = e
        .ops
        .iter()
        .filter(|(k, o)| {
            left_undone(k, o, &e.records)
                && base.ops.get(*k).is_some_and(|b| {
                    b.unsupported.is_none() && b.unavailable_items == 0 && !b.ns.is_empty()
                })
        })
        .map(|(k, _)| k.clone())
        .collect();
    if borrowed.is_empty() {
        return (e.total_ns.clone(), own_sys, borrowed);
    }
    let reps = e.total_ns.len();
    let totals = (0..reps)
        .map(|i| {
            e.ops
                .iter()
                .map(|(k, o)| {
                    let src = if borrowed.contains(k) {
                        &base.ops[k]
                    } else {
                        o
                    };
                    src.ns.get(i % src.ns.len().max(1)).copied().unwrap_or(0)
                })
                .sum()
        })
        .collect();
    let sys = own_sys.and_then(|(mut total, mut bytes)| {
        for k in &borrowed {
            let mine = e.ops.get(k)?.syscalls.as_ref()?;
            let theirs = base.ops.get(k)?.syscalls.as_ref()?;
            total = total - mine.total.min(total) + theirs.total;
            bytes = bytes - mine.bytes_to_user.min(bytes) + theirs.bytes_to_user;
        }
        Some((total, bytes))
    });
    (totals, sys, borrowed)
}

fn top_syscalls(e: &EngineRun, k: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = e
        .syscalls
        .as_ref()
        .map(|s| s.by_name.iter().map(|(n, c)| (n.clone(), *c)).collect())
        .unwrap_or_default();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

fn summarize_engine(e: &EngineRun, base: Option<&EngineRun>) -> EngineSummary {
    let mut gaps = Vec::new();
    for (op, o) in &e.ops {
        if let Some(why) = &o.unsupported {
            gaps.push(format!("{op}: not supported ({why})"));
        } else if o.unavailable_items > 0 {
            gaps.push(format!(
                "{op}: {} item(s) not readable",
                o.unavailable_items
            ));
        }
    }
    let (totals, sys, via_procfs) = with_fallback(e, base);
    EngineSummary {
        engine: e.engine.clone(),
        unavailable: e.unavailable.clone(),
        dump: Summary::of(&totals),
        ops: e
            .ops
            .iter()
            .filter_map(|(k, o)| Some((k.clone(), Summary::of(&o.ns)?)))
            .collect(),
        load: Summary::of(&e.load_ns),
        first_dump_ns: e.first_dump_ns,
        syscalls: sys.map(|s| s.0),
        bytes_to_user: sys.map(|s| s.1),
        load_syscalls: e.load_syscalls.as_ref().map(|s| s.total),
        op_syscalls: e
            .ops
            .iter()
            .filter_map(|(k, o)| Some((k.clone(), o.syscalls.as_ref()?.total)))
            .collect(),
        top_syscalls: top_syscalls(e, 4),
        profile: e.profile.clone(),
        gaps,
        via_procfs,
        records: e.records.clone(),
        vs_procfs: None,
    }
}

fn ratios(base: &EngineSummary, e: &EngineSummary) -> Ratios {
    let med = |s: &EngineSummary, op: &str| s.ops.get(op).map(|x| x.median);
    // Only for ops the engine completed (a refused op's one failed
    // PROG_RUN is not a syscall count to compare).
    let sys = |s: &EngineSummary, op: &str| {
        s.ops.get(op)?;
        s.op_syscalls.get(op).map(|&x| x as f64)
    };
    let dump_b = base.dump.map(|d| d.median);
    let dump_e = e.dump.map(|d| d.median);
    let break_even = match (dump_b, dump_e, e.load) {
        (Some(p), Some(w), Some(l)) if p > w => Some((l.median / (p - w)).floor() as u64 + 1),
        _ => None,
    };
    Ratios {
        dump_speedup: ratio(dump_b, dump_e),
        files_speedup: ratio(med(base, "files"), med(e, "files")),
        mm_speedup: ratio(med(base, "mm"), med(e, "mm")),
        sockets_speedup: ratio(med(base, "sockets"), med(e, "sockets")),
        syscall_ratio: ratio(
            base.syscalls.map(|x| x as f64),
            e.syscalls.map(|x| x as f64),
        ),
        files_syscall_ratio: ratio(sys(base, "files"), sys(e, "files")),
        mm_syscall_ratio: ratio(sys(base, "mm"), sys(e, "mm")),
        bytes_ratio: ratio(
            base.bytes_to_user.map(|x| x as f64),
            e.bytes_to_user.map(|x| x as f64),
        ),
        break_even_dumps: break_even,
    }
}

fn summarize_size(s: &SizeRun) -> SizeSummary {
    let base_raw = s
        .engines
        .iter()
        .find(|e| e.engine == BASELINE && e.unavailable.is_none());
    let mut engines: Vec<EngineSummary> = s
        .engines
        .iter()
        .map(|e| summarize_engine(e, base_raw))
        .collect();
    let base = engines
        .iter()
        .find(|e| e.engine == BASELINE && e.unavailable.is_none())
        .cloned();
    if let Some(base) = base {
        for e in engines.iter_mut().filter(|e| e.unavailable.is_none()) {
            e.vs_procfs = Some(ratios(&base, e));
        }
    }
    SizeSummary {
        n: s.n,
        target_fds: s.target_fds,
        target_maps: s.target_maps,
        socket_groups: s.socket_groups,
        engines,
    }
}

/// The targets for the crib engine at [`TARGET_N`].
fn targets(sizes: &[SizeSummary]) -> Vec<TargetCheck> {
    let crib = sizes
        .iter()
        .find(|s| s.n == TARGET_N)
        .and_then(|s| s.engines.iter().find(|e| e.engine == "crib"))
        .and_then(|e| e.vs_procfs.clone());
    let check = |what: &str, wanted: f64, got: Option<f64>| TargetCheck {
        what: what.to_string(),
        wanted,
        got,
        met: got.is_some_and(|g| g >= wanted),
    };
    let r = crib.unwrap_or_default();
    vec![
        check(
            "crib vs procfs speed, 10k fds (files)",
            TARGET_SPEEDUP,
            r.files_speedup,
        ),
        check(
            "crib vs procfs speed, 10k mappings (mm)",
            TARGET_SPEEDUP,
            r.mm_speedup,
        ),
        check(
            "crib vs procfs syscalls, 10k fds (files)",
            TARGET_SYSCALL_RATIO,
            r.files_syscall_ratio,
        ),
        check(
            "crib vs procfs syscalls, 10k mappings (mm)",
            TARGET_SYSCALL_RATIO,
            r.mm_syscall_ratio,
        ),
    ]
}

pub fn lane_report(raw: LaneRun) -> LaneReport {
    let sizes: Vec<SizeSummary> = raw.sizes.iter().map(summarize_size).collect();
    let targets = targets(&sizes);
    LaneReport {
        raw,
        sizes,
        targets,
    }
}
