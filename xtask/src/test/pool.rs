//! Lanes side by side: each lane a child process (`cargo xtask test
//! --run-one NAME`), its output in `target/test-lanes/NAME.log`, printed
//! whole when it ends so that lanes never interleave; at most `slots` at
//! once, started in the order given (longest first).

use super::{LaneResult, Summary};
use anyhow::{Context, Result};
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

fn start(lane: &str, full: bool) -> Result<Running> {
    let d = dir();
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let log = d.join(format!("{}.log", file_name(lane)));
    let summary = d.join(format!("{}.json", file_name(lane)));
    let _ = std::fs::remove_file(&summary);
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut c = Command::new(exe);
    c.args(["test", "--run-one", lane, "--summary"])
        .arg(&summary)
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    if full {
        c.arg("--full");
    }
    eprintln!("[test] lane {lane}: started (log {})", log.display());
    Ok(Running {
        lane: lane.to_string(),
        child: c.spawn().with_context(|| format!("starting lane {lane}"))?,
        log,
        summary,
        started: Instant::now(),
    })
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
        None => Summary {
            results: vec![LaneResult {
                name: r.lane.clone(),
                passed: 0,
                failed: 1,
                skipped: 0,
                secs,
                note: format!(
                    "the lane process ended ({status}) without results; log {}",
                    r.log.display()
                ),
            }],
            zdtm_json: None,
        },
    }
}

/// Run `lanes`, `slots` at a time; the summaries in the order given.
pub fn run(lanes: &[String], slots: usize, full: bool) -> Result<Vec<Summary>> {
    let slots = slots.max(1);
    let mut todo: Vec<(usize, &String)> = lanes.iter().enumerate().rev().collect();
    let mut running: Vec<(usize, Running)> = Vec::new();
    let mut done: Vec<(usize, Summary)> = Vec::new();
    while !todo.is_empty() || !running.is_empty() {
        while running.len() < slots {
            let Some((i, lane)) = todo.pop() else { break };
            running.push((i, start(lane, full)?));
        }
        let mut k = 0;
        while k < running.len() {
            match running[k].1.child.try_wait() {
                Ok(Some(st)) => {
                    let (i, r) = running.remove(k);
                    done.push((i, finish(r, st)));
                }
                Ok(None) => k += 1,
                Err(e) => {
                    let (i, mut r) = running.remove(k);
                    let _ = r.child.kill();
                    done.push((
                        i,
                        Summary {
                            results: vec![LaneResult {
                                name: r.lane.clone(),
                                passed: 0,
                                failed: 1,
                                skipped: 0,
                                secs: r.started.elapsed().as_secs_f64(),
                                note: format!("waiting for the lane process: {e}"),
                            }],
                            zdtm_json: None,
                        },
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, s)| s).collect())
}
