//! The virtme-ng backend runs the same job and reports the same statuses.

mod common;

use common::*;
use crib_vmtest::{vng, BootOutcome, Status};

#[test]
fn vng_runs_the_same_job() {
    let k = kernel();
    let j = job(vec![
        cmd("true", "true", 30),
        cmd("false", "false", 30),
        cmd("output", "echo out; uname -r", 30),
        // Under QEMU's multi-threaded TCG (vng's own default without KVM)
        // this kills the guest with `Oops: int3`; the backend must pass the
        // runner's single-threaded TCG.
        cmd("text-patching", "sh guest/text-patching-stress.sh 300", 120),
        cmd("hang", "sleep 600", 3),
        // The guest panics: the command is lost, the rest never runs.
        cmd("crash", "echo c > /proc/sysrq-trigger; sleep 30", 60),
        cmd("after", "true", 30),
    ]);
    let o = options("vng", 180);
    let r = vng::boot(
        &k,
        &j,
        &o.machine,
        o.boot_timeout,
        &o.out_dir,
        &o.detector,
        true,
    )
    .unwrap_or_else(|e| panic!("vng backend: {e}"));
    assert!(
        matches!(r.outcome, BootOutcome::Died { .. }),
        "{:?}\n{}",
        r.outcome,
        r.console_tail.unwrap_or_default()
    );
    let st: Vec<Status> = r.commands.iter().map(|c| c.status).collect();
    assert_eq!(
        st,
        vec![
            Status::Passed,
            Status::Failed,
            Status::Passed,
            Status::Passed,
            Status::TimedOut,
            Status::Lost,
            Status::NotRun,
        ],
        "{:#?}",
        r.commands
    );
    // The panic ends the boot at once (panic=-1, -no-reboot), well before
    // the crash command's 60 s timeout.
    assert!(r.total_seconds < 180.0, "{}", r.total_seconds);
    assert!(
        r.commands[2].output.starts_with("out\n6.12."),
        "{}",
        r.commands[2].output
    );
}
