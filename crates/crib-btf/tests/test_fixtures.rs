//! C fixtures compiled with `clang -O2 -g -target bpf -c`, checked as
//! "kernels" against the real spec: good and bad evolutions of
//! `struct bpf_crib_skb_info`, and broken kfunc prototypes.

mod common;

use crib_btf::compat::{check, Kernel, Options, ProblemCode, Verdict};
use crib_btf::Mode;

/// Compile `kernel_skb_info.c` with `defines` and load it as a kernel.
fn fixture_kernel(dir: &std::path::Path, label: &str, defines: &[&str]) -> Kernel {
    let src = common::fixture("kernel_skb_info.c");
    let sub = dir.join(label);
    std::fs::create_dir_all(&sub).expect("mkdir");
    let flags: Vec<String> = defines.iter().map(|d| format!("-D{d}")).collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let obj = common::clang_bpf(&src, &sub, &flags);
    Kernel::load(label, obj).unwrap_or_else(|e| panic!("{e}"))
}

fn verdict<'r>(r: &'r crib_btf::Report, item: &str, kernel: usize) -> &'r Verdict {
    &r.items
        .iter()
        .find(|i| i.name == item)
        .unwrap_or_else(|| panic!("{item} not in report"))
        .results[kernel]
}

fn codes(v: &Verdict) -> Vec<ProblemCode> {
    match v {
        Verdict::Incompatible { problems } => problems.iter().map(|p| p.code).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn struct_evolutions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str)] = &[
        ("v1", "VARIANT_V1"),
        ("v2", "VARIANT_V2"),
        ("v3", "VARIANT_V3"),
        ("reordered", "VARIANT_REORDERED"),
        ("retyped", "VARIANT_RETYPED"),
        ("resized", "VARIANT_RESIZED"),
        ("middle", "VARIANT_MIDDLE"),
        ("shrunk", "VARIANT_SHRUNK"),
        ("holed", "VARIANT_HOLED"),
    ];
    let kernels: Vec<Kernel> = cases
        .iter()
        .map(|(label, def)| fixture_kernel(tmp.path(), label, &[def]))
        .collect();
    let r = check(
        &common::real_specs(),
        &kernels,
        Vec::new(),
        Options::default(),
    );
    let v = |i: usize| verdict(&r, "bpf_crib_skb_info", i);
    assert_eq!(
        v(0),
        &Verdict::Compatible {
            version: Some(1),
            decl_tagged: None
        }
    );
    assert_eq!(
        v(1),
        &Verdict::Compatible {
            version: Some(2),
            decl_tagged: None
        }
    );
    assert_eq!(
        v(2),
        &Verdict::CompatibleNewer {
            version: 2,
            extra_fields: vec!["hoplimit".into(), "__pad".into()]
        }
    );
    assert!(
        codes(v(3)).contains(&ProblemCode::FieldReordered),
        "{:?}",
        v(3)
    );
    assert_eq!(codes(v(4)), vec![ProblemCode::FieldRetyped]);
    assert!(
        codes(v(5)).contains(&ProblemCode::FieldResized),
        "{:?}",
        v(5)
    );
    assert!(
        codes(v(6)).contains(&ProblemCode::FieldInsertedInMiddle),
        "{:?}",
        v(6)
    );
    assert_eq!(codes(v(7)), vec![ProblemCode::StructShrank]);
    assert!(codes(v(8)).contains(&ProblemCode::Hole), "{:?}", v(8));
    // The kfunc prototype is the good one in all of these.
    for i in 0..kernels.len() {
        assert!(verdict(&r, "bpf_crib_udp_queue_rcv", i).is_ok());
    }
    // Incompatible required items fail the run.
    assert!(!r.summary.ok);
    insta::assert_snapshot!(
        "fixture_struct_table",
        crib_btf::report::table(&r).replace(&tmp.path().display().to_string(), "<tmp>")
    );
}

#[test]
fn kfunc_prototype_mismatches() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, Option<ProblemCode>)] = &[
        ("good", "VARIANT_V2", None),
        ("argcount", "KFUNC_ARGCOUNT", Some(ProblemCode::ArgCount)),
        ("argtype", "KFUNC_ARGTYPE", Some(ProblemCode::ArgType)),
        ("ret", "KFUNC_RET", Some(ProblemCode::ReturnType)),
        ("szname", "KFUNC_SZNAME", Some(ProblemCode::SzPairing)),
        ("szpair", "KFUNC_SZPAIR", Some(ProblemCode::SzPairing)),
        ("sign", "KFUNC_SIGN", None),
    ];
    let kernels: Vec<Kernel> = cases
        .iter()
        .map(|(label, def, _)| fixture_kernel(tmp.path(), label, &["VARIANT_V2", def]))
        .collect();
    let relaxed = check(
        &common::real_specs(),
        &kernels,
        Vec::new(),
        Options::default(),
    );
    for (i, (label, _, want)) in cases.iter().enumerate() {
        let v = verdict(&relaxed, "bpf_crib_udp_queue_rcv", i);
        match want {
            None => assert!(v.is_ok(), "{label}: {v:?}"),
            Some(code) => assert!(codes(v).contains(code), "{label}: {v:?}"),
        }
    }
    // Strict mode also sees `int info__sz` vs `u32 info__sz`.
    let strict = check(
        &common::real_specs(),
        &kernels,
        Vec::new(),
        Options {
            mode: Mode::Strict,
            require_present: false,
        },
    );
    assert_eq!(
        codes(verdict(&strict, "bpf_crib_udp_queue_rcv", 6)),
        vec![ProblemCode::ArgType]
    );
    assert!(verdict(&strict, "bpf_crib_udp_queue_rcv", 0).is_ok());
}
