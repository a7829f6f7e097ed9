//! Child-process helpers with timeouts (a hung test never hangs the runner).

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Wait for `child` up to `timeout`; on timeout kill it and return None.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Wait until `path` holds a pid (written atomically by the test), or the
/// child dies, or the timeout passes.
pub fn wait_pidfile(path: &Path, child: &mut Child, timeout: Duration) -> Result<i32, String> {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(pid) = s.trim().parse() {
                return Ok(pid);
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("test exited ({st}) before writing its pidfile"));
        }
        if Instant::now() >= end {
            return Err(format!("no pidfile after {}s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we started (or its descendant).
    unsafe { libc::kill(pid, sig) };
}

/// Wait until `pid` is gone (it may not be our child).
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        // Zombies count as gone: /proc/PID/stat state 'Z'.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s)
                if s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    false
}

/// Tests see only 0-2: descriptors the runner inherited (a CI pipe, a
/// jobserver) would otherwise be dumped and restored as part of the test.
pub fn hermetic(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is async-signal-safe and touches no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            // CLOSE_RANGE_CLOEXEC: std's own exec-error pipe must stay open until exec.
            libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32);
            Ok(())
        });
    }
}
