//! Contents of open-but-unlinked regular files, for the BPF engines.
//!
//! File data is not kernel state a BPF program can copy out (page cache
//! pages are not readable from these program types), so like the procfs
//! engine the BPF engines read it through the task's own `/proc/PID/fd/N`
//! link, which still reaches an unlinked inode.

use super::{EngineError, EngineKind, EngineResult};
use crate::model::{FileContents, FileKind, FileRecord};

/// Largest unlinked file whose contents a dump saves (same as procfs).
pub const MAX_UNLINKED_BYTES: u64 = 64 << 20;

pub fn read_all(
    engine: EngineKind,
    pid: i32,
    files: &[FileRecord],
) -> EngineResult<Vec<FileContents>> {
    let mut out = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.kind == FileKind::Regular && f.unlinked)
    {
        let link = format!("/proc/{pid}/fd/{}", f.fd);
        if f.size > MAX_UNLINKED_BYTES {
            return Err(EngineError::Parse {
                engine,
                pid,
                what: format!(
                    "{link}: unlinked file of {} bytes is over the {MAX_UNLINKED_BYTES}-byte limit",
                    f.size
                ),
            });
        }
        let data = std::fs::read(&link).map_err(|source| EngineError::Io {
            engine,
            pid,
            what: link.clone(),
            source,
        })?;
        out.push(FileContents { fd: f.fd, data });
    }
    Ok(out)
}
