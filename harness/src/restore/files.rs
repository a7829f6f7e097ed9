//! Regular files, directories, devices and pipes.

use super::{Placed, RestoreError};
use crate::model::{Captured, Dump, FileKind, FileRecord};
use crate::sys;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const O_ACCMODE: u32 = 0o3;

fn open(path: &str, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let c = sys::cstring(path)?;
    // SAFETY: valid C string; result checked and owned.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: new descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reopen flags: the dumped ones minus creation-time-only bits.
fn reopen_flags(f: &FileRecord) -> i32 {
    (f.flags as i32) & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY)
}

pub fn restore_files(
    d: &Dump,
    files: &[&FileRecord],
    placed: &mut Vec<Placed>,
) -> Result<(), RestoreError> {
    for f in files {
        let fd = match f.kind {
            FileKind::Regular if f.unlinked => recreate_unlinked(d, f)?,
            FileKind::Regular
            | FileKind::Directory
            | FileKind::CharDevice
            | FileKind::BlockDevice => reopen(f)?,
            FileKind::Pipe | FileKind::Socket => continue,
            FileKind::Symlink | FileKind::AnonInode | FileKind::Unknown => {
                return Err(RestoreError::obj(
                    f,
                    format!("{:?} descriptors are not restorable", f.kind),
                ))
            }
        };
        placed.push(Placed {
            target: f.fd,
            fd,
            cloexec: f.cloexec,
        });
    }
    Ok(())
}

fn reopen(f: &FileRecord) -> Result<OwnedFd, RestoreError> {
    let fd = open(&f.path, reopen_flags(f), 0)
        .map_err(|e| RestoreError::obj(f, format!("open: {e}")))?;
    let meta = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| RestoreError::obj(f, format!("stat: {e}")))?;
    if f.kind == FileKind::Regular {
        if meta.ino() != f.ino {
            return Err(RestoreError::obj(
                f,
                format!(
                    "file was replaced since the dump (inode {} != dumped {})",
                    meta.ino(),
                    f.ino
                ),
            ));
        }
        seek(&fd, f)?;
    }
    Ok(fd)
}

fn seek(fd: &OwnedFd, f: &FileRecord) -> Result<(), RestoreError> {
    // SAFETY: lseek on our descriptor.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), f.pos as libc::off_t, libc::SEEK_SET) };
    if r < 0 || r as u64 != f.pos {
        return Err(RestoreError::obj(
            f,
            format!("lseek to {}: {}", f.pos, std::io::Error::last_os_error()),
        ));
    }
    Ok(())
}

/// Unlinked-but-open file: write the saved contents to a fresh file in the
/// same directory, open it with the dumped flags, unlink it again.
fn recreate_unlinked(d: &Dump, f: &FileRecord) -> Result<OwnedFd, RestoreError> {
    let contents =
        d.contents.iter().find(|c| c.fd == f.fd).ok_or_else(|| {
            RestoreError::obj(f, "unlinked file without saved contents in the image")
        })?;
    let dir = Path::new(&f.path).parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(".crib-unlinked-{}-{}", std::process::id(), f.fd));
    let tmp_s = tmp.to_string_lossy().into_owned();
    let w = open(
        &tmp_s,
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
        f.mode & 0o7777,
    )
    .map_err(|e| RestoreError::obj(f, format!("create {tmp_s}: {e}")))?;
    let res = sys::write_all(w.as_raw_fd(), &contents.data)
        .map_err(|e| RestoreError::obj(f, format!("write {tmp_s}: {e}")))
        .and_then(|()| {
            open(&tmp_s, reopen_flags(f), 0)
                .map_err(|e| RestoreError::obj(f, format!("reopen {tmp_s}: {e}")))
        });
    let _ = std::fs::remove_file(&tmp);
    let fd = res?;
    seek(&fd, f)?;
    Ok(fd)
}

pub fn restore_pipes(
    d: &Dump,
    files: &[&FileRecord],
    placed: &mut Vec<Placed>,
) -> Result<(), RestoreError> {
    for p in &d.pipes {
        let ends: Vec<&&FileRecord> = files
            .iter()
            .filter(|f| f.kind == FileKind::Pipe && f.ino == p.ino)
            .collect();
        let Some(first) = ends.first() else { continue };
        let data = match &p.data {
            Captured::Data(b) => b,
            Captured::Unavailable { reason } => {
                return Err(RestoreError::obj(
                    first,
                    format!("pipe buffer was not dumped: {reason}"),
                ))
            }
        };
        let (r, w) = sys::pipe().map_err(|e| RestoreError::obj(first, format!("pipe: {e}")))?;
        if data.len() > 65536 {
            sys::fcntl(
                w.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                data.len() as libc::c_long,
            )
            .map_err(|e| RestoreError::obj(first, format!("F_SETPIPE_SZ {}: {e}", data.len())))?;
        }
        sys::write_all(w.as_raw_fd(), data)
            .map_err(|e| RestoreError::obj(first, format!("refill pipe: {e}")))?;
        for f in ends {
            let end = if f.flags & O_ACCMODE == libc::O_WRONLY as u32 {
                &w
            } else {
                &r
            };
            let fd = end
                .try_clone()
                .map_err(|e| RestoreError::obj(f, format!("dup: {e}")))?;
            let fl = sys::fcntl(fd.as_raw_fd(), libc::F_GETFL, 0).unwrap_or(0);
            let fl = if f.flags & libc::O_NONBLOCK as u32 != 0 {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            // O_NONBLOCK lives on the open file: both ends here share it
            // only if the dumped descriptors did (they are separate opens).
            sys::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl as libc::c_long)
                .map_err(|e| RestoreError::obj(f, format!("F_SETFL: {e}")))?;
            placed.push(Placed {
                target: f.fd,
                fd,
                cloexec: f.cloexec,
            });
        }
    }
    Ok(())
}
