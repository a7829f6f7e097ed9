//! Children started through GroupChild die with their whole process group
//! when the handle is dropped (the QEMU-never-outlives-us guarantee).

use crib_vmtest::process::GroupChild;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Alive = exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn drop_kills_the_whole_group() {
    let mut c = Command::new("sh");
    c.args(["-c", "sleep 1000 & echo $!; wait"])
        .stdout(Stdio::piped());
    let mut child = GroupChild::spawn(c).unwrap_or_else(|e| panic!("{e}"));
    let leader = child.id();
    let out = child
        .child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    let grandchild: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(alive(leader) && alive(grandchild));
    drop(child);
    let end = Instant::now() + Duration::from_secs(5);
    while alive(grandchild) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(leader), "group leader survived");
    assert!(!alive(grandchild), "grandchild survived the group kill");
}

#[test]
fn missing_program_is_a_clear_error() {
    let e = GroupChild::spawn(Command::new("/nonexistent/qemu"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("running /nonexistent/qemu: "), "{e}");
}
