//! The `procfs` engine: /proc, sock_diag and getsockopt (CRIU's way).
//!
//! It is the oracle for everything procfs can show and the benchmark
//! baseline. Sockets and queues are read through a copy of the target's
//! descriptor (`pidfd_getfd`, Linux >= 5.6): getsockopt, MSG_PEEK with
//! SO_PEEK_OFF, TCP_REPAIR for TCP sequence numbers and queues, tee(2) for
//! pipe buffers. What it cannot see (the write queue of a corked UDP socket)
//! is reported as `Captured::Unavailable`.

mod files;
mod maps;
mod queues;
pub mod sockets;
mod task;
mod unix_diag;

pub use files::{parse_fdinfo, MAX_UNLINKED_BYTES};
pub use maps::parse_smaps;
pub use task::own_pidns_level;

use super::{DumpEngine, EngineError, EngineKind, EngineResult, FilesDump};
use crate::model::{FileRecord, MappingRecord, PipeRecord, SocketRecord, TaskRecord};

#[derive(Default)]
pub struct ProcfsEngine {}

impl ProcfsEngine {
    pub fn new() -> Self {
        ProcfsEngine {}
    }
}

pub(crate) fn io_err(pid: i32, what: &str) -> impl FnOnce(std::io::Error) -> EngineError {
    let what = what.to_string();
    move |source| EngineError::Io {
        engine: EngineKind::Procfs,
        pid,
        what,
        source,
    }
}

pub(crate) fn parse_err(pid: i32, what: impl Into<String>) -> EngineError {
    EngineError::Parse {
        engine: EngineKind::Procfs,
        pid,
        what: what.into(),
    }
}

impl DumpEngine for ProcfsEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Procfs
    }
    fn task(&mut self, pid: i32) -> EngineResult<TaskRecord> {
        task::read_task(pid)
    }
    fn files(&mut self, pid: i32) -> EngineResult<FilesDump> {
        files::read_files(pid)
    }
    fn memory_map(&mut self, pid: i32) -> EngineResult<Vec<MappingRecord>> {
        maps::read_maps(pid)
    }
    fn sockets(&mut self, pid: i32, files: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
        sockets::read_sockets(pid, files)
    }
    fn queues(
        &mut self,
        pid: i32,
        files: &[FileRecord],
        sockets: &mut [SocketRecord],
        pipes: &mut [PipeRecord],
    ) -> EngineResult<()> {
        queues::read_queues(pid, files, sockets, pipes)
    }
}
