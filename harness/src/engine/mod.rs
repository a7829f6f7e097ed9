//! Dump engines behind one trait, and per-operation engine selection.
//!
//! Engines: [`procfs`] (the oracle), `upstream` (BPF iterators + upstream
//! kfuncs) and `crib` (CRIB kfuncs, patched kernel). Adding one: implement
//! [`DumpEngine`], add an arm to [`open_engine`], say in
//! [`EngineKind::implements`] which operations it has no way to do at all,
//! and add it to `ENGINES` in tests/tests/test_differential.rs. `crib dump`,
//! the ZDTM runner and the differential tests all go through
//! [`open_engine`] / [`EngineSet`].
//!
//! Selection is per [`Operation`] ([`Plan::resolve`]):
//! - `--engine auto`: for each operation the best engine the running kernel
//!   supports ([`KernelFeatures`], read from BTF, never from the version);
//! - `--engine NAME`: that engine for every operation it implements, procfs
//!   for the others (upstream BPF has no queue reader); the dump records it.
//!   A runtime [`EngineError::Unsupported`] (e.g. crib on a stock kernel) is
//!   an error, not a silent fallback.
//!
//! Contract for [`DumpEngine::queues`]: an item the engine cannot read is
//! `Captured::Unavailable { reason }`, never an empty value. After a non-procfs
//! engine's queue pass, the dump asks procfs to fill what it left unread and
//! notes it (`queues: crib could not read pipe 12; procfs did`); what neither
//! can read (a corked UDP write queue outside the crib engine) stays
//! `Unavailable` and restore refuses it.

pub mod bpfobj;
pub mod convert;
pub mod crib;
pub mod features;
pub mod procfs;
pub mod unlinked;
pub mod upstream;
pub mod wire;

pub use features::KernelFeatures;

use crate::model::{
    FileContents, FileRecord, MappingRecord, Operation, PipeRecord, SocketRecord, TaskRecord,
};
use std::fmt;

/// The engines, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineKind {
    /// SEC("crib") / SEC("syscall") programs using the CRIB kfuncs (patched kernel).
    Crib,
    /// BPF iterators + upstream kfuncs (stock kernels).
    Upstream,
    /// /proc, sock_diag, getsockopt via pidfd_getfd (CRIU's way).
    Procfs,
}

impl EngineKind {
    pub const ALL: [EngineKind; 3] = [EngineKind::Crib, EngineKind::Upstream, EngineKind::Procfs];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Crib => "crib",
            EngineKind::Upstream => "upstream",
            EngineKind::Procfs => "procfs",
        }
    }

    pub fn parse(s: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether this engine has any way to do `op` (independent of the
    /// kernel): upstream BPF cannot walk skb queues or pipe buffers.
    pub fn implements(self, op: Operation) -> bool {
        !(self == EngineKind::Upstream && op == Operation::Queues)
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--engine auto|crib|upstream|procfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Auto,
    Fixed(EngineKind),
}

impl EngineChoice {
    pub fn parse(s: &str) -> Option<EngineChoice> {
        if s == "auto" {
            Some(EngineChoice::Auto)
        } else {
            EngineKind::parse(s).map(EngineChoice::Fixed)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine {engine} cannot do {op}: {reason}")]
    Unsupported {
        engine: EngineKind,
        op: &'static str,
        reason: String,
    },
    #[error("engine {engine}: pid {pid}: {what}: {source}")]
    Io {
        engine: EngineKind,
        pid: i32,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("engine {engine}: pid {pid}: {what}")]
    Parse {
        engine: EngineKind,
        pid: i32,
        what: String,
    },
}

impl EngineError {
    pub fn unsupported(engine: EngineKind, op: Operation, reason: impl Into<String>) -> Self {
        EngineError::Unsupported {
            engine,
            op: op.name(),
            reason: reason.into(),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// Files and pipes found by one pass over the descriptor table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesDump {
    pub files: Vec<FileRecord>,
    /// Contents of unlinked regular files (see docs/image-format.md).
    pub contents: Vec<FileContents>,
    /// Pipes referenced by the descriptors; `data` may be filled later by
    /// [`DumpEngine::queues`].
    pub pipes: Vec<PipeRecord>,
}

/// One way of reading a task's kernel state. `pid` is in the dumper's pid
/// namespace. Every method may return [`EngineError::Unsupported`].
pub trait DumpEngine {
    fn kind(&self) -> EngineKind;

    /// Task identity and namespaces.
    fn task(&mut self, pid: i32) -> EngineResult<TaskRecord>;

    /// Every open descriptor, plus the pipes they reference. Pipe data is
    /// left `Unavailable` here unless this engine reads it in the same pass.
    fn files(&mut self, pid: i32) -> EngineResult<FilesDump>;

    /// Every VMA.
    fn memory_map(&mut self, pid: i32) -> EngineResult<Vec<MappingRecord>>;

    /// Every socket referenced by `files` (kind == Socket), without queue
    /// contents (queues left `Unavailable`).
    fn sockets(&mut self, pid: i32, files: &[FileRecord]) -> EngineResult<Vec<SocketRecord>>;

    /// Fill socket receive/write queues and pipe buffers. Must set
    /// `Captured::Unavailable { reason }` for what it cannot read, never an
    /// empty queue it did not actually see.
    fn queues(
        &mut self,
        pid: i32,
        files: &[FileRecord],
        sockets: &mut [SocketRecord],
        pipes: &mut [PipeRecord],
    ) -> EngineResult<()>;
}

/// Open an engine by kind. BPF engineer: replace the two arms below.
pub fn open_engine(kind: EngineKind) -> EngineResult<Box<dyn DumpEngine>> {
    match kind {
        EngineKind::Procfs => Ok(Box::new(procfs::ProcfsEngine::new())),
        EngineKind::Upstream => Ok(Box::new(upstream::UpstreamEngine::open()?)),
        EngineKind::Crib => Ok(Box::new(crib::CribEngine::open()?)),
    }
}

/// Engines the running kernel can support for `op`, best first.
pub fn candidates(op: Operation, f: &KernelFeatures) -> Vec<EngineKind> {
    let mut v = Vec::new();
    let crib = match op {
        Operation::Task => f.task_from_vpid,
        Operation::Files => f.crib_file_from_fd || f.crib_file_iter,
        Operation::MemoryMap => f.task_vma_iter_kfunc,
        Operation::Sockets => f.crib_sock_from_file,
        Operation::Queues => f.crib_skb_iter,
    };
    if crib && f.crib_file_from_fd {
        v.push(EngineKind::Crib);
    }
    let upstream = match op {
        Operation::Task => f.task_from_vpid || f.iter_task,
        Operation::Files => f.iter_task_file,
        Operation::MemoryMap => f.iter_task_vma || f.task_vma_iter_kfunc,
        Operation::Sockets => f.iter_task_file,
        // Upstream BPF cannot walk skb queues: procfs (peek/repair) does it.
        Operation::Queues => false,
    };
    if upstream {
        v.push(EngineKind::Upstream);
    }
    v.push(EngineKind::Procfs);
    v
}

/// Which engine runs which operation, resolved once per dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<(Operation, EngineKind)>,
}

impl Plan {
    /// `auto`: the best candidate whose engine can be opened; `Fixed`: that
    /// engine for every operation.
    pub fn resolve(choice: EngineChoice, ops: &[Operation], f: &KernelFeatures) -> Plan {
        // Opening a BPF engine loads programs: probe each kind at most once.
        let mut usable: Vec<(EngineKind, bool)> = Vec::new();
        let mut can_open = |k: EngineKind| match usable.iter().find(|(x, _)| *x == k) {
            Some(&(_, ok)) => ok,
            None => {
                let ok = open_engine(k).is_ok();
                usable.push((k, ok));
                ok
            }
        };
        let steps = ops
            .iter()
            .map(|&op| {
                let kind = match choice {
                    EngineChoice::Fixed(k) if k.implements(op) => k,
                    // A forced engine that has no way to do `op` at all
                    // (upstream BPF and socket queues): the oracle does it,
                    // and the dump records which engine ran.
                    EngineChoice::Fixed(_) => EngineKind::Procfs,
                    EngineChoice::Auto => candidates(op, f)
                        .into_iter()
                        .find(|&k| k == EngineKind::Procfs || can_open(k))
                        .unwrap_or(EngineKind::Procfs),
                };
                (op, kind)
            })
            .collect();
        Plan { steps }
    }

    pub fn engine_for(&self, op: Operation) -> Option<EngineKind> {
        self.steps.iter().find(|(o, _)| *o == op).map(|(_, k)| *k)
    }
}

/// Opened engines, one instance per kind, reused across operations.
#[derive(Default)]
pub struct EngineSet {
    open: Vec<Box<dyn DumpEngine>>,
}

impl EngineSet {
    pub fn get(&mut self, kind: EngineKind) -> EngineResult<&mut dyn DumpEngine> {
        let idx = match self.open.iter().position(|e| e.kind() == kind) {
            Some(i) => i,
            None => {
                self.open.push(open_engine(kind)?);
                self.open.len() - 1
            }
        };
        Ok(self.open[idx].as_mut())
    }
}
