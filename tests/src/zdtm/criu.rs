//! The `criu` column: whole-process checkpoint/restore with the kit's CRIU
//! (`$CRIB_CRIU`, set by `cargo xtask` to the binary `cargo xtask criu
//! build` made; the system's criu package is never used), for side-by-side
//! comparison. The test is dumped (CRIU kills it),
//! restored detached with the same pid, then sent SIGTERM so it verifies
//! itself in place and writes its verdict, as in CRIU's own ZDTM.

use super::proc::{kill, wait_gone, wait_timeout};
use super::run::{verdict, Work};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that names the kit's CRIU binary.
pub const CRIU_ENV: &str = "CRIB_CRIU";

/// The kit's CRIU, or why there is none.
pub fn criu_bin() -> Result<std::path::PathBuf, String> {
    match std::env::var_os(CRIU_ENV) {
        Some(p) if std::path::Path::new(&p).is_file() => Ok(p.into()),
        Some(p) => Err(format!(
            "${CRIU_ENV}={} is not a file (cargo xtask criu build)",
            std::path::Path::new(&p).display()
        )),
        None => Err(format!(
            "${CRIU_ENV} is not set: the criu column needs the kit's CRIU (cargo xtask criu build; cargo xtask test sets it)"
        )),
    }
}

fn criu(args: &[&str], w: &Work, log: &str, timeout: Duration) -> Result<(), String> {
    let mut c = Command::new(criu_bin()?)
        .args(args)
        .arg("-D")
        .arg(&w.images)
        .arg("-o")
        .arg(w.dir.join(log))
        .args(["-v4", "--shell-job", "--tcp-established"])
        .current_dir(&w.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run criu: {e}"))?;
    match wait_timeout(&mut c, timeout) {
        None => Err(format!("criu {} timed out", args[0])),
        Some(st) if st.success() => Ok(()),
        Some(st) => {
            let text = std::fs::read_to_string(w.dir.join(log)).unwrap_or_default();
            let err = text
                .lines()
                .rfind(|l| l.contains("Error"))
                .unwrap_or("(no Error line in the log)");
            Err(format!("criu {} failed ({st}): {}", args[0], err.trim()))
        }
    }
}

pub(super) fn cycle(
    w: &Work,
    pid: i32,
    child: &mut Child,
    timeout: Duration,
    dump_ms: &mut u64,
    restore_ms: &mut u64,
) -> Result<(), String> {
    std::fs::create_dir_all(&w.images).map_err(|e| format!("{}: {e}", w.images.display()))?;
    let t0 = Instant::now();
    let pid_s = pid.to_string();
    criu(&["dump", "-t", &pid_s], w, "dump.log", timeout)?;
    *dump_ms = t0.elapsed().as_millis() as u64;
    // CRIU killed the tree; reap our child so the pid is free for restore.
    let _ = wait_timeout(child, Duration::from_secs(5));
    if !wait_gone(pid, Duration::from_secs(5)) {
        return Err(format!("pid {pid} still exists after criu dump"));
    }
    let t1 = Instant::now();
    criu(&["restore", "-d"], w, "restore.log", timeout)?;
    *restore_ms = t1.elapsed().as_millis() as u64;
    kill(pid, libc::SIGTERM);
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if std::fs::read_to_string(&w.outfile).is_ok_and(|s| !s.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = wait_gone(pid, Duration::from_secs(2));
    verdict(w)
}
