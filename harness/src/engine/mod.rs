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
//!   supports ([`KernelFeatures`], read from BTF, never from the version)
//!   and that loaded there (a program its verifier refused rules out its
//!   operation only); each [`Step`] says why better engines were passed over;
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
pub mod core_btf;
pub mod crib;
pub mod features;
pub mod procfs;
pub mod progload;
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

    /// Whether this engine, as loaded on this kernel, can run `op` (`Err`:
    /// why not, e.g. the verifier refused its program). Checked by
    /// `--engine auto` before it picks the engine.
    fn check(&self, _op: Operation) -> Result<(), String> {
        Ok(())
    }
}

static OPENS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times this process opened (loaded) a BPF engine: a dump must
/// load each engine once, however many operations probe it.
pub fn bpf_engine_opens() -> usize {
    OPENS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Open an engine by kind, every program loaded.
pub fn open_engine(kind: EngineKind) -> EngineResult<Box<dyn DumpEngine>> {
    open_engine_for(kind, &Operation::ALL, None)
}

/// Open an engine with the programs of `ops` only: a cold dump of files
/// alone does not verify the memory-map program. `known`: the running
/// kernel's features when the caller has read them already (`None`: read
/// here; each read is a pass over the kernel's BTF).
pub fn open_engine_for(
    kind: EngineKind,
    ops: &[Operation],
    known: Option<&KernelFeatures>,
) -> EngineResult<Box<dyn DumpEngine>> {
    // A BPF engine's open: counted, and the features it loads against.
    let bpf_open = || {
        OPENS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        known.cloned().unwrap_or_else(KernelFeatures::detect)
    };
    match kind {
        EngineKind::Procfs => Ok(Box::new(procfs::ProcfsEngine::new())),
        EngineKind::Upstream => Ok(Box::new(upstream::UpstreamEngine::open_for(
            &bpf_open(),
            ops,
            false,
        )?)),
        EngineKind::Crib => Ok(Box::new(crib::CribEngine::open_for_kernel(
            ops,
            None,
            &bpf_open(),
        )?)),
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

/// One operation of a plan: the engine that runs it and why each better
/// engine was passed over (shown by `crib dump`, kept in the dump's notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub op: Operation,
    pub engine: EngineKind,
    pub passed_over: Vec<(EngineKind, String)>,
}

impl Step {
    /// `mm: procfs (crib passed over: ...; upstream passed over: ...)`.
    pub fn explain(&self) -> String {
        let mut s = format!("{}: {}", self.op.name(), self.engine);
        if !self.passed_over.is_empty() {
            let why: Vec<String> = self
                .passed_over
                .iter()
                .map(|(k, r)| format!("{k} passed over: {r}"))
                .collect();
            s.push_str(&format!(" ({})", why.join("; ")));
        }
        s
    }
}

/// Which engine runs which operation, resolved once per dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// Why `kind` is not a candidate for `op` on a kernel with features `f`.
fn not_a_candidate(kind: EngineKind, op: Operation, f: &KernelFeatures) -> String {
    if !kind.implements(op) {
        return match kind {
            EngineKind::Upstream => upstream::QUEUES_UNSUPPORTED.to_string(),
            _ => format!("{kind} has no {} reader", op.name()),
        };
    }
    match kind {
        EngineKind::Crib => format!(
            "{} (missing from its BTF: {})",
            crib::NO_KFUNCS,
            crib::missing_kfuncs(f).join(", ")
        ),
        EngineKind::Upstream => format!(
            "this kernel's BTF has no {} BPF iterator",
            match op {
                Operation::Task => "task",
                Operation::MemoryMap => "task_vma",
                _ => "task_file",
            }
        ),
        EngineKind::Procfs => "procfs is always there".into(),
    }
}

impl Plan {
    /// `auto`: per operation, the best candidate that opens on this kernel
    /// and can run the operation (its programs passed the verifier);
    /// `Fixed`: that engine for every operation it implements. Engines are
    /// opened in `set`, which the dump then uses: a probed engine is loaded
    /// once, never twice.
    pub fn resolve(
        choice: EngineChoice,
        ops: &[Operation],
        f: &KernelFeatures,
        set: &mut EngineSet,
    ) -> Plan {
        let steps = ops
            .iter()
            .map(|&op| match choice {
                EngineChoice::Fixed(k) if k.implements(op) => Step {
                    op,
                    engine: k,
                    passed_over: Vec::new(),
                },
                // A forced engine that has no way to do `op` at all
                // (upstream BPF and socket queues): the oracle does it,
                // and the dump records which engine ran.
                EngineChoice::Fixed(k) => Step {
                    op,
                    engine: EngineKind::Procfs,
                    passed_over: vec![(k, not_a_candidate(k, op, f))],
                },
                EngineChoice::Auto => {
                    let cands = candidates(op, f);
                    let mut passed_over = Vec::new();
                    let mut engine = EngineKind::Procfs;
                    for k in EngineKind::ALL {
                        if k == EngineKind::Procfs {
                            break;
                        }
                        if !cands.contains(&k) {
                            passed_over.push((k, not_a_candidate(k, op, f)));
                            continue;
                        }
                        match set
                            .get(k)
                            .map_err(|e| e.to_string())
                            .and_then(|e| e.check(op))
                        {
                            Ok(()) => {
                                engine = k;
                                break;
                            }
                            Err(why) => passed_over.push((k, why)),
                        }
                    }
                    Step {
                        op,
                        engine,
                        passed_over,
                    }
                }
            })
            .collect();
        Plan { steps }
    }

    pub fn engine_for(&self, op: Operation) -> Option<EngineKind> {
        self.step(op).map(|s| s.engine)
    }

    pub fn step(&self, op: Operation) -> Option<&Step> {
        self.steps.iter().find(|s| s.op == op)
    }
}

/// Opened engines, one instance per kind, reused across operations. An
/// engine that failed to open is not tried again: its error is kept.
#[derive(Default)]
pub struct EngineSet {
    open: Vec<Box<dyn DumpEngine>>,
    failed: Vec<(EngineKind, String)>,
    /// Engines open with these operations' programs only (`None`: all, as
    /// a resident engine wants).
    ops: Option<Vec<Operation>>,
    /// The running kernel's features, once read (an `auto` dump's plan
    /// read them; engines opened later do not read BTF again).
    features: Option<KernelFeatures>,
}

impl EngineSet {
    /// A set for one dump of `ops`: engines load only what those need.
    pub fn for_ops(ops: &[Operation]) -> EngineSet {
        EngineSet {
            ops: Some(ops.to_vec()),
            ..EngineSet::default()
        }
    }

    pub fn get(&mut self, kind: EngineKind) -> EngineResult<&mut dyn DumpEngine> {
        if let Some((_, why)) = self.failed.iter().find(|(k, _)| *k == kind) {
            return Err(EngineError::Unsupported {
                engine: kind,
                op: "open",
                reason: why.clone(),
            });
        }
        let idx = match self.open.iter().position(|e| e.kind() == kind) {
            Some(i) => i,
            None => match open_engine_for(
                kind,
                self.ops.as_deref().unwrap_or(&Operation::ALL),
                self.features.as_ref(),
            ) {
                Ok(e) => {
                    self.open.push(e);
                    self.open.len() - 1
                }
                Err(e) => {
                    let why = match &e {
                        EngineError::Unsupported { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    self.failed.push((kind, why));
                    return Err(e);
                }
            },
        };
        Ok(self.open[idx].as_mut())
    }

    /// The running kernel's features as read by the caller: engines this
    /// set opens from now on use them instead of reading BTF again.
    pub fn know_features(&mut self, f: &KernelFeatures) {
        if self.features.is_none() {
            self.features = Some(f.clone());
        }
    }

    /// Use `engine` for its kind instead of opening one (tests, and callers
    /// that keep an engine open across dumps).
    pub fn insert(&mut self, engine: Box<dyn DumpEngine>) {
        let kind = engine.kind();
        self.open.retain(|e| e.kind() != kind);
        self.failed.retain(|(k, _)| *k != kind);
        self.open.push(engine);
    }
}
