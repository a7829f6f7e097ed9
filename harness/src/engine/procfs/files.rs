//! Descriptors from /proc/PID/fd + fdinfo + stat, pipes, unlinked contents.

use super::{io_err, parse_err};
use crate::engine::{EngineResult, FilesDump};
use crate::model::{
    Captured, DevId, FileContents, FileKind, FileRecord, PipeRecord, OPEN_FLAGS_MASK,
};
use std::os::unix::fs::MetadataExt;

/// Largest unlinked file whose contents the dump saves.
pub const MAX_UNLINKED_BYTES: u64 = 64 << 20;
const O_CLOEXEC: u32 = 0o2000000;

pub fn read_files(pid: i32) -> EngineResult<FilesDump> {
    let dir = format!("/proc/{pid}/fd");
    let mut fds: Vec<i32> = std::fs::read_dir(&dir)
        .map_err(io_err(pid, &dir))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let mut out = FilesDump::default();
    let mut pipes_seen = std::collections::BTreeSet::new();
    for fd in fds {
        let Some(rec) = read_one(pid, fd)? else {
            continue; // closed while we looked
        };
        if rec.kind == FileKind::Pipe && pipes_seen.insert(rec.ino) {
            out.pipes.push(PipeRecord {
                ino: rec.ino,
                data: Captured::unavailable("pipe buffers are read by the queues operation"),
            });
        }
        if rec.kind == FileKind::Regular && rec.unlinked {
            out.contents.push(read_unlinked(pid, fd, rec.size)?);
        }
        out.files.push(rec);
    }
    Ok(out)
}

fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

fn read_one(pid: i32, fd: i32) -> EngineResult<Option<FileRecord>> {
    let link = format!("/proc/{pid}/fd/{fd}");
    let target = match std::fs::read_link(&link) {
        Ok(t) => t.to_string_lossy().into_owned(),
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(io_err(pid, &link)(e)),
    };
    let info_path = format!("/proc/{pid}/fdinfo/{fd}");
    let info = match std::fs::read_to_string(&info_path) {
        Ok(t) => t,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(io_err(pid, &info_path)(e)),
    };
    let (pos, raw_flags) =
        parse_fdinfo(&info).map_err(|e| parse_err(pid, format!("{info_path}: {e}")))?;
    let meta = match std::fs::metadata(&link) {
        Ok(m) => m,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(io_err(pid, &link)(e)),
    };
    let mut kind = FileKind::from_mode(meta.mode());
    if target.starts_with("anon_inode:") {
        kind = FileKind::AnonInode;
    }
    let unlinked = kind == FileKind::Regular && meta.nlink() == 0;
    let path = target
        .strip_suffix(" (deleted)")
        .unwrap_or(&target)
        .to_string();
    Ok(Some(FileRecord {
        fd,
        flags: raw_flags & OPEN_FLAGS_MASK,
        cloexec: raw_flags & O_CLOEXEC != 0,
        pos,
        kind,
        path: path.into(),
        unlinked,
        ino: meta.ino(),
        dev: DevId::from_user(meta.dev()),
        mode: meta.mode(),
        size: if kind == FileKind::Regular {
            meta.size()
        } else {
            0
        },
    }))
}

/// `pos:` (decimal) and `flags:` (octal) of an fdinfo file.
pub fn parse_fdinfo(text: &str) -> Result<(u64, u32), String> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':').map(str::trim))
            .ok_or_else(|| format!("no {k} line"))
    };
    let pos = get("pos")?.parse().map_err(|e| format!("pos: {e}"))?;
    let flags = u32::from_str_radix(get("flags")?, 8).map_err(|e| format!("flags: {e}"))?;
    Ok((pos, flags))
}

/// The contents of an unlinked file, through the task's own descriptor link.
fn read_unlinked(pid: i32, fd: i32, size: u64) -> EngineResult<FileContents> {
    let link = format!("/proc/{pid}/fd/{fd}");
    if size > MAX_UNLINKED_BYTES {
        return Err(parse_err(
            pid,
            format!(
                "{link}: unlinked file of {size} bytes is over the {MAX_UNLINKED_BYTES}-byte limit"
            ),
        ));
    }
    let data = std::fs::read(&link).map_err(io_err(pid, &link))?;
    Ok(FileContents { fd, data })
}
