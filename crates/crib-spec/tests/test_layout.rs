//! Versioned struct layout: `layout()` / `size_of_version()` agree with a
//! byte-stepping reference for random append-only field lists, versions
//! only ever extend the previous layout, and clang agrees on a batch.

use crib_spec::{CType, Field, Loc, VersionedStruct};
use proptest::prelude::*;
use std::process::Command;

const UAPI_INTS: [(&str, u8, bool); 8] = [
    ("__u8", 1, false),
    ("__u16", 2, false),
    ("__u32", 4, false),
    ("__u64", 8, false),
    ("__s8", 1, true),
    ("__s16", 2, true),
    ("__s32", 4, true),
    ("__s64", 8, true),
];

fn field_type() -> impl Strategy<Value = CType> {
    let int =
        proptest::sample::select(&UAPI_INTS[..]).prop_map(|(name, bytes, signed)| CType::Int {
            name: name.to_string(),
            bytes,
            signed,
        });
    prop_oneof![
        3 => int.clone(),
        1 => (int, 1u32..20).prop_map(|(e, len)| CType::Array { elem: Box::new(e), len }),
    ]
}

/// A struct with `sz` first and random fields whose `since` steps by 0 or 1.
fn append_only_struct() -> impl Strategy<Value = VersionedStruct> {
    proptest::collection::vec((field_type(), any::<bool>()), 0..24).prop_map(|spec| {
        let mut fields = vec![Field {
            name: "sz".into(),
            ty: CType::Int {
                name: "__u32".into(),
                bytes: 4,
                signed: false,
            },
            since: 1,
            doc: String::new(),
            loc: Loc::default(),
        }];
        let mut v = 1;
        for (i, (ty, bump)) in spec.into_iter().enumerate() {
            v += u32::from(bump);
            fields.push(Field {
                name: format!("f{i}"),
                ty,
                since: v,
                doc: String::new(),
                loc: Loc::default(),
            });
        }
        VersionedStruct {
            name: "t".into(),
            doc: String::new(),
            size_member: "sz".into(),
            version_member: None,
            fields,
            loc: Loc::default(),
        }
    })
}

/// Reference C layout, by stepping one byte at a time.
fn reference(s: &VersionedStruct, v: u32) -> (Vec<u32>, u32) {
    let mut off = 0u32;
    let mut max_align = 1;
    let mut offsets = Vec::new();
    for f in s.fields.iter().filter(|f| f.since <= v) {
        let (size, align) = match &f.ty {
            CType::Int { bytes, .. } => (u32::from(*bytes), u32::from(*bytes)),
            CType::Array { elem, len } => match elem.as_ref() {
                CType::Int { bytes, .. } => (u32::from(*bytes) * len, u32::from(*bytes)),
                _ => unreachable!("generator makes int arrays only"),
            },
            _ => unreachable!("generator makes ints and arrays only"),
        };
        while off % align != 0 {
            off += 1;
        }
        offsets.push(off);
        off += size;
        max_align = max_align.max(align);
    }
    while off % max_align != 0 {
        off += 1;
    }
    (offsets, off)
}

proptest! {
    #[test]
    fn layout_matches_reference(s in append_only_struct()) {
        for v in 1..=s.latest_version() {
            let layout = s.layout(v).ok_or_else(|| TestCaseError::fail("no layout"))?;
            let (offsets, size) = reference(&s, v);
            prop_assert_eq!(layout.iter().map(|l| l.offset).collect::<Vec<_>>(), offsets);
            prop_assert_eq!(s.size_of_version(v), Some(size));
        }
    }

    #[test]
    fn versions_only_extend(s in append_only_struct()) {
        for v in 1..s.latest_version() {
            let old = s.layout(v).ok_or_else(|| TestCaseError::fail("no layout"))?;
            let new = s.layout(v + 1).ok_or_else(|| TestCaseError::fail("no layout"))?;
            prop_assert_eq!(&new[..old.len()], &old[..]);
            prop_assert!(s.size_of_version(v) <= s.size_of_version(v + 1));
        }
    }
}

/// One clang run checks a batch of random structs against our layout.
#[test]
fn clang_agrees_on_random_structs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    // The BPF target has no asm/types.h; spell the uapi typedefs out.
    let mut c = String::from(
        "typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;\n\
         typedef unsigned long long __u64; typedef signed char __s8; typedef short __s16;\n\
         typedef int __s32; typedef long long __s64;\n",
    );
    for i in 0..64 {
        let s = append_only_struct()
            .new_tree(&mut runner)
            .expect("strategy")
            .current();
        let name = format!("t{i}");
        let v = s.latest_version();
        c.push_str(&format!("struct {name} {{\n"));
        for f in &s.fields {
            c.push_str(&format!("\t{};\n", f.ty.c_decl(&f.name)));
        }
        c.push_str("};\n");
        let size = s.size_of_version(v).expect("size");
        c.push_str(&format!(
            "_Static_assert(sizeof(struct {name}) == {size}, \"{name} size\");\n"
        ));
        for l in s.layout(v).expect("layout") {
            c.push_str(&format!(
                "_Static_assert(__builtin_offsetof(struct {name}, {}) == {}, \"{name}.{}\");\n",
                l.name, l.offset, l.name
            ));
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("layout.c");
    std::fs::write(&src, c).expect("write");
    let out = Command::new("clang")
        .args(["-target", "bpf", "-fsyntax-only"])
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run clang (apt-get install clang): {e}"));
    assert!(
        out.status.success(),
        "clang disagrees:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
