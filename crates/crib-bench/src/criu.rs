//! `criu dump --leave-running` of the same target with the kit's CRIU
//! (`$CRIB_CRIU`, from `cargo xtask criu build`), timed as a whole process
//! (it also dumps memory pages, which the engines do not), plus CRIU's own
//! statistics (frozen time, memory dump and write times) from its
//! `stats-dump` image, decoded with the tree's crit.

use crate::schema::{CriuStats, EngineRun, Records};
use crate::target::run_bounded;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The kit's CRIU: `$CRIB_CRIU` (`<cache>/criu/<key>/prefix/sbin/criu`).
pub fn criu_bin() -> Result<std::path::PathBuf, String> {
    match std::env::var_os("CRIB_CRIU") {
        Some(p) if Path::new(&p).is_file() => Ok(p.into()),
        Some(p) => Err(format!(
            "$CRIB_CRIU={} is not a file (cargo xtask criu build)",
            Path::new(&p).display()
        )),
        None => Err("$CRIB_CRIU is not set: the criu column uses the kit's CRIU (cargo xtask criu build; cargo xtask bench sets it)".into()),
    }
}

/// crit of the same build: `<key>/src/{lib,crit}` next to `<key>/prefix`.
fn crit_command(criu: &Path) -> Option<Command> {
    let key = criu.parent()?.parent()?.parent()?;
    let tree = key.join("src");
    if !tree.join("crit").is_dir() {
        return None;
    }
    let mut c = Command::new("/usr/bin/python3");
    c.env(
        "PYTHONPATH",
        format!(
            "{}:{}",
            tree.join("lib").display(),
            tree.join("crit").display()
        ),
    )
    .args(["-m", "crit"]);
    Some(c)
}

/// Why criu cannot run here at all, or `None`. `criu check` is not used:
/// it also fails on features a dump does not need (a missing tun device);
/// a dump that cannot work says why in its log.
pub fn unusable() -> Option<String> {
    let bin = match criu_bin() {
        Ok(b) => b,
        Err(e) => return Some(e),
    };
    match run_bounded(Command::new(&bin).arg("--version"), Duration::from_secs(30)) {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`{} --version` failed ({})",
            bin.display(),
            o.status
        )),
        Err(e) => Some(format!("cannot run {}: {e:#}", bin.display())),
    }
}

/// The numbers of a crit-decoded `stats-dump` (`{"entries": [{"dump": {...}}]}`).
pub fn parse_stats(json: &serde_json::Value) -> Option<CriuStats> {
    let d = &json["entries"][0]["dump"];
    let n = |k: &str| d[k].as_u64().or_else(|| d[k].as_str()?.parse().ok());
    Some(CriuStats {
        freezing_us: n("freezing_time")?,
        frozen_us: n("frozen_time")?,
        memdump_us: n("memdump_time")?,
        memwrite_us: n("memwrite_time")?,
        pages_scanned: n("pages_scanned").unwrap_or(0),
        pages_written: n("pages_written").unwrap_or(0),
    })
}

/// `crit decode` of `dir/stats-dump`.
fn stats(criu: &Path, dir: &Path) -> Result<CriuStats, String> {
    let mut c = crit_command(criu).ok_or("crit not found next to the kit's CRIU")?;
    c.arg("decode").arg("-i").arg(dir.join("stats-dump"));
    let out = run_bounded(&mut c, Duration::from_secs(120)).map_err(|e| format!("crit: {e:#}"))?;
    if !out.status.success() {
        return Err(format!(
            "crit decode stats-dump failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("crit output: {e}"))?;
    parse_stats(&v).ok_or_else(|| "stats-dump has no dump entry".to_string())
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
        core_btf: Vec::new(),
        first_dump_ns: None,
        total_ns: Vec::new(),
        ops: BTreeMap::new(),
        records: Records::default(),
        syscalls: None,
        load_syscalls: None,
        profile: Vec::new(),
        open_profile: Vec::new(),
        criu_stats: None,
    }
}

fn dump_once(pid: i32, dir: &Path) -> Result<u64, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bin = criu_bin()?;
    let t = Instant::now();
    let out = run_bounded(
        Command::new(&bin)
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
    // Outside the timed part: what CRIU itself says of its last dump.
    match criu_bin().and_then(|b| stats(&b, &dir)) {
        Ok(s) => run.criu_stats = Some(s),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return empty(Some(format!(
                "criu dumped, but its stats are unreadable: {e}"
            )));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    run
}

#[cfg(test)]
mod tests {
    use super::{first_error, parse_stats};

    #[test]
    fn crit_stats_are_read() {
        let v = serde_json::json!({"magic": "STATS", "entries": [{"dump": {
            "freezing_time": 1200, "frozen_time": 53000, "memdump_time": 21000,
            "memwrite_time": "9000", "pages_scanned": 4000, "pages_written": 310}}]});
        let s = parse_stats(&v).expect("stats");
        assert_eq!(
            (s.frozen_us, s.memwrite_us, s.pages_written),
            (53000, 9000, 310)
        );
        assert!(parse_stats(&serde_json::json!({"entries": []})).is_none());
    }

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
