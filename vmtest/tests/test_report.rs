//! Reports and generated files, as snapshots: the summary table, the JUnit
//! XML, the job script the guest sources. No VM needed.

use crib_vmtest::report::{junit_xml, summary_table};
use crib_vmtest::splat::Splat;
use crib_vmtest::{Accel, BootOutcome, BootReport, CommandResult, GuestCommand, Job, Status};
use std::time::Duration;

fn result(name: &str, status: Status, code: Option<i32>, output: &str) -> CommandResult {
    CommandResult {
        name: name.into(),
        command: format!("run {name}"),
        status,
        exit_code: code,
        seconds: 1.25,
        output: output.into(),
        splats: vec![],
        detail: None,
    }
}

fn reports() -> Vec<BootReport> {
    let mut splat = result("oops", Status::Splat, Some(0), "");
    splat.splats.push(Splat {
        title: "BUG: kernel NULL pointer dereference, address: 0000000000000000".into(),
        excerpt: "BUG: kernel NULL pointer dereference\nCall Trace:".into(),
    });
    splat.detail = Some("exit 0; kernel: BUG: kernel NULL pointer dereference".into());
    let mut hang = result("hang", Status::TimedOut, Some(137), "");
    hang.detail = Some("killed after 3s".into());
    vec![
        BootReport {
            kernel: "debian-6.12".into(),
            runner: "qemu".into(),
            accel: Accel::Tcg,
            outcome: BootOutcome::Ok,
            boot_seconds: Some(5.0),
            guest_uptime_at_ready: Some(3.0),
            first_result_seconds: Some(5.5),
            total_seconds: 9.0,
            commands: vec![
                result("env/btf", Status::Passed, Some(0), "ok\n"),
                result("false", Status::Failed, Some(1), "<&> \"quoted\"\n"),
                result("skip", Status::Skipped, Some(77), ""),
                splat,
                hang,
            ],
            boot_splats: vec![],
            console_log: "/run/console.log".into(),
            console_tail: None,
            flaky: None,
        },
        BootReport {
            kernel: "patched".into(),
            runner: "qemu".into(),
            accel: Accel::Tcg,
            outcome: BootOutcome::NeverStarted {
                detail: "no READY from the guest init within 20s".into(),
            },
            boot_seconds: None,
            guest_uptime_at_ready: None,
            first_result_seconds: None,
            total_seconds: 20.0,
            commands: vec![{
                let mut c = result("env/btf", Status::NotRun, None, "");
                c.seconds = 0.0;
                c.detail = Some("the guest never reached its init".into());
                c
            }],
            boot_splats: vec![],
            console_log: "/run2/console.log".into(),
            console_tail: Some("Kernel panic - not syncing: VFS".into()),
            flaky: None,
        },
    ]
}

#[test]
fn summary_table_snapshot() {
    insta::assert_snapshot!(summary_table(&reports()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(junit_xml(&reports()));
}

#[test]
fn job_script_snapshot() {
    let job = Job {
        cwd: "/work/main".into(),
        env: vec![("RUST_BACKTRACE".into(), "1".into())],
        tmpfs: vec!["/tmp".into(), "/run".into()],
        share: Some("/work/main/target/vmtest/x/share".into()),
        commands: vec![
            GuestCommand {
                name: "a".into(),
                command: "echo 'hi' && true".into(),
                timeout: Duration::from_secs(30),
            },
            GuestCommand {
                name: "b/c".into(),
                command: "false".into(),
                timeout: Duration::from_millis(10),
            },
        ],
    };
    // CARGO_HOME is copied from the environment when set; keep it out.
    let text = job.render().unwrap_or_else(|e| panic!("{e}"));
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("export CARGO_HOME="))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(text);
}

#[test]
fn a_retried_boot_is_reported_flaky_never_passed() {
    let mut r = reports().remove(0);
    r.commands.truncate(1);
    r.flaky = Some(crib_vmtest::report::FlakyBoot {
        detail: "guest never started: QEMU exited before the guest init reported: Oops: int3"
            .into(),
        console_excerpt:
            "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI | RIP: 0010:enqueue_timer+0x2f/0x80".into(),
        run_dir: "/run/debian-6.12-attempt1".into(),
    });
    let table = crib_vmtest::report::summary_table(std::slice::from_ref(&r));
    assert!(
        table
            .lines()
            .any(|l| l.contains("(boot)") && l.contains("flaky")),
        "{table}"
    );
    assert!(table.contains("retried once"), "{table}");
    let xml = crib_vmtest::report::junit_xml(std::slice::from_ref(&r));
    assert!(xml.contains("name=\"(boot attempt 1)\""), "{xml}");
    assert!(
        xml.contains("<skipped message=\"flaky: guest never started"),
        "{xml}"
    );
    // The attempt is neither a pass nor hidden: 1 test passed, the attempt skipped.
    assert!(!xml.contains("name=\"(boot)\""), "{xml}");
}
