//! Our runner on a real stock kernel: exit statuses, output, timeouts.

mod common;

use common::*;
use crib_vmtest::runner::boot;
use crib_vmtest::{BootOutcome, Status};

#[test]
fn true_false_and_output_in_one_boot() {
    let k = kernel();
    let j = job(vec![
        cmd("true", "true", 30),
        cmd("false", "false", 30),
        cmd("exit7", "echo out; echo err >&2; exit 7", 30),
        cmd(
            "uname",
            "uname -r; test -d /sys/fs/bpf && touch /tmp/x && test -f /tmp/x",
            30,
        ),
    ]);
    let r = match boot(&k, &j, &options("true_false", 90)) {
        Ok(r) => r,
        Err(e) => panic!("boot failed on the host side: {e}"),
    };
    assert!(
        matches!(r.outcome, BootOutcome::Ok),
        "outcome {:?}\n{}",
        r.outcome,
        r.console_tail.unwrap_or_default()
    );
    let st: Vec<(Status, Option<i32>)> =
        r.commands.iter().map(|c| (c.status, c.exit_code)).collect();
    assert_eq!(
        st,
        vec![
            (Status::Passed, Some(0)),
            (Status::Failed, Some(1)),
            (Status::Failed, Some(7)),
            (Status::Passed, Some(0)),
        ],
        "{:#?}",
        r.commands
    );
    assert_eq!(r.commands[2].output, "out\nerr\n");
    assert!(
        r.commands[3].output.starts_with("6.12."),
        "{}",
        r.commands[3].output
    );
    assert!(r.first_result_seconds.is_some());
}

/// A checkout under /tmp (CI rehearsals, temp clones): the guest's /tmp
/// tmpfs must not hide the working directory or the results share.
#[test]
fn workspace_under_a_tmpfs_dir_stays_visible() {
    let k = kernel();
    let ws = std::env::temp_dir().join(format!("crib-vmtest-ws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ws);
    if let Err(e) =
        std::fs::create_dir_all(&ws).and_then(|_| std::fs::write(ws.join("marker"), "here\n"))
    {
        panic!("creating {}: {e}", ws.display());
    }
    let mut j = job(vec![cmd(
        "cwd",
        "cat marker && touch /tmp/y && test -f /tmp/y && echo shared > \"$CRIB_VMTEST_OUT/f\"",
        30,
    )]);
    j.cwd = ws.clone();
    let mut o = options("under_tmp", 90);
    o.out_dir = ws.join("out");
    let r = match boot(&k, &j, &o) {
        Ok(r) => r,
        Err(e) => panic!("boot failed on the host side: {e}"),
    };
    assert!(
        matches!(r.outcome, BootOutcome::Ok),
        "outcome {:?}\n{}",
        r.outcome,
        r.console_tail.unwrap_or_default()
    );
    assert_eq!(r.commands[0].status, Status::Passed, "{:#?}", r.commands);
    assert_eq!(r.commands[0].output, "here\n");
    let shared = std::fs::read_to_string(o.out_dir.join("share/f")).unwrap_or_default();
    assert_eq!(shared, "shared\n");
    let _ = std::fs::remove_dir_all(&ws);
}
