//! The `procfs` engine: /proc, sock_diag and getsockopt (CRIU's way).

use super::{DumpEngine, EngineError, EngineKind, EngineResult, FilesDump};
use crate::model::{FileRecord, MappingRecord, Operation, PipeRecord, SocketRecord, TaskRecord};

#[derive(Default)]
pub struct ProcfsEngine {}

impl ProcfsEngine {
    pub fn new() -> Self {
        ProcfsEngine {}
    }
}

impl DumpEngine for ProcfsEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Procfs
    }
    fn task(&mut self, _pid: i32) -> EngineResult<TaskRecord> {
        Err(EngineError::unsupported(self.kind(), Operation::Task, "not yet"))
    }
    fn files(&mut self, _pid: i32) -> EngineResult<FilesDump> {
        Err(EngineError::unsupported(self.kind(), Operation::Files, "not yet"))
    }
    fn memory_map(&mut self, _pid: i32) -> EngineResult<Vec<MappingRecord>> {
        Err(EngineError::unsupported(self.kind(), Operation::MemoryMap, "not yet"))
    }
    fn sockets(&mut self, _pid: i32, _f: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
        Err(EngineError::unsupported(self.kind(), Operation::Sockets, "not yet"))
    }
    fn queues(
        &mut self,
        _pid: i32,
        _f: &[FileRecord],
        _s: &mut [SocketRecord],
        _p: &mut [PipeRecord],
    ) -> EngineResult<()> {
        Err(EngineError::unsupported(self.kind(), Operation::Queues, "not yet"))
    }
}
