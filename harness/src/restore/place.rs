//! Moving created objects to their descriptor numbers; process-level setup.

use super::{Placed, RestoreError};
use crate::sys;
use std::os::fd::{AsRawFd, RawFd};

pub fn raise_nofile_limit() -> Result<(), RestoreError> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit to fill / read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(RestoreError::sys("setrlimit NOFILE")(
                    std::io::Error::last_os_error(),
                ));
            }
        }
    }
    Ok(())
}

/// Move every object above the highest target first, then onto its target,
/// so no target number is ever occupied by another object being placed.
pub fn place_all(placed: Vec<Placed>) -> Result<(), RestoreError> {
    let base = placed.iter().map(|p| p.target).max().unwrap_or(0) + 1;
    let mut high = Vec::with_capacity(placed.len());
    for p in placed {
        let fd = sys::fcntl(
            p.fd.as_raw_fd(),
            libc::F_DUPFD_CLOEXEC,
            base as libc::c_long,
        )
        .map_err(RestoreError::sys(format!(
            "fd {}: F_DUPFD above {base}",
            p.target
        )))?;
        drop(p.fd);
        high.push((p.target, fd, p.cloexec));
    }
    for (target, fd, cloexec) in high {
        sys::dup2(fd, target).map_err(RestoreError::sys(format!("dup3 to fd {target}")))?;
        // SAFETY: fd is our temporary copy; target now holds the object.
        unsafe { libc::close(fd) };
        if cloexec {
            sys::fcntl(target, libc::F_SETFD, libc::FD_CLOEXEC as libc::c_long)
                .map_err(RestoreError::sys(format!("fd {target}: F_SETFD")))?;
        }
    }
    Ok(())
}

/// Descriptors of the restorer that are not restored objects must not leak
/// into the command.
pub fn cloexec_others(targets: &[i32], keep_stdio_free: bool) -> Result<(), RestoreError> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(RestoreError::sys("/proc/self/fd"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        let stdio = fd <= 2 && !keep_stdio_free;
        if stdio || targets.contains(&fd) {
            continue;
        }
        // Errors: the fd was the read_dir handle itself, already closed.
        let _ = sys::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as libc::c_long);
    }
    Ok(())
}

/// Become pid 1 of a new pid namespace: unshare, fork; the parent waits and
/// exits with the child's status, the child continues the restore.
pub fn enter_new_pidns() -> Result<(), RestoreError> {
    // SAFETY: unshare with a flag constant.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        return Err(RestoreError::sys("unshare(CLONE_NEWPID)")(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the restorer is single-threaded here; the child only continues
    // ordinary Rust code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(RestoreError::sys("fork into new pid namespace")(
            std::io::Error::last_os_error(),
        ));
    }
    if child == 0 {
        return Ok(());
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code);
}
