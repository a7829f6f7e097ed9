//! Running a dump: resolve the engine plan, call each operation, collect a [`Dump`].

use crate::engine::DumpEngine;
use crate::engine::{EngineChoice, EngineError, EngineKind, EngineSet, KernelFeatures, Plan};
use crate::model::{Captured, Dump, DumpInfo, FileKind, Operation, TaskRecord};

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("pid {pid}: no such process")]
    NoProcess { pid: i32 },
    #[error("{op} ({engine}): {cause}")]
    Engine {
        op: &'static str,
        engine: EngineKind,
        cause: EngineError,
    },
}

/// Notes that say which engine ran an operation start with this.
pub const ENGINE_NOTE: &str = "engine for ";

/// What to dump and how.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    pub pid: i32,
    pub engine: EngineChoice,
    /// Operations to run (Task always runs; Files runs when sockets or queues need it).
    pub ops: Vec<Operation>,
}

impl DumpRequest {
    pub fn all(pid: i32, engine: EngineChoice) -> Self {
        DumpRequest {
            pid,
            engine,
            ops: Operation::ALL.to_vec(),
        }
    }
}

/// Dump a task with the engines the plan picks.
pub fn dump(req: &DumpRequest) -> Result<Dump, DumpError> {
    // Only `auto` needs to know the kernel; a fixed engine skips reading BTF.
    let features = match req.engine {
        EngineChoice::Auto => KernelFeatures::detect(),
        EngineChoice::Fixed(_) => KernelFeatures::default(),
    };
    dump_with(req, &features)
}

pub fn dump_with(req: &DumpRequest, features: &KernelFeatures) -> Result<Dump, DumpError> {
    dump_in(
        req,
        features,
        &mut EngineSet::for_ops(&needed_ops(&req.ops)),
    )
}

/// The operations a dump of `wanted` runs (files for sockets and queues,
/// sockets for queues, the task always).
pub fn needed_ops(wanted: &[Operation]) -> Vec<Operation> {
    let want = |op| wanted.contains(&op);
    let mut ops = vec![Operation::Task];
    if want(Operation::Files) || want(Operation::Sockets) || want(Operation::Queues) {
        ops.push(Operation::Files);
    }
    for op in [Operation::MemoryMap, Operation::Sockets, Operation::Queues] {
        if want(op) || (op == Operation::Sockets && want(Operation::Queues)) {
            ops.push(op);
        }
    }
    ops
}

/// [`dump_with`] with the engines of `set` (opened as needed and kept
/// there: a resident caller loads each engine once for many dumps).
pub fn dump_in(
    req: &DumpRequest,
    features: &KernelFeatures,
    set: &mut EngineSet,
) -> Result<Dump, DumpError> {
    let pid = req.pid;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(DumpError::NoProcess { pid });
    }
    let ops = needed_ops(&req.ops);
    // `features` is the kernel's only for `auto` (a fixed engine's caller
    // passes the default, which must not stand for the kernel).
    if req.engine == EngineChoice::Auto {
        set.know_features(features);
    }
    let plan = Plan::resolve(req.engine, &ops, features, set);
    let mut dump = Dump {
        info: DumpInfo::default(),
        task: TaskRecord {
            pid,
            vpid: 0,
            pidns_level: 0,
            comm: String::new(),
            namespaces: Default::default(),
        },
        files: Vec::new(),
        contents: Vec::new(),
        pipes: Vec::new(),
        mappings: Vec::new(),
        sockets: Vec::new(),
    };
    let mut fallbacks = Vec::new();
    for step in &plan.steps {
        let op = step.op;
        let primary = step.engine;
        let err = |engine| {
            move |source| DumpError::Engine {
                op: op.name(),
                engine,
                cause: source,
            }
        };
        set.get(primary)
            .and_then(|e| run_op(e, op, pid, &mut dump))
            .map_err(err(primary))?;
        // Which engine ran and why better ones were passed over: "engine
        // for mm: procfs (upstream passed over: program dump_vma ...)".
        fallbacks.push(format!("{ENGINE_NOTE}{}", step.explain()));
        dump.info.engines.push((op, primary.name().to_string()));
        if op == Operation::Queues && primary != EngineKind::Procfs {
            if let Some(note) = fill_queue_gaps(set, pid, &mut dump, primary)? {
                fallbacks.push(note);
            }
        }
    }
    dump.info.notes = limits(&dump);
    dump.info.notes.extend(fallbacks);
    dump.normalize();
    Ok(dump)
}

fn run_op(
    e: &mut dyn DumpEngine,
    op: Operation,
    pid: i32,
    d: &mut Dump,
) -> Result<(), EngineError> {
    match op {
        Operation::Task => d.task = e.task(pid)?,
        Operation::Files => {
            let f = e.files(pid)?;
            d.files = f.files;
            d.contents = f.contents;
            d.pipes = f.pipes;
        }
        Operation::MemoryMap => d.mappings = e.memory_map(pid)?,
        Operation::Sockets => d.sockets = e.sockets(pid, &d.files)?,
        Operation::Queues => e.queues(pid, &d.files, &mut d.sockets, &mut d.pipes)?,
    }
    Ok(())
}

/// Queues (or pipe buffers) the chosen engine left unread are read by the
/// oracle where it can, and the dump says which. The gaps procfs cannot fill
/// either (a corked UDP write queue) stay `Unavailable`.
fn fill_queue_gaps(
    set: &mut EngineSet,
    pid: i32,
    d: &mut Dump,
    primary: EngineKind,
) -> Result<Option<String>, DumpError> {
    let gap_socks: Vec<usize> = (0..d.sockets.len())
        .filter(|&i| {
            let s = &d.sockets[i];
            s.recv_queue.data().is_none() || s.write_queue.data().is_none()
        })
        .collect();
    let gap_pipes: Vec<usize> = (0..d.pipes.len())
        .filter(|&i| d.pipes[i].data.data().is_none())
        .collect();
    if gap_socks.is_empty() && gap_pipes.is_empty() {
        return Ok(None);
    }
    let mut socks: Vec<_> = gap_socks.iter().map(|&i| d.sockets[i].clone()).collect();
    let mut pipes: Vec<_> = gap_pipes.iter().map(|&i| d.pipes[i].clone()).collect();
    set.get(EngineKind::Procfs)
        .and_then(|e| e.queues(pid, &d.files, &mut socks, &mut pipes))
        .map_err(|source| DumpError::Engine {
            op: Operation::Queues.name(),
            engine: EngineKind::Procfs,
            cause: source,
        })?;
    let mut filled = Vec::new();
    for (&i, s) in gap_socks.iter().zip(socks) {
        let mine = &mut d.sockets[i];
        for (q, theirs, name) in [
            (&mut mine.recv_queue, s.recv_queue, "receive"),
            (&mut mine.write_queue, s.write_queue, "write"),
        ] {
            if q.data().is_none() && theirs.data().is_some() {
                *q = theirs;
                filled.push(format!("socket {} {name} queue", mine.ino));
            }
        }
    }
    for (&i, p) in gap_pipes.iter().zip(pipes) {
        if p.data.data().is_some() {
            d.pipes[i].data = p.data;
            filled.push(format!("pipe {}", d.pipes[i].ino));
        }
    }
    Ok((!filled.is_empty()).then(|| {
        format!(
            "queues: {primary} could not read {}; procfs did",
            filled.join(", ")
        )
    }))
}

/// Plain-language list of what the dump could not see.
pub fn limits(d: &Dump) -> Vec<String> {
    let mut notes = Vec::new();
    for s in &d.sockets {
        let fds = fds_of(d, FileKind::Socket, s.ino);
        for (name, q) in [("receive", &s.recv_queue), ("write", &s.write_queue)] {
            if let Captured::Unavailable { reason } = q {
                notes.push(format!(
                    "socket {fds} (ino {}): {name} queue not dumped: {reason}",
                    s.ino
                ));
            }
        }
    }
    for p in &d.pipes {
        if let Captured::Unavailable { reason } = &p.data {
            let fds = fds_of(d, FileKind::Pipe, p.ino);
            notes.push(format!(
                "pipe {fds} (ino {}): buffer not dumped: {reason}",
                p.ino
            ));
        }
    }
    notes
}

fn fds_of(d: &Dump, kind: FileKind, ino: u64) -> String {
    let v: Vec<String> = d
        .files
        .iter()
        .filter(|f| f.kind == kind && f.ino == ino)
        .map(|f| f.fd.to_string())
        .collect();
    format!("fd {}", v.join(","))
}
