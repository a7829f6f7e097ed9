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

// ---- the padding rules, on random evolutions --------------------------

fn u8_pad(name: String, len: u32, since: u32) -> Field {
    let elem = CType::Int {
        name: "__u8".into(),
        bytes: 1,
        signed: false,
    };
    Field {
        name,
        ty: CType::Array {
            elem: Box::new(elem),
            len,
        },
        since,
        doc: String::new(),
        loc: Loc::default(),
    }
}

/// Insert explicit padding so that no version has a hole or hidden tail.
fn padded(s: &VersionedStruct) -> VersionedStruct {
    let mut out = Vec::new();
    let (mut end, mut max_align, mut version) = (0u32, 1u32, 1u32);
    let mut n = 0;
    let mut pad = |out: &mut Vec<Field>, end: &mut u32, to: u32, since: u32| {
        if *end % to != 0 {
            let len = to - *end % to;
            out.push(u8_pad(format!("__pad{n}"), len, since));
            n += 1;
            *end += len;
        }
    };
    for f in &s.fields {
        if f.since != version {
            pad(&mut out, &mut end, max_align, version); // tail of the older version
            version = f.since;
        }
        let align = f.ty.align().unwrap_or(1);
        pad(&mut out, &mut end, align, f.since);
        max_align = max_align.max(align);
        end += f.ty.size().unwrap_or(0);
        out.push(f.clone());
    }
    pad(&mut out, &mut end, max_align, version);
    VersionedStruct {
        fields: out,
        ..s.clone()
    }
}

fn as_set(s: VersionedStruct) -> crib_spec::SpecSet {
    crib_spec::SpecSet {
        families: vec![crib_spec::Family {
            name: "t".into(),
            structs: vec![s],
            ..Default::default()
        }],
    }
}

proptest! {
    #[test]
    fn explicitly_padded_evolutions_validate(s in append_only_struct()) {
        let p = padded(&s);
        if let Err(e) = crib_spec::validate(&as_set(p.clone()), None) {
            return Err(TestCaseError::fail(format!("{e}\n{:#?}", p.fields.iter().map(|f| (&f.name, f.since)).collect::<Vec<_>>())));
        }
    }

    #[test]
    fn dropping_any_pad_is_caught(s in append_only_struct(), pick in any::<proptest::sample::Index>()) {
        let p = padded(&s);
        let pads: Vec<usize> = p.fields.iter().enumerate().filter(|(_, f)| f.name.starts_with("__pad")).map(|(i, _)| i).collect();
        prop_assume!(!pads.is_empty());
        let mut broken = p.clone();
        broken.fields.remove(pads[pick.index(pads.len())]);
        let err = crib_spec::validate(&as_set(broken), None).err().map(|e| e.to_string()).unwrap_or_default();
        prop_assert!(err.contains("padding hole") || err.contains("alignment tail"), "not caught: {}", err);
    }

    #[test]
    fn moving_a_field_to_an_older_version_is_caught(s in append_only_struct(), pick in any::<proptest::sample::Index>()) {
        let mut p = padded(&s);
        let later: Vec<usize> = p.fields.iter().enumerate().filter(|(_, f)| f.since > 1).map(|(i, _)| i).collect();
        prop_assume!(!later.is_empty());
        let i = later[pick.index(later.len())];
        // Only a decrease below an earlier field's version breaks the order.
        prop_assume!(p.fields[..i].iter().any(|f| f.since == p.fields[i].since));
        p.fields[i].since -= 1;
        let err = crib_spec::validate(&as_set(p), None).err().map(|e| e.to_string()).unwrap_or_default();
        prop_assert!(err.contains("append-only"), "not caught: {}", err);
    }
}
