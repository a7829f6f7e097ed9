//! `drift::check_kernel_tree` on synthetic kernel trees built from the real
//! specs, then broken one way at a time.

use crib_spec::drift::{
    check_kernel_tree, check_sources, check_sources_on, Drift, DriftError, SourceFile,
};
use crib_spec::gen::{btf_id_flags, prototype, uapi_header};
use crib_spec::{load_dir, SpecSet};
use std::path::{Path, PathBuf};

fn specs() -> SpecSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kfunc-specs");
    load_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// A C file implementing every crib kfunc exactly as spec'd.
fn perfect_source(set: &SpecSet) -> String {
    let mut s = String::from("// SPDX-License-Identifier: GPL-2.0\n__bpf_kfunc_start_defs();\n");
    for k in set.kfuncs().filter(|k| k.origin.is_crib()) {
        s.push_str(&format!(
            "\n/* {} */\n__bpf_kfunc {}\n{{\n\treturn 0;\n}}\n",
            k.doc,
            prototype(k)
        ));
    }
    s.push_str("\n__bpf_kfunc_end_defs();\n\nBTF_KFUNCS_START(crib_kfunc_ids)\n");
    for k in set.kfuncs().filter(|k| k.origin.is_crib()) {
        s.push_str(&format!("{}\n", btf_id_flags(k)));
    }
    s.push_str("BTF_KFUNCS_END(crib_kfunc_ids)\n");
    s
}

fn src(text: String) -> Vec<SourceFile> {
    vec![SourceFile {
        path: PathBuf::from("kernel/bpf/crib/crib.c"),
        text,
    }]
}

fn drifts(set: &SpecSet, text: String) -> Vec<Drift> {
    check_sources(set, &src(text), Some(&uapi_header(set)))
}

#[test]
fn perfect_tree_has_no_drift() {
    let set = specs();
    let d = drifts(&set, perfect_source(&set));
    assert!(d.is_empty(), "{d:#?}");
}

#[test]
fn missing_registration_and_definition() {
    let set = specs();
    let text =
        perfect_source(&set).replace("BTF_ID_FLAGS(func, bpf_crib_put_file, KF_RELEASE)\n", "");
    assert_eq!(
        drifts(&set, text),
        [Drift::NotRegistered {
            name: "bpf_crib_put_file".into()
        }]
    );
    let text = perfect_source(&set).replace(
        "__bpf_kfunc void bpf_crib_sock_release(",
        "static void bpf_crib_sock_release(",
    );
    let d = drifts(&set, text);
    assert!(
        matches!(&d[..], [Drift::NotDefined { name, .. }] if name == "bpf_crib_sock_release"),
        "{d:?}"
    );
}

#[test]
fn flags_differ_as_sets() {
    let set = specs();
    // Reordered flags are the same set.
    let text = perfect_source(&set).replace(
        "bpf_crib_file_from_fd, KF_ACQUIRE | KF_RET_NULL | KF_TRUSTED_ARGS",
        "bpf_crib_file_from_fd, KF_TRUSTED_ARGS | KF_RET_NULL |\n\t     KF_ACQUIRE",
    );
    assert!(drifts(&set, text).is_empty());
    let text = perfect_source(&set).replace(
        "bpf_crib_put_file, KF_RELEASE",
        "bpf_crib_put_file, KF_RELEASE | KF_SLEEPABLE",
    );
    let d = drifts(&set, text);
    let [Drift::FlagsDiffer {
        name,
        at,
        spec,
        tree,
    }] = &d[..]
    else {
        panic!("{d:?}")
    };
    assert_eq!(
        (name.as_str(), spec.as_str(), tree.as_str()),
        (
            "bpf_crib_put_file",
            "KF_RELEASE",
            "KF_RELEASE | KF_SLEEPABLE"
        )
    );
    assert_eq!(at.file, Path::new("kernel/bpf/crib/crib.c"));
    assert!(at.line > 1);
}

#[test]
fn prototype_normalizes_spelling_and_whitespace() {
    let set = specs();
    let text = perfect_source(&set).replace(
        "__bpf_kfunc int bpf_crib_skb_read(struct sk_buff *skb, u32 offset, void *buf, u32 buf__sz)",
        "__bpf_kfunc int\nbpf_crib_skb_read(struct sk_buff * skb, __u32 offset,\n\t\t  void *buf, unsigned int buf__sz)",
    );
    let d = drifts(&set, text);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn prototype_differences_are_reported() {
    let set = specs();
    for (from, to) in [
        (
            "bpf_crib_skb_read(struct sk_buff *skb, u32 offset,",
            "bpf_crib_skb_read(struct sk_buff *skb, u64 offset,",
        ),
        (
            "bpf_crib_skb_read(struct sk_buff *skb, u32 offset, void *buf, u32 buf__sz)",
            "bpf_crib_skb_read(struct sk_buff *skb, u32 offset, void *buf, u32 len)",
        ),
        ("int bpf_crib_skb_read(", "long bpf_crib_skb_read("),
        (
            "bpf_crib_sock_release(struct sock *sk)",
            "bpf_crib_sock_release(struct sock *sk, u32 x)",
        ),
    ] {
        let source = perfect_source(&set);
        assert!(source.contains(from), "{from}");
        let d = drifts(&set, source.replace(from, to));
        assert!(
            matches!(&d[..], [Drift::PrototypeDiffers { .. }]),
            "{to}: {d:?}"
        );
    }
}

#[test]
fn extra_crib_kfunc_is_reported_but_upstream_ones_are_not() {
    let set = specs();
    let text = perfect_source(&set)
        + "\n__bpf_kfunc int bpf_crib_secret(void) { return 0; }\nBTF_ID_FLAGS(func, bpf_crib_secret)\n\
           BTF_ID_FLAGS(func, bpf_task_release, KF_RELEASE)\n";
    let d = drifts(&set, text);
    assert!(
        matches!(&d[..], [Drift::Extra { name, .. }] if name == "bpf_crib_secret"),
        "{d:?}"
    );
}

#[test]
fn uapi_header_missing_or_different() {
    let set = specs();
    let d = check_sources(&set, &src(perfect_source(&set)), None);
    assert!(matches!(&d[..], [Drift::UapiMissing { .. }]), "{d:?}");
    let changed = uapi_header(&set).replace("__u32 tos;", "__u16 tos;");
    let d = check_sources(&set, &src(perfect_source(&set)), Some(&changed));
    let [Drift::UapiDiffers { line, .. }] = &d[..] else {
        panic!("{d:?}")
    };
    let want = uapi_header(&set)
        .lines()
        .position(|l| l.contains("__u32 tos;"))
        .map(|i| i + 1);
    assert_eq!(Some(*line), want);
}

#[test]
fn scans_a_kernel_tree_on_disk() {
    let set = specs();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("kernel/bpf/crib")).expect("mkdir");
    std::fs::create_dir_all(root.join("include/uapi/linux")).expect("mkdir");
    std::fs::create_dir_all(root.join("net/core")).expect("mkdir");
    // bpf_task_from_vpid lives in helpers.c like upstream's; the rest in crib/.
    let full = perfect_source(&set);
    let vpid_proto =
        "__bpf_kfunc struct task_struct *bpf_task_from_vpid(s32 vpid)\n{\n\treturn 0;\n}\n";
    assert!(full.contains(vpid_proto));
    let crib = full.replace(vpid_proto, "").replace(
        "BTF_ID_FLAGS(func, bpf_task_from_vpid, KF_ACQUIRE | KF_RET_NULL)\n",
        "",
    );
    std::fs::write(root.join("kernel/bpf/crib/crib.c"), crib).expect("write");
    std::fs::write(
        root.join("kernel/bpf/helpers.c"),
        format!("{vpid_proto}\n__bpf_kfunc void bpf_obj_drop_impl(void *p) {{ }}\nBTF_ID_FLAGS(func, bpf_obj_drop_impl, KF_RELEASE)\nBTF_ID_FLAGS(func, bpf_task_from_vpid, KF_ACQUIRE | KF_RET_NULL)\n"),
    )
    .expect("write");
    std::fs::write(
        root.join("net/core/filter.c"),
        "BTF_ID_FLAGS(func, bpf_crib_rogue)\n",
    )
    .expect("write");
    std::fs::write(
        root.join("include/uapi/linux/bpf_crib.h"),
        uapi_header(&set),
    )
    .expect("write");
    let d = check_kernel_tree(&set, root).unwrap_or_else(|e| panic!("{e}"));
    let text: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["net/core/filter.c:1: bpf_crib_rogue: CRIB kfunc not in kfunc-specs/"]
    );
}

#[test]
fn not_a_kernel_tree_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let e = check_kernel_tree(&specs(), tmp.path()).err();
    assert!(matches!(e, Some(DriftError::NotAKernelTree(_))), "{e:?}");
}

#[test]
fn trusted_args_is_implied_where_mainline_made_it_the_default() {
    let set = specs();
    let stripped = perfect_source(&set)
        .replace(" | KF_TRUSTED_ARGS", "")
        .replace("KF_TRUSTED_ARGS | ", "")
        .replace(", KF_TRUSTED_ARGS)", ")");
    let uapi = uapi_header(&set);
    // 7.3-style tree: no drift without the flag.
    let d = check_sources_on(&set, &src(stripped.clone()), Some(&uapi), true);
    assert!(d.is_empty(), "{d:?}");
    // A 6.12-style tree must still spell it out.
    let d = check_sources_on(&set, &src(stripped), Some(&uapi), false);
    assert!(
        d.iter().any(
            |x| matches!(x, Drift::FlagsDiffer { name, .. } if name == "bpf_crib_file_from_fd")
        ),
        "{d:?}"
    );
}
