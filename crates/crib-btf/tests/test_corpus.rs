//! The real kernel BTF corpus (`shared/btf/`): the facts its README lists,
//! and snapshots of the matrix of the real kfunc specs over it.

mod common;

use common::{corpus, real_specs};
use crib_btf::compat::{check, Options, Verdict};
use crib_btf::{report, Kind, Mode};

#[test]
fn type_counts_match_the_readme() {
    let counts: Vec<u32> = corpus().iter().map(|k| k.btf.type_count()).collect();
    assert_eq!(counts, vec![95246, 107331, 126610]);
}

#[test]
fn only_6_18_has_bpf_kfunc_decl_tags() {
    let tags: Vec<usize> = corpus()
        .iter()
        .map(|k| {
            k.btf
                .decl_tags()
                .iter()
                .filter(|(tag, _, _)| {
                    k.btf.get(*tag).and_then(|t| t.name()).ok() == Some("bpf_kfunc")
                })
                .count()
        })
        .collect();
    assert_eq!(tags, vec![0, 0, 203]);
}

#[test]
fn kfunc_presence_matches_the_readme() {
    // (kfunc, present in 6.1, 6.12, 6.18)
    let facts = [
        ("bpf_task_from_pid", [false, true, true]),
        ("bpf_task_from_vpid", [false, false, true]),
        ("bpf_iter_task_vma_new", [false, true, true]),
        ("bpf_get_task_exe_file", [false, true, true]),
        ("bpf_put_file", [false, true, true]),
    ];
    for (name, want) in facts {
        let got: Vec<bool> = corpus()
            .iter()
            .map(|k| k.btf.find_one(name, &[Kind::Func]).is_some())
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn checker_agrees_with_the_readme_presence() {
    let r = check(&real_specs(), corpus(), Vec::new(), Options::default());
    let cells = |name: &str| -> Vec<bool> {
        let item = r
            .items
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name} not in report"));
        item.results.iter().map(Verdict::is_ok).collect()
    };
    assert_eq!(cells("bpf_task_from_vpid"), [false, false, true]);
    assert_eq!(cells("bpf_task_from_pid"), [false, true, true]);
    assert_eq!(cells("bpf_iter_task_vma_new"), [false, true, true]);
    assert_eq!(cells("bpf_get_task_exe_file"), [false, true, true]);
    assert_eq!(cells("bpf_put_file"), [false, true, true]);
    // 6.18 tags its kfuncs: the verdict says the upstream ones are tagged.
    let vpid = r.items.iter().find(|i| i.name == "bpf_task_from_vpid");
    assert!(matches!(
        vpid.map(|i| &i.results[2]),
        Some(Verdict::Compatible {
            decl_tagged: Some(true),
            ..
        })
    ));
    // Stock kernels lack the CRIB kfuncs: absent, which is not a failure...
    assert!(r.summary.ok, "{}", report::table(&r));
    // ...unless presence is required.
    let strict_presence = check(
        &real_specs(),
        corpus(),
        Vec::new(),
        Options {
            mode: Mode::Relaxed,
            require_present: true,
        },
    );
    assert!(!strict_presence.summary.ok);
}

#[test]
fn a_kernel_function_that_is_not_a_kfunc_is_reported_untagged_on_6_18() {
    // On a kernel with bpf_kfunc tags, a plain function found by name is
    // flagged as untagged rather than silently accepted as a kfunc.
    let k = &corpus()[2];
    let f = k
        .btf
        .find_one("vfs_read", &[Kind::Func])
        .expect("vfs_read in 6.18");
    assert!(!k.btf.decl_tags_of(f.id).contains(&"bpf_kfunc"));
    let v = k
        .btf
        .find_one("bpf_task_from_pid", &[Kind::Func])
        .expect("present");
    assert!(k.btf.decl_tags_of(v.id).contains(&"bpf_kfunc"));
}

#[test]
fn snapshot_table() {
    let r = check(&real_specs(), corpus(), Vec::new(), Options::default());
    insta::assert_snapshot!("corpus_table", report::table(&r));
}

#[test]
fn snapshot_json() {
    let r = check(&real_specs(), corpus(), Vec::new(), Options::default());
    insta::assert_snapshot!("corpus_json", report::json(&r));
}

#[test]
fn snapshot_markdown_strict() {
    let opts = Options {
        mode: Mode::Strict,
        require_present: false,
    };
    let r = check(&real_specs(), corpus(), Vec::new(), opts);
    insta::assert_snapshot!("corpus_markdown_strict", report::markdown(&r));
}
