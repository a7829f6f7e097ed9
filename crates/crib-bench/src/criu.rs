//! `criu dump --leave-running` of the same target, timed as a whole
//! process (it also dumps memory pages, which the engines do not).

use crate::schema::{EngineRun, Records};
use crate::target::run_bounded;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Why criu cannot run here, or `None` when `criu check` passes.
pub fn unusable() -> Option<String> {
    let out = match run_bounded(Command::new("criu").arg("check"), Duration::from_secs(60)) {
        Ok(o) => o,
        Err(e) => {
            return Some(format!(
                "cannot run `criu check`: {e:#} (apt-get install criu)"
            ))
        }
    };
    if out.status.success() {
        return None;
    }
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // The first error is often the generic "exited, status=1" of a helper;
    // the next one says what went wrong.
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("Error")).collect();
    let first = errors
        .iter()
        .find(|l| !l.contains("exited, status"))
        .or(errors.first())
        .copied()
        .or_else(|| text.lines().next())
        .unwrap_or("no output")
        .trim()
        .to_string();
    Some(format!(
        "`criu check` fails on this kernel ({}): {first}",
        crate::suite::kernel_release()
    ))
}

fn empty(why: Option<String>) -> EngineRun {
    EngineRun {
        engine: "criu".into(),
        unavailable: why,
        load_ns: Vec::new(),
        first_dump_ns: None,
        total_ns: Vec::new(),
        ops: BTreeMap::new(),
        records: Records::default(),
        syscalls: None,
        load_syscalls: None,
    }
}

fn dump_once(pid: i32, dir: &Path) -> Result<u64, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let t = Instant::now();
    let out = run_bounded(
        Command::new("criu")
            .args([
                "dump",
                "--leave-running",
                "--tcp-established",
                "--shell-job",
                "-v1",
                "-o",
                "dump.log",
            ])
            .arg("-t")
            .arg(pid.to_string())
            .arg("-D")
            .arg(dir),
        Duration::from_secs(300),
    )
    .map_err(|e| format!("criu dump: {e:#}"))?;
    let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("dump.log")).unwrap_or_default();
        let err = log
            .lines()
            .rev()
            .find(|l| l.contains("Error"))
            .unwrap_or("see dump.log")
            .trim()
            .to_string();
        return Err(format!("criu dump failed ({}): {err}", out.status));
    }
    Ok(ns)
}

/// Time `reps` dumps; the first is reported as the cold one.
pub fn measure(pid: i32, reps: usize, scratch: &Path, why_not: &Option<String>) -> EngineRun {
    if why_not.is_some() {
        return empty(why_not.clone());
    }
    let dir = scratch.join(format!("criu-{pid}"));
    let mut run = empty(None);
    for i in 0..=reps {
        match dump_once(pid, &dir) {
            Ok(ns) if i == 0 => run.first_dump_ns = Some(ns),
            Ok(ns) => run.total_ns.push(ns),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return empty(Some(e));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    run
}
