//! BPF objects: kfunc calls and CO-RE relocations of a compiled program,
//! resolved against the real corpus (the kfunc portability matrix).

mod common;

use crib_btf::compat::{check, Options};
use crib_btf::object::{self, ext::ReloKind, ObjectStatus};
use crib_btf::Mode;

fn prog() -> (tempfile::TempDir, object::BpfObject) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = common::clang_bpf(&common::fixture("prog.c"), tmp.path(), &[]);
    let obj = object::open(&o).unwrap_or_else(|e| panic!("{e}"));
    (tmp, obj)
}

#[test]
fn lists_kfunc_calls_with_weakness() {
    let (_t, obj) = prog();
    let mut calls: Vec<(String, bool)> = obj
        .kfuncs
        .iter()
        .map(|k| (k.name.clone(), k.weak))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            ("bpf_rcu_read_lock".into(), true),
            ("bpf_task_acquire".into(), false),
            ("bpf_task_from_pid".into(), false),
            ("bpf_task_from_vpid".into(), true),
            ("bpf_task_release".into(), false),
        ]
    );
}

#[test]
fn lists_core_relocations() {
    let (_t, obj) = prog();
    let kinds: Vec<ReloKind> = obj.relos.iter().map(|r| r.kind).collect();
    for k in [
        ReloKind::FieldByteOffset,
        ReloKind::FieldExists,
        ReloKind::EnumvalValue,
        ReloKind::EnumvalExists,
        ReloKind::TypeSize,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

#[test]
fn portability_matrix_over_the_corpus() {
    let (_t, obj) = prog();
    let kernels = common::corpus();
    let rep = object::analyze(&obj, kernels, Mode::Relaxed);
    let row = |name: &str, kind: Option<ReloKind>| -> Vec<String> {
        rep.entries
            .iter()
            .find(|e| e.name == name && e.relo_kind == kind)
            .unwrap_or_else(|| panic!("no row {name} {kind:?}"))
            .results
            .iter()
            .map(ObjectStatus::cell)
            .collect()
    };
    assert_eq!(
        row("bpf_task_from_vpid", None),
        ["absent (weak)", "absent (weak)", "ok"]
    );
    assert_eq!(row("bpf_task_from_pid", None), ["absent", "ok", "ok"]);
    assert_eq!(
        row("bpf_rcu_read_lock", None),
        [
            "absent (weak)",
            "proto differs (weak)",
            "proto differs (weak)"
        ]
    );
    assert_eq!(
        row("bpf_task_acquire", None),
        ["absent", "BAD: proto", "BAD: proto"]
    );
    assert_eq!(
        row("task_struct.pid", Some(ReloKind::FieldByteOffset)),
        ["ok"; 3]
    );
    assert_eq!(
        row("task_struct.crib_not_a_field", Some(ReloKind::FieldExists)),
        ["ok (no)"; 3]
    );
    assert_eq!(
        row(
            "task_struct.crib_not_a_field",
            Some(ReloKind::FieldByteOffset)
        ),
        ["unresolved (guarded)"; 3]
    );
    assert_eq!(
        row(
            "task_struct.crib_unguarded",
            Some(ReloKind::FieldByteOffset)
        ),
        ["BAD: unresolved"; 3]
    );
    assert_eq!(
        row("pid_type::PIDTYPE_TGID", Some(ReloKind::EnumvalValue)),
        ["ok"; 3]
    );
    assert_eq!(
        row("pid_type::PIDTYPE_CRIB_NOPE", Some(ReloKind::EnumvalExists)),
        ["ok (no)"; 3]
    );
    assert_eq!(row("mm_struct", Some(ReloKind::TypeSize)), ["ok"; 3]);
    assert_eq!(
        row(
            "task_struct___crib_old.tgid",
            Some(ReloKind::FieldByteOffset)
        ),
        ["ok"; 3]
    );
    assert_eq!(
        row("crib_no_such_type", Some(ReloKind::TypeExists)),
        ["ok (no)"; 3]
    );
    let mut snap = rep.clone();
    snap.path = "prog.bpf.o".into();
    insta::assert_json_snapshot!("prog_object_matrix", snap);

    // Load failures: non-weak kfuncs missing (6.1: from_pid, release,
    // acquire) or mismatched (acquire on 6.12, 6.18), the unguarded field (x3).
    let r = check(
        &common::real_specs(),
        kernels,
        vec![rep.clone()],
        Options::default(),
    );
    assert_eq!(r.summary.failures, 3 + 2 + 3);
    // Without those rows the object loads on 6.12 and 6.18.
    let mut rep = object::analyze(&obj, &kernels[1..], Mode::Relaxed);
    rep.entries
        .retain(|e| e.name != "bpf_task_acquire" && e.name != "task_struct.crib_unguarded");
    let r = check(
        &common::real_specs(),
        &kernels[1..],
        vec![rep],
        Options::default(),
    );
    assert!(r.summary.ok, "{}", crib_btf::report::table(&r));
}

#[test]
fn object_without_btf_is_a_named_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("plain.c");
    std::fs::write(&src, "int f(int x) { return x + 1; }\n").expect("write");
    let o = tmp.path().join("nobtf.o");
    let st = std::process::Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&o)
        .status()
        .expect("clang");
    assert!(st.success());
    let e = object::open(&o).expect_err("no BTF");
    let msg = e.to_string();
    assert!(
        msg.contains("nobtf.o") && msg.contains("no .BTF section"),
        "{msg}"
    );
}

#[test]
fn per_kernel_load_prediction() {
    let (_t, obj) = prog();
    let rep = object::analyze(&obj, common::corpus(), Mode::Relaxed);
    // Fails everywhere: the unguarded relocation (and 6.1 lacks kfuncs).
    assert_eq!(rep.loads, vec![false, false, false]);
    let table = crib_btf::report::table(&check(
        &common::real_specs(),
        common::corpus(),
        vec![rep],
        Options::default(),
    ));
    assert!(table.contains("=> loads"), "{table}");
}
