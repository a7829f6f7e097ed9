//! The report: raw lane measurements plus what is derived from them
//! (summaries, ratios against procfs, break-even dumps, target checks).
//! Everything printed or plotted is computed here from the raw samples.

use super::schema::{EngineRun, LaneRun, SizeRun};
use super::stats::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The size the targets are stated for.
pub const TARGET_N: u64 = 10_000;
/// crib vs procfs at [`TARGET_N`] (dump, files, mm): speed and syscalls.
pub const TARGET_SPEEDUP: f64 = 20.0;
pub const TARGET_SYSCALL_RATIO: f64 = 20.0;
/// crib vs upstream at [`TARGET_N`] (files, mm).
pub const TARGET_VS_UPSTREAM: f64 = 1.5;
/// crib's mm operation vs the PROCMAP_QUERY reader at [`TARGET_N`].
pub const TARGET_VS_PROCMAP_QUERY: f64 = 2.0;
/// Engine open (load + verification) of a dump of every operation, ms.
pub const TARGET_OPEN_MS: f64 = 300.0;
/// Dumps to break even with procfs at N = 100.
pub const TARGET_BREAK_EVEN_N: u64 = 100;
pub const TARGET_BREAK_EVEN_DUMPS: f64 = 3.0;
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
    /// PROCMAP_QUERY and maps-text readers (mm only).
    #[serde(default)]
    pub mm_readers: Vec<MmReaderSummary>,
    #[serde(default)]
    pub service: Option<ServiceSummary>,
}

/// Whole dumps per request: resident server, procfs, cold process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub unavailable: Option<String>,
    pub served: Option<Summary>,
    pub served_engines: String,
    pub cold: Option<Summary>,
    pub cold_unavailable: Option<String>,
    pub procfs: Option<Summary>,
}

impl ServiceSummary {
    /// Dumps per second of a median time in ns.
    pub fn per_second(s: Option<Summary>) -> Option<f64> {
        s.filter(|x| x.median > 0.0).map(|x| 1e9 / x.median)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MmReaderSummary {
    pub reader: String,
    pub unavailable: Option<String>,
    pub read: Option<Summary>,
    pub vmas: u64,
    pub syscalls: Option<u64>,
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
    /// The trimmed CO-RE BTF at the first and the last open.
    pub core_btf: Vec<String>,
    pub first_dump_ns: Option<u64>,
    pub syscalls: Option<u64>,
    pub bytes_to_user: Option<u64>,
    pub load_syscalls: Option<u64>,
    pub op_syscalls: BTreeMap<String, u64>,
    /// The engine's own most frequent syscalls in one dump, most first.
    pub top_syscalls: Vec<(String, u64)>,
    /// perf profile (`--profile`), as measured.
    pub profile: Vec<super::schema::ProfileEntry>,
    /// perf profile of repeated engine opens (`--profile`, BPF engines).
    pub open_profile: Vec<super::schema::ProfileEntry>,
    /// What this engine did not fully dump (refused ops, unreadable items).
    pub gaps: Vec<String>,
    /// Operations whose cost in `dump`/`syscalls` is procfs's, because this
    /// engine left them to procfs (as `crib dump --engine` does).
    pub via_procfs: Vec<String>,
    pub records: super::schema::Records,
    /// Queue items (socket queues, pipe buffers) this engine marked unreadable.
    pub unread_queue_items: u64,
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
    /// How `got` compares with `wanted`.
    #[serde(default)]
    pub goal: Goal,
}

/// The kind of a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// A ratio (better = higher), at least `wanted` times.
    #[default]
    Times,
    /// A duration in ms, at most `wanted`.
    MaxMs,
    /// A count, at most `wanted`.
    Max,
}

impl TargetCheck {
    fn new(what: impl Into<String>, goal: Goal, wanted: f64, got: Option<f64>) -> TargetCheck {
        let met = got.is_some_and(|g| match goal {
            Goal::Times => g >= wanted,
            Goal::MaxMs | Goal::Max => g <= wanted,
        });
        TargetCheck {
            what: what.into(),
            wanted,
            got,
            met,
            goal,
        }
    }

    /// "≥ 20x", "≤ 300 ms", "≤ 0".
    pub fn rule(&self) -> String {
        match self.goal {
            Goal::Times => format!(">= {}x", self.wanted),
            Goal::MaxMs => format!("<= {} ms", self.wanted),
            Goal::Max => format!("<= {}", self.wanted),
        }
    }

    /// The measured value in the rule's unit.
    pub fn got_text(&self) -> Option<String> {
        self.got.map(|g| match self.goal {
            Goal::Times => super::fmt::times(Some(g)),
            Goal::MaxMs => super::fmt::dur(g * 1e6),
            Goal::Max => format!("{g:.0}"),
        })
    }
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
        core_btf: e.core_btf.clone(),
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
        open_profile: e.open_profile.clone(),
        gaps,
        via_procfs,
        records: e.records.clone(),
        unread_queue_items: e.ops.get("queues").map_or(0, |o| o.unavailable_items),
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
        mm_readers: s
            .mm_readers
            .iter()
            .map(|r| MmReaderSummary {
                reader: r.reader.clone(),
                unavailable: r.unavailable.clone(),
                read: Summary::of(&r.ns),
                vmas: r.vmas,
                syscalls: r.syscalls,
            })
            .collect(),
        service: s.service.as_ref().map(|r| ServiceSummary {
            unavailable: r.unavailable.clone(),
            served: Summary::of(&r.served_ns),
            served_engines: r.served_engines.clone(),
            cold: Summary::of(&r.cold_ns),
            cold_unavailable: r.cold_unavailable.clone(),
            procfs: Summary::of(&r.procfs_ns),
        }),
    }
}

/// The targets for the crib engine (issue 13), at [`TARGET_N`] unless
/// they say otherwise. A target no run here measured has `got: None`.
fn targets(sizes: &[SizeSummary]) -> Vec<TargetCheck> {
    let at = |n: u64| sizes.iter().find(|s| s.n == n);
    let engine = |n: u64, name: &str| {
        at(n).and_then(|s| {
            s.engines
                .iter()
                .find(|e| e.engine == name && e.unavailable.is_none())
        })
    };
    let crib = engine(TARGET_N, "crib");
    let r = crib.and_then(|e| e.vs_procfs.clone()).unwrap_or_default();
    let op = |e: Option<&EngineSummary>, op: &str| e.and_then(|e| e.ops.get(op)).map(|x| x.median);
    let upstream = engine(TARGET_N, "upstream");
    let pmq = at(TARGET_N)
        .and_then(|s| s.mm_readers.iter().find(|r| r.reader == "procmap_query"))
        .and_then(|r| r.read.map(|x| x.median));
    // a refused queues operation leaves every queue item to procfs
    let unread = crib.map(|e| {
        if e.via_procfs.iter().any(|o| o == "queues") {
            (2 * e.records.sockets + e.records.pipes) as f64
        } else {
            e.unread_queue_items as f64
        }
    });
    let open_ms = crib.and_then(|e| e.load).map(|l| l.median / 1e6);
    let break_even = engine(TARGET_BREAK_EVEN_N, "crib")
        .and_then(|e| e.vs_procfs.as_ref())
        .and_then(|r| r.break_even_dumps)
        .map(|d| d as f64);
    let n = TARGET_N;
    vec![
        TargetCheck::new(
            format!("crib vs procfs speed, whole dump, N = {n}"),
            Goal::Times,
            TARGET_SPEEDUP,
            r.dump_speedup,
        ),
        TargetCheck::new(
            format!("crib vs procfs speed, files, N = {n}"),
            Goal::Times,
            TARGET_SPEEDUP,
            r.files_speedup,
        ),
        TargetCheck::new(
            format!("crib vs procfs speed, mm, N = {n}"),
            Goal::Times,
            TARGET_SPEEDUP,
            r.mm_speedup,
        ),
        TargetCheck::new(
            format!("crib vs upstream speed, files, N = {n}"),
            Goal::Times,
            TARGET_VS_UPSTREAM,
            ratio(op(upstream, "files"), op(crib, "files")),
        ),
        TargetCheck::new(
            format!("crib vs upstream speed, mm, N = {n}"),
            Goal::Times,
            TARGET_VS_UPSTREAM,
            ratio(op(upstream, "mm"), op(crib, "mm")),
        ),
        TargetCheck::new(
            format!("crib mm vs PROCMAP_QUERY, N = {n}"),
            Goal::Times,
            TARGET_VS_PROCMAP_QUERY,
            ratio(pmq, op(crib, "mm")),
        ),
        TargetCheck::new(
            format!("crib vs procfs syscalls, files, N = {n}"),
            Goal::Times,
            TARGET_SYSCALL_RATIO,
            r.files_syscall_ratio,
        ),
        TargetCheck::new(
            format!("crib vs procfs syscalls, mm, N = {n}"),
            Goal::Times,
            TARGET_SYSCALL_RATIO,
            r.mm_syscall_ratio,
        ),
        TargetCheck::new(
            format!("queue items crib leaves unread, N = {n}"),
            Goal::Max,
            0.0,
            unread,
        ),
        TargetCheck::new(
            format!("crib engine open, every operation, N = {n}"),
            Goal::MaxMs,
            TARGET_OPEN_MS,
            open_ms,
        ),
        TargetCheck::new(
            format!("dumps for crib to break even with procfs, N = {TARGET_BREAK_EVEN_N}"),
            Goal::Max,
            TARGET_BREAK_EVEN_DUMPS,
            break_even,
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
