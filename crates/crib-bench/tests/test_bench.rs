//! The prepared target and the suite, end to end on small sizes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn count(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn target_holds_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crib-bench-target"))
        .args(["--fds", "300", "--maps", "200", "--sockets", "2", "--dir"])
        .arg(dir.path().join("t"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = child.id();
    let fds = count(&format!("/proc/{pid}/fd"));
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .count();
    let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
    drop(child.stdin.take());
    let st = child.wait().unwrap();
    assert!(st.success());
    assert!(line.starts_with(&format!("ready pid={pid} ")), "{line}");
    // 300 requested + stdio + 8 per socket group.
    assert!(fds >= 300 + 16, "only {fds} fds");
    assert!(maps >= 200, "only {maps} mappings: they merged");
    // Established loopback pairs: state 01 in /proc/net/tcp.
    assert!(
        tcp.lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("01"))
            .count()
            >= 4,
        "{tcp}"
    );
    assert!(
        !dir.path().join("t").exists(),
        "the target removes its files"
    );
}

#[test]
fn target_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_crib-bench-target"))
        .args(["--fds", "many", "--dir", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fds \"many\": expected a number"));
}

#[test]
fn suite_measures_procfs_on_one_state() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lane.json");
    let st = Command::new(env!("CARGO_BIN_EXE_crib-bench"))
        .args([
            "suite",
            "--sizes",
            "50",
            "--reps",
            "2",
            "--loads",
            "1",
            "--criu-reps",
            "0",
        ])
        .args(["--engines", "procfs", "--no-strace", "--scratch"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let e = &v["sizes"][0]["engines"][0];
    assert_eq!(e["engine"], "procfs");
    assert!(e["unavailable"].is_null(), "{e}");
    assert_eq!(e["total_ns"].as_array().unwrap().len(), 2);
    assert!(e["records"]["files"].as_u64().unwrap() >= 50);
    assert!(e["records"]["sockets"].as_u64().unwrap() >= 8);
    // Queued data: 4 KiB each way over TCP and the datagrams/unix writes.
    assert!(e["records"]["queued_bytes"].as_u64().unwrap() > 8192, "{e}");
}
