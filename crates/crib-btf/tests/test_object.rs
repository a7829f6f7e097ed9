//! BPF objects: kfunc calls and CO-RE relocations of a compiled program,
//! resolved against the real corpus (the kfunc portability matrix).

mod common;

use crib_btf::compat::{check, Options};
use crib_btf::object::{self, ext::ReloKind, programs::Program, ObjectStatus};
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
    // Weak but called unguarded: unresolved everywhere (absent on 6.1,
    // another prototype since), so libbpf poisons the call.
    assert_eq!(
        row("bpf_rcu_read_lock", None),
        ["BAD: weak, called unguarded"; 3]
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
    // acquire) or mismatched (acquire on 6.12, 6.18), the unguarded field (x3),
    // the unguarded call to the unresolved weak bpf_rcu_read_lock (x3).
    let r = check(
        &common::real_specs(),
        kernels,
        vec![rep.clone()],
        Options::default(),
    );
    assert_eq!(r.summary.failures, 3 + 2 + 3 + 3);
    // Without those rows the object loads on 6.12 and 6.18.
    let mut rep = object::analyze(&obj, &kernels[1..], Mode::Relaxed);
    rep.entries.retain(|e| {
        ![
            "bpf_task_acquire",
            "task_struct.crib_unguarded",
            "bpf_rcu_read_lock",
        ]
        .contains(&e.name.as_str())
    });
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

fn weak_fixture(extra: &[&str]) -> (tempfile::TempDir, object::BpfObject) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = common::clang_bpf(&common::fixture("weak_kfuncs.c"), tmp.path(), extra);
    let obj = object::open(&o).unwrap_or_else(|e| panic!("{e}"));
    (tmp, obj)
}

#[test]
fn programs_list_their_kfunc_calls_and_tests() {
    let (_t, obj) = weak_fixture(&[]);
    type Row = (String, String, bool, Vec<String>, Vec<String>);
    let prog = |name: &str, section: &str, calls: &[&str], tests: &[&str]| -> Row {
        (
            name.into(),
            section.into(),
            !section.starts_with('?'),
            calls.iter().map(|s| s.to_string()).collect(),
            tests.iter().map(|s| s.to_string()).collect(),
        )
    };
    let got: Vec<Row> = obj
        .programs
        .iter()
        .map(|p: &Program| {
            (
                p.name.clone(),
                p.section.clone(),
                p.autoload,
                p.calls.iter().cloned().collect(),
                p.tests.iter().cloned().collect(),
            )
        })
        .collect();
    let both = ["bpf_task_from_vpid", "bpf_task_release"];
    assert_eq!(
        got,
        vec![
            prog("guarded", "syscall", &both, &both),
            prog("unguarded", "syscall", &["bpf_task_from_vpid"], &[]),
            // The call is in the `.text` subprogram `lookup`.
            prog("via_subprog", "syscall", &["bpf_task_from_vpid"], &[]),
            prog(
                "optional_unguarded",
                "?syscall",
                &["bpf_task_from_vpid"],
                &[]
            ),
        ]
    );
    assert!(!obj.programs[2].text.is_empty() && obj.programs[0].text.is_empty());
    assert!(!obj.programs[3].autoload);
    assert!(obj.programs[1].calls_unguarded("bpf_task_from_vpid"));
    assert!(!obj.programs[0].calls_unguarded("bpf_task_from_vpid"));
}

#[test]
fn programs_count_only_the_subprograms_they_reach() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = common::clang_bpf(&common::fixture("subprogs.c"), tmp.path(), &[]);
    let obj = object::open(&o).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, Vec<String>, usize)> = obj
        .programs
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.calls.iter().cloned().collect(),
                p.text.len(),
            )
        })
        .collect();
    let row = |n: &str, calls: &[&str], text: usize| {
        (
            n.to_string(),
            calls.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            text,
        )
    };
    assert_eq!(
        got,
        vec![
            // deep, and release_it through deep's pc-relative call
            row("uses_deep", &["bpf_task_from_vpid", "bpf_task_release"], 2),
            row("uses_plain", &[], 1),
            // the callback whose address it passes to bpf_loop
            row("uses_callback", &["callback_only_kfunc"], 1),
            row("no_subprog", &[], 0),
        ]
    );
}

#[test]
fn unguarded_call_to_absent_weak_kfunc_fails_the_object() {
    let (_t, obj) = weak_fixture(&[]);
    // 6.1 and 6.12 lack bpf_task_from_vpid; 6.18 has it.
    let rep = object::analyze(&obj, common::corpus(), Mode::Relaxed);
    let row = rep
        .entries
        .iter()
        .find(|e| e.name == "bpf_task_from_vpid")
        .expect("row");
    let poisoned = ObjectStatus::Poisoned {
        reason: "absent".into(),
        programs: vec!["unguarded".into(), "via_subprog".into()],
    };
    assert_eq!(
        row.results,
        vec![poisoned.clone(), poisoned, ObjectStatus::Ok]
    );
    assert_eq!(rep.loads, vec![false, false, true]);
    let mut snap = rep.clone();
    snap.path = "weak_kfuncs.bpf.o".into();
    insta::assert_json_snapshot!("weak_kfuncs_object_matrix", snap);
}

#[test]
fn guarded_or_not_autoloaded_weak_calls_load() {
    let (_t, obj) = weak_fixture(&["-DGUARDED_ONLY"]);
    let rep = object::analyze(&obj, common::corpus(), Mode::Relaxed);
    let row = |name: &str| -> Vec<String> {
        rep.entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
            .results
            .iter()
            .map(ObjectStatus::cell)
            .collect()
    };
    assert_eq!(
        row("bpf_task_from_vpid"),
        ["absent (weak)", "absent (weak)", "ok"]
    );
    assert_eq!(rep.loads, vec![true, true, true]);
}

/// The ELF tail (symbols, relocations, section headers) of the weak-kfunc
/// fixture, corrupted: `open` + `analyze` give an error or a report, never a
/// panic (u64 overflow on symbol bounds, offsets past the section).
#[test]
fn corrupt_symbols_and_relocations_never_panic() {
    use proptest::prelude::*;
    let (tmp, _) = weak_fixture(&[]);
    let good = std::fs::read(tmp.path().join("weak_kfuncs.bpf.o")).expect("read fixture");
    let kernels = &common::corpus()[..1];
    let bad = tmp.path().join("bad.bpf.o");
    let tail = good.len() * 3 / 4;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(
            &proptest::collection::vec((tail..good.len(), any::<u8>()), 1..16),
            |flips| {
                let mut bytes = good.clone();
                for (at, x) in flips {
                    bytes[at] ^= x;
                }
                std::fs::write(&bad, &bytes).expect("write");
                if let Ok(obj) = object::open(&bad) {
                    let _ = object::analyze(&obj, kernels, Mode::Relaxed);
                }
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Prediction against reality on the host kernel: the weak-kfunc fixture
/// with its kfunc renamed to one no kernel has, loaded by libbpf (the
/// version the harness and `crib-vmtest-load` use) and the host verifier.
/// Needs root and bpf() (the preamble's host has both): if the load is
/// refused for another reason, the assertion names it.
#[test]
fn weak_kfunc_prediction_matches_the_host_verifier() {
    let vmlinux = std::path::Path::new("/sys/kernel/btf/vmlinux");
    let btf = crib_btf::load(vmlinux)
        .unwrap_or_else(|e| panic!("host kernel BTF (this test needs it): {e}"));
    let host = [crib_btf::compat::Kernel::new("host", vmlinux, btf)];
    for (flags, want) in [(&["-DGUARDED_ONLY"][..], true), (&[][..], false)] {
        let mut args = vec!["-Dbpf_task_from_vpid=crib_test_absent_kfunc"];
        args.extend_from_slice(flags);
        let (tmp, obj) = weak_fixture(&args);
        let predicted = object::analyze(&obj, &host, Mode::Relaxed).loads[0];
        let path = tmp.path().join("weak_kfuncs.bpf.o");
        let loaded = libbpf_rs::ObjectBuilder::default()
            .open_file(&path)
            .and_then(|o| o.load());
        let err = loaded.as_ref().err().map(|e| e.to_string());
        assert_eq!(predicted, want, "prediction for {flags:?}");
        assert_eq!(
            loaded.is_ok(),
            want,
            "host load of {flags:?} (predicted {predicted}): {err:?}"
        );
    }
}

#[test]
fn a_kfunc_registered_for_other_program_types_fails_where_present() {
    let (_t, obj) = weak_fixture(&[]);
    let mut rep = object::analyze(&obj, common::corpus(), Mode::Relaxed);
    // Pretend the spec registers bpf_task_from_vpid for LSM programs only
    // (as the fs kfuncs are): the fixture's syscall programs cannot use it.
    rep.apply_prog_types(&|name| (name == "bpf_task_from_vpid").then(|| vec!["lsm".to_string()]));
    let guarded = rep
        .programs
        .iter()
        .find(|p| p.program.name == "guarded")
        .expect("guarded program");
    // Kernel order: 6.1, 6.12, 6.18; only 6.18 has the kfunc.
    assert!(
        guarded.results[0].loads && guarded.results[1].loads,
        "{:?}",
        guarded.results
    );
    assert!(!guarded.results[2].loads);
    assert!(
        guarded.results[2]
            .reasons
            .iter()
            .any(|r| r.contains("registered for lsm programs, not syscall")),
        "{:?}",
        guarded.results[2].reasons
    );
    assert!(!rep.loads[2]);
}
