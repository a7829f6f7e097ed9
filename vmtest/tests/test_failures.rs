//! Failures the harness must report correctly and promptly: a panicking
//! guest, a hanging command, a guest that never starts, a missing kernel.

mod common;

use common::*;
use crib_vmtest::runner::boot;
use crib_vmtest::{BootOutcome, Error, Kernel, Status};
use std::time::Instant;

#[test]
fn panicking_guest_is_reported_with_the_panic() {
    let k = kernel();
    let j = job(vec![
        cmd("crash", "echo c > /proc/sysrq-trigger; sleep 30", 60),
        cmd("after", "true", 30),
    ]);
    let t = Instant::now();
    let r = boot(&k, &j, &options("panic", 120)).unwrap_or_else(|e| panic!("host side: {e}"));
    // panic=-1 reboots at once; -no-reboot turns that into a QEMU exit, so
    // this must not wait for the 60 s command timeout.
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    assert!(
        matches!(r.outcome, BootOutcome::Died { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.commands[0].status, Status::Lost, "{:#?}", r.commands[0]);
    assert!(
        r.commands[0]
            .splats
            .iter()
            .any(|s| s.title.contains("Kernel panic - not syncing")),
        "{:#?}",
        r.commands[0].splats
    );
    assert_eq!(r.commands[1].status, Status::NotRun);
    assert!(r.failed());
}

#[test]
fn hanging_command_times_out_and_the_next_one_runs() {
    let k = kernel();
    // The hang also leaves a daemon in its own session (setsid), which the
    // process-group kill cannot reach; the cgroup kill must.
    let j = job(vec![
        cmd("hang", "setsid sleep 500 & sleep 600", 3),
        // The [0] keeps this command line itself from matching.
        cmd("after", "sleep 1; ! pgrep -af 'sleep 5[0]0'", 30),
    ]);
    let t = Instant::now();
    let r = boot(&k, &j, &options("hang", 120)).unwrap_or_else(|e| panic!("host side: {e}"));
    assert!(t.elapsed().as_secs() < 90, "took {:?}", t.elapsed());
    assert!(matches!(r.outcome, BootOutcome::Ok), "{:?}", r.outcome);
    assert_eq!(
        r.commands[0].status,
        Status::TimedOut,
        "{:#?}",
        r.commands[0]
    );
    assert!(
        r.commands[0].seconds >= 3.0 && r.commands[0].seconds < 15.0,
        "{}",
        r.commands[0].seconds
    );
    assert_eq!(r.commands[1].status, Status::Passed);
}

#[test]
fn guest_that_never_starts_is_reported_within_the_boot_timeout() {
    let k = kernel();
    // rdinit=/bin/sh replaces our init with a shell that waits forever
    // on the console: the kernel boots, our init never reports.
    let mut o = options("never_starts", 20);
    o.machine.cmdline = "rdinit=/bin/sh".into();
    let j = job(vec![cmd("never", "true", 10)]);
    let t = Instant::now();
    let r = boot(&k, &j, &o).unwrap_or_else(|e| panic!("host side: {e}"));
    let secs = t.elapsed().as_secs();
    assert!((20..35).contains(&secs), "took {secs}s");
    match &r.outcome {
        BootOutcome::NeverStarted { detail } => assert!(detail.contains("within 20s"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.commands[0].status, Status::NotRun);
}

#[test]
fn missing_kernel_is_a_clear_error() {
    let err = Kernel::resolve("/nonexistent/bzImage").err();
    assert!(matches!(err, Some(Error::KernelMissing(_))), "{err:?}");
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "kernel image /nonexistent/bzImage: no such file"
    );
    let unknown = Kernel::resolve("debian-5.10")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(unknown.contains("unknown stock kernel"), "{unknown}");
}

#[test]
fn a_guest_that_dies_before_ready_is_retried_once_and_reported() {
    let k = kernel();
    let j = job(vec![cmd("never", "true", 30)]);
    let mut o = options("dies-at-boot", 60);
    // No init to run: the kernel panics before our init says READY, twice.
    o.machine.cmdline = "rdinit=/no/such/init root=/dev/nonexistent".into();
    let t = Instant::now();
    let r =
        crib_vmtest::runner::boot_retrying(&k, &j, &o).unwrap_or_else(|e| panic!("host side: {e}"));
    assert!(t.elapsed().as_secs() < 100, "took {:?}", t.elapsed());
    assert!(r.died_before_ready(), "{:?}", r.outcome);
    let f = r.flaky.as_ref().expect("the first attempt is reported");
    assert!(f.detail.contains("never started"), "{f:?}");
    assert!(f.run_dir.join("console.log").is_file(), "{f:?}");
    // The retry died too: that is the result, a failure, never a pass.
    assert!(r.failed());
    assert_eq!(r.commands[0].status, Status::NotRun);
}
