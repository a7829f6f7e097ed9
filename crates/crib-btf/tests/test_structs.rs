//! `__sz` struct evolution rules on in-memory BTF: which version a kernel
//! implements, and every way a struct can break. Property tests: random
//! append-only evolutions always pass, random mutations are always caught.

mod common;

use crib_btf::builder::BtfBuilder;
use crib_btf::compat::{structs, ProblemCode, Verdict};
use crib_btf::Mode;
use crib_spec::{CType, Field, VersionedStruct};
use proptest::prelude::*;

fn int(name: &str, bytes: u8, signed: bool) -> CType {
    CType::Int {
        name: name.into(),
        bytes,
        signed,
    }
}

fn spec(name: &str, fields: &[(&str, CType, u32)]) -> VersionedStruct {
    VersionedStruct {
        name: name.into(),
        doc: String::new(),
        size_member: fields.first().map(|f| f.0.to_string()).unwrap_or_default(),
        version_member: None,
        fields: fields
            .iter()
            .map(|(n, t, since)| Field {
                name: (*n).into(),
                ty: t.clone(),
                since: *since,
                doc: String::new(),
                loc: Default::default(),
            })
            .collect(),
        loc: Default::default(),
    }
}

/// A kernel whose `struct name` has `fields` laid out by C rules (or at
/// the given offsets), with `size` or the natural size.
fn kernel_struct(
    name: &str,
    fields: &[(String, CType, Option<u32>)],
    size: Option<u32>,
) -> crib_btf::Btf {
    let mut b = BtfBuilder::new();
    let mut members = Vec::new();
    let mut off = 0u32;
    let mut align_max = 1;
    for (n, t, at) in fields {
        let id = b.spec_type(t);
        let a = t.align().unwrap_or(1).max(1);
        align_max = align_max.max(a);
        off = at.unwrap_or(off.div_ceil(a) * a);
        members.push((n.clone(), id, off));
        off += t.size().unwrap_or(0);
    }
    let natural = off.div_ceil(align_max) * align_max;
    let m: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|(n, t, o)| (n.as_str(), *t, *o))
        .collect();
    b.struct_type(name, size.unwrap_or(natural), &m);
    crib_btf::Btf::parse(b.build()).expect("builder output parses")
}

fn fields_of(s: &VersionedStruct, v: u32) -> Vec<(String, CType, Option<u32>)> {
    s.fields_in(v)
        .map(|f| (f.name.clone(), f.ty.clone(), None))
        .collect()
}

fn skb_info() -> VersionedStruct {
    let u8x16 = CType::Array {
        elem: Box::new(int("__u8", 1, false)),
        len: 16,
    };
    spec(
        "bpf_crib_skb_info",
        &[
            ("sz", int("__u32", 4, false), 1),
            ("version", int("__u32", 4, false), 1),
            ("tstamp_ns", int("__u64", 8, false), 1),
            ("saddr", u8x16, 1),
            ("sport", int("__u16", 2, false), 1),
            ("family", int("__u16", 2, false), 1),
            ("mark", int("__u32", 4, false), 1),
            ("ifindex", int("__u32", 4, false), 2),
            ("tos", int("__u32", 4, false), 2),
        ],
    )
}

fn codes(v: &Verdict) -> Vec<ProblemCode> {
    match v {
        Verdict::Incompatible { problems } => problems.iter().map(|p| p.code).collect(),
        _ => Vec::new(),
    }
}

fn check(
    s: &VersionedStruct,
    fields: &[(String, CType, Option<u32>)],
    size: Option<u32>,
) -> Verdict {
    structs::check(s, &kernel_struct(&s.name, fields, size), Mode::Relaxed)
}

#[test]
fn v1_and_v2_are_recognised() {
    let s = skb_info();
    for v in [1, 2] {
        assert_eq!(
            check(&s, &fields_of(&s, v), None),
            Verdict::Compatible {
                version: Some(v),
                decl_tagged: None
            }
        );
    }
}

#[test]
fn newer_kernel_with_appended_field_is_compatible_newer() {
    let s = skb_info();
    let mut f = fields_of(&s, 2);
    f.push(("hoplimit".into(), int("__u32", 4, false), None));
    f.push(("pad".into(), int("__u32", 4, false), None));
    assert_eq!(
        check(&s, &f, None),
        Verdict::CompatibleNewer {
            version: 2,
            extra_fields: vec!["hoplimit".into(), "pad".into()]
        }
    );
}

#[test]
fn absent_struct() {
    let s = skb_info();
    let btf = kernel_struct("other", &fields_of(&s, 1), None);
    assert_eq!(structs::check(&s, &btf, Mode::Relaxed), Verdict::Absent);
}

#[test]
fn each_breakage_has_its_reason() {
    let s = skb_info();
    let base = fields_of(&s, 2);
    let u32t = int("__u32", 4, false);

    let mut reordered = base.clone();
    reordered.swap(7, 8);
    assert!(codes(&check(&s, &reordered, None)).contains(&ProblemCode::FieldReordered));

    let mut retyped = base.clone();
    retyped[2].1 = CType::Ptr {
        is_const: false,
        pointee: Box::new(CType::Void),
    };
    assert_eq!(
        codes(&check(&s, &retyped, None)),
        vec![ProblemCode::FieldRetyped]
    );

    let mut resized = base.clone();
    resized[6].1 = int("__u64", 8, false);
    assert!(codes(&check(&s, &resized, None)).contains(&ProblemCode::FieldResized));

    let mut middle = base.clone();
    middle.insert(3, ("flags".into(), u32t.clone(), None));
    assert!(codes(&check(&s, &middle, None)).contains(&ProblemCode::FieldInsertedInMiddle));

    let shrunk: Vec<_> = base[..5].to_vec();
    assert_eq!(
        codes(&check(&s, &shrunk, None)),
        vec![ProblemCode::StructShrank]
    );

    let partial: Vec<_> = base[..8].to_vec();
    assert_eq!(
        codes(&check(&s, &partial, None)),
        vec![ProblemCode::PartialVersion]
    );

    let mut holed = base.clone();
    holed[6].2 = Some(40); // mark moved from 36 to 40: a 4-byte hole
    holed[7].2 = Some(44);
    holed[8].2 = Some(48);
    assert_eq!(codes(&check(&s, &holed, None)), vec![ProblemCode::Hole]);

    assert_eq!(
        codes(&check(&s, &base, Some(64))),
        vec![ProblemCode::Hole],
        "tail padding"
    );
    assert_eq!(
        codes(&check(&s, &base, Some(44))),
        vec![ProblemCode::StructShrank]
    );

    let mut removed = base.clone();
    removed.remove(3);
    assert!(codes(&check(&s, &removed, None)).contains(&ProblemCode::FieldRemoved));

    let mut unknown = fields_of(&s, 1);
    unknown.push(("ifidx".into(), u32t.clone(), None));
    unknown.push(("tos".into(), u32t, None));
    assert!(!check(&s, &unknown, None).is_ok());
}

#[test]
fn sign_change_is_only_caught_in_strict_mode() {
    let s = skb_info();
    let mut f = fields_of(&s, 2);
    f[6].1 = int("__s32", 4, true);
    let btf = kernel_struct(&s.name, &f, None);
    assert!(structs::check(&s, &btf, Mode::Relaxed).is_ok());
    assert_eq!(
        codes(&structs::check(&s, &btf, Mode::Strict)),
        vec![ProblemCode::FieldRetyped]
    );
}

#[test]
fn union_or_forward_declaration_is_wrong_kind() {
    let s = skb_info();
    let mut b = BtfBuilder::new();
    b.fwd("bpf_crib_skb_info");
    let btf = crib_btf::Btf::parse(b.build()).expect("parses");
    assert_eq!(
        codes(&structs::check(&s, &btf, Mode::Relaxed)),
        vec![ProblemCode::WrongKind]
    );
}

// ---- property tests ----

fn field_type() -> impl Strategy<Value = CType> {
    prop_oneof![
        Just(int("__u8", 1, false)),
        Just(int("__u16", 2, false)),
        Just(int("__u32", 4, false)),
        Just(int("__s64", 8, true)),
        Just(CType::Ptr {
            is_const: true,
            pointee: Box::new(CType::Void)
        }),
        (1u32..12).prop_map(|n| CType::Array {
            elem: Box::new(int("__u8", 1, false)),
            len: n
        }),
    ]
}

/// A random spec: 1..4 versions, each adding 1..4 fields.
fn random_spec() -> impl Strategy<Value = VersionedStruct> {
    prop::collection::vec(prop::collection::vec(field_type(), 1..4), 1..4).prop_map(|versions| {
        let mut fields = vec![("sz".to_string(), int("__u32", 4, false), 1)];
        for (v, tys) in versions.iter().enumerate() {
            for (i, t) in tys.iter().enumerate() {
                fields.push((format!("f{v}_{i}"), t.clone(), v as u32 + 1));
            }
        }
        let f: Vec<(&str, CType, u32)> = fields
            .iter()
            .map(|(n, t, v)| (n.as_str(), t.clone(), *v))
            .collect();
        spec("evolving", &f)
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Reorder(usize),
    Retype(usize),
    Shrink,
    MiddleInsert(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Reorder),
        any::<usize>().prop_map(Mutation::Retype),
        Just(Mutation::Shrink),
        any::<usize>().prop_map(Mutation::MiddleInsert),
    ]
}

/// A type of the same size but another kind (caught even in relaxed mode).
fn other_kind(t: &CType) -> CType {
    match t {
        CType::Int { bytes: 8, .. } => CType::Ptr {
            is_const: false,
            pointee: Box::new(CType::Void),
        },
        CType::Int { bytes, .. } => CType::Array {
            elem: Box::new(int("__u8", 1, false)),
            len: u32::from(*bytes),
        },
        CType::Ptr { .. } => int("__u64", 8, false),
        CType::Array { len, .. } if *len == 8 => int("__u64", 8, false),
        CType::Array { len, .. } => CType::Array {
            elem: Box::new(int("__u8", 1, false)),
            len: len + 1,
        },
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn append_only_evolutions_always_pass(s in random_spec(), pick in any::<u32>(), extra in 0usize..3) {
        let v = 1 + pick % s.latest_version();
        let mut f = fields_of(&s, v);
        let newest = v == s.latest_version();
        if newest {
            for i in 0..extra {
                f.push((format!("new{i}"), int("__u64", 8, false), None));
            }
        }
        let got = check(&s, &f, None);
        if newest && extra > 0 {
            prop_assert!(matches!(got, Verdict::CompatibleNewer { version, .. } if version == v), "{got:?}");
        } else {
            prop_assert_eq!(got, Verdict::Compatible { version: Some(v), decl_tagged: None });
        }
    }

    #[test]
    fn mutations_are_always_caught(s in random_spec(), pick in any::<u32>(), m in mutation()) {
        let v = 1 + pick % s.latest_version();
        let mut f = fields_of(&s, v);
        let n = f.len();
        match m {
            Mutation::Reorder(i) => {
                // Needs two fields to swap.
                prop_assume!(n >= 2);
                let i = i % (n - 1);
                f.swap(i, i + 1);
            }
            Mutation::Retype(i) => {
                let i = i % n;
                f[i].1 = other_kind(&f[i].1);
            }
            Mutation::Shrink => {
                // Below v1, or not ending on a version boundary.
                let v1 = s.fields_in(1).count();
                let bounds: Vec<usize> = (1..=s.latest_version()).map(|v| s.fields_in(v).count()).collect();
                let cut = (0..n).rev().find(|c| *c < v1 || !bounds.contains(c));
                prop_assume!(cut.is_some());
                f.truncate(cut.unwrap_or(0));
            }
            Mutation::MiddleInsert(i) => {
                prop_assume!(n >= 2);
                let at = 1 + i % (n - 1);
                f.insert(at, ("intruder".into(), int("__u32", 4, false), None));
            }
        }
        let got = check(&s, &f, None);
        prop_assert!(!got.is_ok(), "mutation {:?} of v{} passed: {:?}", m, v, got);
    }
}

#[test]
fn a_spec_without_fields_does_not_panic() {
    let s = spec("empty", &[]);
    let btf = kernel_struct("empty", &[], None);
    assert!(!structs::check(&s, &btf, Mode::Relaxed).is_ok());
}
