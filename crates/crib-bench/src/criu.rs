//! `criu dump --leave-running` of the same target, timed as a whole
//! process (it also dumps memory pages, which the engines do not).

use crate::schema::{EngineRun, Records};
use crate::target::run_bounded;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Why criu cannot run here at all (not installed), or `None`. `criu
/// check` is not used: it also fails on features a dump does not need (a
/// missing tun device); a dump that cannot work says why in its log.
pub fn unusable() -> Option<String> {
    match run_bounded(
        Command::new("criu").arg("--version"),
        Duration::from_secs(30),
    ) {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("`criu --version` failed ({})", o.status)),
        Err(e) => Some(format!("cannot run criu: {e:#} (apt-get install criu)")),
    }
}

/// The most telling error line of a criu log: the first one that is not
/// the generic "exited, status=1" of a helper process.
pub fn first_error(log: &str) -> Option<&str> {
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("Error")).collect();
    errors
        .iter()
        .find(|l| !l.contains("exited, status"))
        .or(errors.first())
        .map(|l| l.trim())
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
        profile: Vec::new(),
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
        let err = first_error(&log).unwrap_or("no error line in dump.log");
        return Err(format!(
            "`criu dump` fails on this kernel ({}): {err}",
            crate::suite::kernel_release()
        ));
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

#[cfg(test)]
mod tests {
    use super::first_error;

    #[test]
    fn picks_the_telling_error() {
        let log = "x\nError (criu/util.c:642): exited, status=1\nError (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n";
        assert_eq!(
            first_error(log),
            Some("Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds")
        );
        assert_eq!(
            first_error("Error (a): exited, status=1"),
            Some("Error (a): exited, status=1")
        );
        assert_eq!(first_error("fine"), None);
    }
}
