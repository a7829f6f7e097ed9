//! Lanes side by side: each lane a child process (`cargo xtask test
//! --run-one NAME`), its output in `target/test-lanes/NAME.log`, printed
//! whole when it ends so that lanes never interleave; at most `slots` at
//! once, started in the order given (longest first). A lane still running
//! after its time limit is killed with everything it started (its process
//! group: the guests too) and reported failed, so that a hung guest or a
//! lane grown past its budget turns into a named failure instead of a CI
//! run that never ends.

use super::{LaneResult, Summary};
use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    crate::workspace_root().join("target/test-lanes")
}

fn file_name(lane: &str) -> String {
    lane.replace([':', '+', '/'], "_")
}

struct Running {
    lane: String,
    child: Child,
    log: PathBuf,
    summary: PathBuf,
    started: Instant,
}

/// The command that runs one lane and writes its summary to the path given.
type Launch<'a> = dyn Fn(&str, &std::path::Path) -> Result<Command> + 'a;

/// This binary, `test --run-one LANE`.
fn xtask_lane(full: bool) -> impl Fn(&str, &std::path::Path) -> Result<Command> {
    move |lane, summary| {
        let exe = std::env::current_exe().context("locating the xtask binary")?;
        let mut c = Command::new(exe);
        c.args(["test", "--run-one", lane, "--summary"])
            .arg(summary)
            .current_dir(crate::workspace_root());
        if full {
            c.arg("--full");
        }
        Ok(c)
    }
}

fn start(dir: &std::path::Path, lane: &str, launch: &Launch<'_>) -> Result<Running> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join(format!("{}.log", file_name(lane)));
    let summary = dir.join(format!("{}.json", file_name(lane)));
    let _ = std::fs::remove_file(&summary);
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut c = launch(lane, &summary)?;
    c.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    // Its own process group: a timeout kills the lane's guests with it.
    c.process_group(0);
    eprintln!("[test] lane {lane}: started (log {})", log.display());
    Ok(Running {
        lane: lane.to_string(),
        child: c.spawn().with_context(|| format!("starting lane {lane}"))?,
        log,
        summary,
        started: Instant::now(),
    })
}

/// Kill a lane and everything in its process group (the lane leads it).
fn kill_group(r: &mut Running) {
    let pid = r.child.id() as libc::pid_t;
    // SAFETY: kill(2) on the group this lane leads (set at spawn).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

fn timed_out(mut r: Running, limit: Duration) -> Summary {
    kill_group(&mut r);
    let status = r.child.wait().map(|s| s.to_string()).unwrap_or_default();
    let secs = r.started.elapsed().as_secs_f64();
    println!(
        "\n======== lane {} ({secs:.0} s, killed: over its {} s limit; {status}) ========",
        r.lane,
        limit.as_secs()
    );
    print!("{}", std::fs::read_to_string(&r.log).unwrap_or_default());
    failed(
        &r.lane,
        secs,
        format!(
            "killed after {secs:.0} s: over the lane limit of {} s (--lane-timeout); log {}",
            limit.as_secs(),
            r.log.display()
        ),
    )
}

/// A lane that gave no results of its own: one failure saying why.
fn failed(lane: &str, secs: f64, note: String) -> Summary {
    Summary {
        results: vec![LaneResult {
            name: lane.to_string(),
            passed: 0,
            failed: 1,
            skipped: 0,
            secs,
            note,
        }],
        zdtm_json: None,
    }
}

fn finish(r: Running, status: std::process::ExitStatus) -> Summary {
    let secs = r.started.elapsed().as_secs_f64();
    println!(
        "\n======== lane {} ({secs:.0} s, {status}) ========",
        r.lane
    );
    print!("{}", std::fs::read_to_string(&r.log).unwrap_or_default());
    match std::fs::read_to_string(&r.summary)
        .ok()
        .and_then(|t| serde_json::from_str::<Summary>(&t).ok())
    {
        Some(s) => s,
        None => failed(
            &r.lane,
            secs,
            format!(
                "the lane process ended ({status}) without results; log {}",
                r.log.display()
            ),
        ),
    }
}

/// Run `lanes`, `slots` at a time, each for at most `limit`; the summaries
/// in the order given.
pub fn run(lanes: &[String], slots: usize, full: bool, limit: Duration) -> Result<Vec<Summary>> {
    run_with(&dir(), lanes, slots, limit, &xtask_lane(full))
}

fn run_with(
    dir: &std::path::Path,
    lanes: &[String],
    slots: usize,
    limit: Duration,
    launch: &Launch<'_>,
) -> Result<Vec<Summary>> {
    let slots = slots.max(1);
    let mut todo: Vec<(usize, &String)> = lanes.iter().enumerate().rev().collect();
    let mut running: Vec<(usize, Running)> = Vec::new();
    let mut done: Vec<(usize, Summary)> = Vec::new();
    while !todo.is_empty() || !running.is_empty() {
        while running.len() < slots {
            let Some((i, lane)) = todo.pop() else { break };
            running.push((i, start(dir, lane, launch)?));
        }
        let mut k = 0;
        while k < running.len() {
            match running[k].1.child.try_wait() {
                Ok(Some(st)) => {
                    let (i, r) = running.remove(k);
                    done.push((i, finish(r, st)));
                }
                Ok(None) if running[k].1.started.elapsed() > limit => {
                    let (i, r) = running.remove(k);
                    done.push((i, timed_out(r, limit)));
                }
                Ok(None) => k += 1,
                Err(e) => {
                    let (i, mut r) = running.remove(k);
                    kill_group(&mut r);
                    let secs = r.started.elapsed().as_secs_f64();
                    let why = format!("waiting for the lane process: {e}");
                    done.push((i, failed(&r.lane, secs, why)));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One lane that is `sh -c script` (the summary path as `$1`).
    fn run_script(dir: &std::path::Path, lane: &str, limit: Duration, script: String) -> Summary {
        let launch = move |_: &str, summary: &std::path::Path| {
            let mut c = Command::new("sh");
            c.args(["-c", &script, "sh"]).arg(summary);
            Ok(c)
        };
        let mut out = run_with(dir, &[lane.to_string()], 1, limit, &launch).expect("pool runs");
        out.remove(0)
    }

    #[test]
    fn a_lane_over_its_limit_is_killed_with_its_children_and_fails() {
        let d = tempfile::tempdir().expect("tempdir");
        let pidfile = d.path().join("grandchild.pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let t = Instant::now();
        let out = run_script(d.path(), "hung", Duration::from_millis(500), script);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let r = &out.results[0];
        assert_eq!((r.name.as_str(), r.failed), ("hung", 1));
        assert!(r.note.contains("over the lane limit"), "{}", r.note);
        // The lane's own child went with it (a guest would have, too).
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid written")
            .trim()
            .parse()
            .expect("pid");
        std::thread::sleep(Duration::from_millis(200));
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|st| !st.contains(") Z "));
        assert!(!alive, "grandchild {pid} survived the lane's kill");
    }

    #[test]
    fn a_lane_within_its_limit_hands_back_its_summary() {
        let d = tempfile::tempdir().expect("tempdir");
        let script = r#"printf '{"results":[{"name":"ok","passed":3,"failed":0,"skipped":0,"secs":0.1,"note":""}],"zdtm_json":null}' > "$1""#;
        let out = run_script(d.path(), "ok", Duration::from_secs(30), script.into());
        assert_eq!(out.results[0].passed, 3);
    }
}
