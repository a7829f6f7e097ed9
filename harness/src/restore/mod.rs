//! Restore: recreate the dumped kernel objects in this process at the dumped
//! descriptor numbers, then exec a command.
//!
//! Scope (see docs/image-format.md): descriptors and what they refer to —
//! regular files (reopened with the same flags and offset; unlinked files
//! recreated from the saved contents and unlinked again), pipes with their
//! buffered data, unix socket pairs with queued data, UDP sockets (bound,
//! connected, receive queues replayed, a corked write queue replayed under
//! UDP_CORK), TCP (listening, and established via TCP_REPAIR). Memory
//! contents, CPU state, threads and the rest of the process are NOT restored:
//! the exec'd command starts fresh with these descriptors.
//!
//! Descriptors 0-2 are inherited from the restorer unless
//! [`RestoreOptions::restore_stdio`] is set (a dumped terminal or the
//! runner's pipe cannot be reproduced meaningfully).
//!
//! Everything is created first, then moved into place; any failure aborts
//! before exec with an error naming the descriptor — never a partial restore
//! that looks successful.

mod files;
mod place;
mod sockets;

use crate::image::Image;
use crate::model::{FileKind, FileRecord};
use std::convert::Infallible;
use std::os::fd::OwnedFd;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("image has {n} record(s) of unknown type ({types}): written by a newer crib, refusing to restore")]
    UnknownRecords { n: usize, types: String },
    #[error("fd {fd} ({what}): {problem}")]
    Object {
        fd: i32,
        what: String,
        problem: String,
    },
    #[error("{what}: {cause}")]
    Sys { what: String, cause: std::io::Error },
    #[error("exec {cmd}: {cause}")]
    Exec { cmd: String, cause: std::io::Error },
    #[error("no command to exec")]
    NoCommand,
}

impl RestoreError {
    pub(crate) fn obj(f: &FileRecord, problem: impl std::fmt::Display) -> RestoreError {
        RestoreError::Object {
            fd: f.fd,
            what: describe(f),
            problem: problem.to_string(),
        }
    }
    pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
        let what = what.into();
        move |source| RestoreError::Sys {
            what,
            cause: source,
        }
    }
}

fn describe(f: &FileRecord) -> String {
    match f.kind {
        FileKind::Socket => format!("socket ino {}", f.ino),
        FileKind::Pipe => format!("pipe ino {}", f.ino),
        _ => f.path.to_string(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Also restore descriptors 0, 1 and 2.
    pub restore_stdio: bool,
}

/// A created object waiting to be moved to its descriptor number.
pub(crate) struct Placed {
    pub target: i32,
    pub fd: OwnedFd,
    pub cloexec: bool,
}

/// Check an image can be restored at all (before touching anything).
pub fn check(image: &Image) -> Result<(), RestoreError> {
    if !image.unknown.is_empty() {
        let types: Vec<String> = image.unknown.iter().map(|u| u.rtype.to_string()).collect();
        return Err(RestoreError::UnknownRecords {
            n: image.unknown.len(),
            types: types.join(","),
        });
    }
    Ok(())
}

/// Create every dumped object in this process at its descriptor number.
/// On success the descriptors are in place (and TCP is out of repair mode).
pub fn restore_fds(image: &Image, opts: &RestoreOptions) -> Result<(), RestoreError> {
    check(image)?;
    place::raise_nofile_limit()?;
    let d = &image.dump;
    let wanted = |f: &&FileRecord| opts.restore_stdio || f.fd > 2;
    let files: Vec<&FileRecord> = d.files.iter().filter(wanted).collect();
    let mut placed = Vec::new();
    files::restore_files(d, &files, &mut placed)?;
    files::restore_pipes(d, &files, &mut placed)?;
    let pending = sockets::restore_sockets(d, &files, &mut placed)?;
    let targets: Vec<i32> = placed.iter().map(|p| p.target).collect();
    place::place_all(placed)?;
    place::cloexec_others(&targets, opts.restore_stdio)?;
    // Out of repair only once every TCP socket exists, so a peer restored
    // here never sees a packet for a socket that is not there yet.
    sockets::finish_tcp(pending)?;
    Ok(())
}

/// Restore, enter a new pid namespace if the task had one, and exec `cmd`.
pub fn restore_and_exec(
    image: &Image,
    cmd: &[String],
    opts: &RestoreOptions,
) -> Result<Infallible, RestoreError> {
    let (prog, _) = cmd.split_first().ok_or(RestoreError::NoCommand)?;
    check(image)?;
    let own = crate::engine::procfs::own_pidns_level().map_err(|e| RestoreError::Sys {
        what: "reading own pid namespace level".into(),
        cause: std::io::Error::other(e.to_string()),
    })?;
    if image.dump.task.pidns_level > own {
        place::enter_new_pidns()?;
    }
    restore_fds(image, opts)?;
    let err =
        std::os::unix::process::CommandExt::exec(std::process::Command::new(prog).args(&cmd[1..]));
    Err(RestoreError::Exec {
        cmd: prog.clone(),
        cause: err,
    })
}
