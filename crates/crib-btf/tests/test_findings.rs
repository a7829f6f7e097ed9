//! Findings (severities), suppression files and the per-kernel summary:
//! the same report as JSON, table and Markdown.

mod common;

use crib_btf::compat::{check, Options, Report, Severity, Suppressions};
use crib_btf::object::{self, ObjectReport};
use crib_btf::{report, Mode};
use serde_json::Value;

/// `fixture.c` compiled and analysed over the corpus, its path made stable.
fn fixture_object(fixture: &str, flags: &[&str], stable: &str) -> ObjectReport {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = common::clang_bpf(&common::fixture(fixture), tmp.path(), flags);
    let obj = object::open(&o).unwrap_or_else(|e| panic!("{e}"));
    let mut rep = object::analyze(&obj, common::corpus(), Mode::Relaxed);
    rep.path = stable.into();
    rep
}

/// prog.c plus weak_kfuncs.c, whose `bpf_task_from_vpid` the spec is made
/// to register for LSM programs only (program-type findings on 6.18).
fn objects_report() -> Report {
    let prog = fixture_object("prog.c", &[], "prog.bpf.o");
    let mut weak = fixture_object("weak_kfuncs.c", &[], "out/weak_kfuncs.bpf.o");
    weak.apply_prog_types(&|name| (name == "bpf_task_from_vpid").then(|| vec!["lsm".to_string()]));
    check(
        &common::real_specs(),
        common::corpus(),
        vec![prog, weak],
        Options::default(),
    )
}

/// The parts of the JSON report that this change adds.
fn json_view(r: &Report) -> Value {
    let v: Value = serde_json::from_str(&report::json(r)).expect("JSON");
    serde_json::json!({
        "schema_version": v["schema_version"],
        "kernels": v["kernels"]
            .as_array()
            .map(|ks| ks.iter().map(|k| serde_json::json!({
                "label": k["label"],
                "summary": k["summary"],
            })).collect::<Vec<_>>()),
        "findings": v["findings"],
        "suppressions": v["suppressions"],
        "summary": v["summary"],
    })
}

const SUPPRESS: &str = r#"# Known and accepted.
[[suppress]]
item = "bpf_task_acquire"
reason = "acquire is declared for a newer kernel; the program is not shipped"

[[suppress]]
kernel = "6.1?"
item = "task_struct"
field = "crib_unguarded"
code = "unresolved"
reason = "test field, never on a real kernel"

[[suppress]]
kernel = "6.1"
item = "prog.bpf.o"
code = "poisoned"
reason = "6.1 is not a target of the weak path"

[[suppress]]
item = "no_such_item"
reason = "left over from an older spec"
"#;

#[test]
fn severities_follow_the_failure_policy() {
    let r = objects_report();
    // An error is exactly a finding that fails, and the failing pairs are
    // those of the policy (prog.c: 3 + 2 + 3 + 3, weak_kfuncs.c: the
    // unguarded weak call on 6.1 and 6.12, the LSM-only kfunc on 6.18).
    for f in &r.findings {
        assert_eq!(f.fails, f.severity == Severity::Error, "{f:?}");
    }
    assert!(!r.summary.ok);
    let per_kernel: usize = r.kernels.iter().map(|k| k.summary.failures).sum();
    assert_eq!(per_kernel, r.summary.failures);
    // The `?syscall` program refused for its program type is a warning.
    assert!(r.findings.iter().any(|f| f.kind == "program"
        && f.item == "optional_unguarded"
        && f.severity == Severity::Warning));
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == "program" && f.item == "guarded" && f.severity == Severity::Error));
}

#[test]
fn snapshot_objects_table() {
    insta::assert_snapshot!("objects_table", report::table(&objects_report()));
}

#[test]
fn snapshot_objects_markdown() {
    insta::assert_snapshot!("objects_markdown", report::markdown(&objects_report()));
}

#[test]
fn snapshot_objects_json() {
    insta::assert_json_snapshot!("objects_json", json_view(&objects_report()));
}

fn suppressed_report() -> Report {
    let mut r = objects_report();
    let s = Suppressions::parse("suppress.toml", SUPPRESS).unwrap_or_else(|e| panic!("{e}"));
    r.suppress(&s);
    r
}

#[test]
fn snapshot_suppressed_table() {
    insta::assert_snapshot!("suppressed_table", report::table(&suppressed_report()));
}

#[test]
fn snapshot_suppressed_markdown() {
    insta::assert_snapshot!(
        "suppressed_markdown",
        report::markdown(&suppressed_report())
    );
}

#[test]
fn snapshot_suppressed_json() {
    insta::assert_json_snapshot!("suppressed_json", json_view(&suppressed_report()));
}

#[test]
fn suppressions_mark_without_removing_and_report_stale_entries() {
    let before = objects_report();
    let r = suppressed_report();
    assert_eq!(r.findings.len(), before.findings.len());
    let acquire: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.item == "bpf_task_acquire")
        .collect();
    assert!(!acquire.is_empty());
    assert!(acquire.iter().all(|f| f.suppressed.is_some() && !f.fails));
    // The `field` entry is limited to its field and kernels 6.1x.
    for f in r.findings.iter().filter(|f| f.item == "task_struct") {
        let want = f.field.as_deref() == Some("crib_unguarded")
            && f.code == "unresolved"
            && f.kernel.starts_with("6.1")
            && f.kernel.len() == 4;
        assert_eq!(f.suppressed.is_some(), want, "{f:?}");
    }
    assert!(r.summary.failures < before.summary.failures);
    assert_eq!(r.summary.stale_suppressions, 1);
    let stale: Vec<_> = r.stale_suppressions().collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].item, "no_such_item");
    assert_eq!(stale[0].line, 19);
    assert_eq!(stale[0].severity, Some(Severity::Warning));
}

#[test]
fn suppressing_every_error_makes_the_run_ok() {
    let mut r = objects_report();
    assert!(!r.summary.ok);
    let s = Suppressions::parse(
        "all.toml",
        "[[suppress]]\nitem = \"*\"\ncode = \"*\"\nreason = \"accepted for the test\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    r.suppress(&s);
    assert!(r.summary.ok, "{}", report::table(&r));
    assert_eq!(r.summary.failures, 0);
    assert_eq!(r.summary.error + r.summary.warning + r.summary.info, 0);
    assert_eq!(r.summary.suppressed, r.findings.len());
    assert!(report::table(&r).contains("finding(s) suppressed)"));
}
