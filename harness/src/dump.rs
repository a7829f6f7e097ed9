//! Running a dump: resolve the engine plan, call each operation, collect a [`Dump`].

use crate::engine::{EngineChoice, EngineError, EngineKind, EngineSet, KernelFeatures, Plan};
use crate::model::{Captured, Dump, DumpInfo, FileKind, Operation};

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("pid {pid}: no such process")]
    NoProcess { pid: i32 },
    #[error("{op} ({engine}): {source}")]
    Engine {
        op: &'static str,
        engine: EngineKind,
        #[source]
        source: EngineError,
    },
}

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
    dump_with(req, &KernelFeatures::detect())
}

pub fn dump_with(req: &DumpRequest, features: &KernelFeatures) -> Result<Dump, DumpError> {
    let pid = req.pid;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(DumpError::NoProcess { pid });
    }
    let want = |op| req.ops.contains(&op);
    let mut ops = vec![Operation::Task];
    if want(Operation::Files) || want(Operation::Sockets) || want(Operation::Queues) {
        ops.push(Operation::Files);
    }
    for op in [Operation::MemoryMap, Operation::Sockets, Operation::Queues] {
        if want(op) {
            ops.push(op);
        }
    }
    // Queues need the socket records to fill.
    if want(Operation::Queues) && !want(Operation::Sockets) {
        ops.insert(ops.len() - 1, Operation::Sockets);
    }
    let plan = Plan::resolve(req.engine, &ops, features);
    let mut set = EngineSet::default();
    let mut info = DumpInfo::default();
    let run = |op: Operation| {
        let engine = plan.engine_for(op).unwrap_or(EngineKind::Procfs);
        (engine, move |source| DumpError::Engine {
            op: op.name(),
            engine,
            source,
        })
    };

    let (k, e) = run(Operation::Task);
    info.engines.push((Operation::Task, k.name().into()));
    let task = set.get(k).and_then(|en| en.task(pid)).map_err(e)?;
    let mut dump = Dump {
        info,
        task,
        files: Vec::new(),
        contents: Vec::new(),
        pipes: Vec::new(),
        mappings: Vec::new(),
        sockets: Vec::new(),
    };
    for &op in &ops[1..] {
        let (k, e) = run(op);
        dump.info.engines.push((op, k.name().into()));
        let engine = set.get(k).map_err(e)?;
        let (_, e) = run(op);
        match op {
            Operation::Files => {
                let f = engine.files(pid).map_err(e)?;
                dump.files = f.files;
                dump.contents = f.contents;
                dump.pipes = f.pipes;
            }
            Operation::MemoryMap => dump.mappings = engine.memory_map(pid).map_err(e)?,
            Operation::Sockets => dump.sockets = engine.sockets(pid, &dump.files).map_err(e)?,
            Operation::Queues => engine
                .queues(pid, &dump.files, &mut dump.sockets, &mut dump.pipes)
                .map_err(e)?,
            Operation::Task => {}
        }
    }
    dump.info.notes = limits(&dump);
    dump.normalize();
    Ok(dump)
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
