//! Timing one engine in this process: open (load) repeatedly, the first
//! dump, then warm dumps with the engine resident, each operation timed on
//! its own. `once` is the strace-marked variant of one warm dump.

use crate::schema::{EngineRun, OpRun, Records};
use crate::{clock, marks};
use anyhow::{bail, Context, Result};
use crib_harness::engine::procfs::ProcfsEngine;
use crib_harness::engine::{core_btf, open_engine, DumpEngine, EngineError, EngineKind};
use crib_harness::model::{Captured, FileRecord, PipeRecord, SocketRecord};
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct OnceArgs {
    #[arg(long)]
    pub pid: i32,
    #[arg(long)]
    pub engine: String,
    /// Marked dumps to run (more than 1 for profiling with perf).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Engine opens before the dumps, each dropped but the last (more than
    /// 1 for profiling the open with perf).
    #[arg(long, default_value_t = 1)]
    pub opens: usize,
}

/// What one dump produced, per operation: `Ok(ns)` or the refusal reason.
struct OneDump {
    ops: Vec<(&'static str, std::result::Result<u64, String>, u64)>,
    records: Records,
}

/// Run `f`; an `Unsupported` refusal is a result, any other error is fatal.
fn timed<T>(
    op: &'static str,
    mark: bool,
    f: impl FnOnce() -> Result<T, EngineError>,
) -> Result<(std::result::Result<u64, String>, Option<T>)> {
    if mark {
        marks::begin(op);
    }
    let t = clock::start();
    let r = f();
    let ns = t.elapsed_ns();
    if mark {
        marks::end(op);
    }
    match r {
        Ok(v) => Ok((Ok(ns), Some(v))),
        Err(e @ EngineError::Unsupported { .. }) => Ok((Err(e.to_string()), None)),
        Err(e) => Err(e).with_context(|| format!("operation {op}")),
    }
}

fn queue_bytes<T>(q: &Captured<Vec<T>>, len: impl Fn(&T) -> usize) -> (u64, u64) {
    match q {
        Captured::Data(v) => (v.iter().map(len).sum::<usize>() as u64, 0),
        Captured::Unavailable { .. } => (0, 1),
    }
}

/// The input later operations need when this engine refused one: read with
/// procfs, untimed and outside the counted regions (what `crib dump` does:
/// the refused operation runs on procfs, the rest on this engine).
fn fallback<T>(
    op: &str,
    mark: bool,
    f: impl FnOnce(&mut ProcfsEngine) -> Result<T, EngineError>,
) -> Result<T> {
    let label = format!("{}{op}", crate::strace::FALLBACK);
    if mark {
        marks::begin(&label);
    }
    let r = f(&mut ProcfsEngine::new());
    if mark {
        marks::end(&label);
    }
    r.with_context(|| format!("procfs {op} (input for the operations after a refused one)"))
}

/// Task, files, memory map, sockets, queues: the whole dump, each timed.
fn dump_once(engine: &mut dyn DumpEngine, pid: i32, mark: bool) -> Result<OneDump> {
    let mut ops = Vec::new();
    let (r, _) = timed("task", mark, || engine.task(pid))?;
    ops.push(("task", r, 0));
    let (r, files) = timed("files", mark, || engine.files(pid))?;
    ops.push(("files", r, 0));
    let files = match files {
        Some(f) => f,
        None => fallback("files", mark, |p| p.files(pid))?,
    };
    let (r, maps) = timed("mm", mark, || engine.memory_map(pid))?;
    ops.push(("mm", r, 0));
    let fds: &[FileRecord] = &files.files;
    let (r, socks) = timed("sockets", mark, || engine.sockets(pid, fds))?;
    ops.push(("sockets", r, 0));
    let mut socks: Vec<SocketRecord> = match socks {
        Some(s) => s,
        None => fallback("sockets", mark, |p| p.sockets(pid, fds))?,
    };
    let mut pipes: Vec<PipeRecord> = files.pipes.clone();
    let (r, _) = timed("queues", mark, || {
        engine.queues(pid, fds, &mut socks, &mut pipes)
    })?;
    let mut queued = 0;
    let mut missing = 0;
    for s in &socks {
        for q in [&s.recv_queue, &s.write_queue] {
            let (b, m) = queue_bytes(q, |seg| seg.data.len());
            queued += b;
            missing += m;
        }
    }
    for p in &pipes {
        match &p.data {
            Captured::Data(d) => queued += d.len() as u64,
            Captured::Unavailable { .. } => missing += 1,
        }
    }
    ops.push(("queues", r, missing));
    Ok(OneDump {
        ops,
        records: Records {
            files: files.files.len() as u64,
            mappings: maps.map(|m| m.len() as u64).unwrap_or(0),
            sockets: socks.len() as u64,
            pipes: pipes.len() as u64,
            queued_bytes: queued,
        },
    })
}

pub fn parse_kind(name: &str) -> Result<EngineKind> {
    match EngineKind::parse(name) {
        Some(k) => Ok(k),
        None => bail!("unknown engine {name:?} (crib, upstream or procfs)"),
    }
}

/// How many times to repeat.
#[derive(Debug, Clone, Copy)]
pub struct Reps {
    pub loads: usize,
    pub dumps: usize,
}

fn unavailable(kind: EngineKind, why: String) -> EngineRun {
    EngineRun {
        engine: kind.name().into(),
        unavailable: Some(why),
        load_ns: Vec::new(),
        core_btf: Vec::new(),
        first_dump_ns: None,
        total_ns: Vec::new(),
        ops: BTreeMap::new(),
        records: Records::default(),
        syscalls: None,
        load_syscalls: None,
        profile: Vec::new(),
        open_profile: Vec::new(),
        criu_stats: None,
    }
}

/// Measure one engine against `pid`: `reps.loads` opens, one cold dump,
/// `reps.dumps` warm dumps. Records must not change between dumps (the
/// dumps must not disturb the target); a change is an error.
pub fn measure(kind: EngineKind, pid: i32, reps: Reps) -> EngineRun {
    match measure_inner(kind, pid, reps) {
        Ok(r) => r,
        Err(e) => unavailable(kind, format!("{e:#}")),
    }
}

fn measure_inner(kind: EngineKind, pid: i32, reps: Reps) -> Result<EngineRun> {
    let mut load_ns = Vec::new();
    let mut engine = None;
    let mut core_btf = Vec::new();
    let loads = reps.loads.max(1);
    for i in 0..loads {
        drop(engine.take());
        core_btf::take_outcome();
        let t = clock::start();
        let e = open_engine(kind).map_err(|e| anyhow::anyhow!("cannot open: {e}"))?;
        load_ns.push(t.elapsed_ns());
        if let Some(o) = core_btf::take_outcome().filter(|_| i == 0 || i + 1 == loads) {
            core_btf.push(format!("open {}: {o}", i + 1));
        }
        engine = Some(e);
    }
    let Some(mut engine) = engine else {
        bail!("no engine opened");
    };
    let t = clock::start();
    let first = dump_once(engine.as_mut(), pid, false).context("first dump")?;
    let first_ns = t.elapsed_ns();

    let mut ops: BTreeMap<String, OpRun> = BTreeMap::new();
    let mut total_ns = Vec::new();
    for rep in 0..reps.dumps {
        let d =
            dump_once(engine.as_mut(), pid, false).with_context(|| format!("dump {}", rep + 1))?;
        if d.records != first.records {
            bail!(
                "dump {} saw different records than the first ({:?} vs {:?}): the target changed",
                rep + 1,
                d.records,
                first.records
            );
        }
        let mut total = 0;
        for (name, r, missing) in d.ops {
            let o = ops.entry(name.to_string()).or_default();
            o.unavailable_items = missing;
            match r {
                Ok(ns) => {
                    o.ns.push(ns);
                    total += ns;
                }
                Err(why) => o.unsupported = Some(why),
            }
        }
        total_ns.push(total);
    }
    Ok(EngineRun {
        engine: kind.name().into(),
        unavailable: None,
        load_ns,
        core_btf,
        first_dump_ns: Some(first_ns),
        total_ns,
        ops,
        records: first.records,
        syscalls: None,
        load_syscalls: None,
        profile: Vec::new(),
        open_profile: Vec::new(),
        criu_stats: None,
    })
}

/// `crib-bench once`: load (marked), one unmarked warm-up dump, one marked dump.
pub fn once(a: OnceArgs) -> Result<()> {
    let kind = parse_kind(&a.engine)?;
    let mut engine = None;
    for _ in 0..a.opens.max(1) {
        drop(engine.take());
        marks::begin("load");
        let e = open_engine(kind);
        marks::end("load");
        engine = Some(e.map_err(|e| anyhow::anyhow!("cannot open {kind}: {e}"))?);
    }
    let Some(mut engine) = engine else {
        bail!("no engine opened");
    };
    dump_once(engine.as_mut(), a.pid, false).context("warm-up dump")?;
    for _ in 0..a.repeat.max(1) {
        marks::begin("dump");
        let d = dump_once(engine.as_mut(), a.pid, true);
        marks::end("dump");
        d.context("marked dump")?;
    }
    Ok(())
}
