//! Type comparison rules (relaxed = libbpf CO-RE, strict) and C rendering.

use crib_btf::builder::BtfBuilder;
use crib_btf::types::{btf_compatible, c_type, essential_name, spec_matches, Mode};
use crib_btf::Btf;
use crib_spec::CType;
use proptest::prelude::*;

fn int(name: &str, bytes: u8, signed: bool) -> CType {
    CType::Int {
        name: name.into(),
        bytes,
        signed,
    }
}
fn ptr(is_const: bool, t: CType) -> CType {
    CType::Ptr {
        is_const,
        pointee: Box::new(t),
    }
}
fn st(name: &str) -> CType {
    CType::Struct { name: name.into() }
}

fn ctype() -> impl Strategy<Value = CType> {
    let leaf = prop_oneof![
        Just(CType::Void),
        Just(CType::Bool),
        (prop::sample::select(vec![1u8, 2, 4, 8]), any::<bool>()).prop_map(|(b, s)| int(
            &format!("{}{}", if s { "__s" } else { "__u" }, b * 8),
            b,
            s
        )),
        prop::sample::select(vec!["task_struct", "file", "sock"]).prop_map(st),
    ];
    leaf.prop_recursive(3, 8, 1, |inner| {
        prop_oneof![
            (any::<bool>(), inner.clone()).prop_map(|(c, t)| ptr(c, t)),
            (inner, 1u32..5).prop_map(|(t, n)| CType::Array {
                elem: Box::new(t),
                len: n
            }),
        ]
    })
}

proptest! {
    #[test]
    fn a_spec_type_matches_its_own_btf(ct in ctype()) {
        let mut b = BtfBuilder::new();
        let id = b.spec_type(&ct);
        let btf = Btf::parse(b.build()).expect("parses");
        prop_assert!(spec_matches(&ct, &btf, id, Mode::Relaxed).expect("ok"));
        prop_assert!(spec_matches(&ct, &btf, id, Mode::Strict).expect("ok"));
        // And through a typedef and a volatile, as kernels write it.
        let mut b2 = b.clone();
        let t = b2.typedef("wrapped_t", id);
        let v = b2.raw("", 9, 0, false, t, &[]);
        let btf2 = Btf::parse(b2.build()).expect("parses");
        prop_assert!(spec_matches(&ct, &btf2, v, Mode::Strict).expect("ok"));
    }

    #[test]
    fn different_spec_types_do_not_match_strictly(a in ctype(), b in ctype()) {
        prop_assume!(a != b);
        // Int spellings differ only by name: same size and sign is the same type.
        let same_int = matches!((&a, &b), (CType::Int { bytes: x, signed: s, .. }, CType::Int { bytes: y, signed: t, .. }) if x == y && s == t);
        prop_assume!(!same_int);
        let mut bb = BtfBuilder::new();
        let id = bb.spec_type(&b);
        let btf = Btf::parse(bb.build()).expect("parses");
        prop_assert!(!spec_matches(&a, &btf, id, Mode::Strict).expect("ok"), "{a} matched {b}");
    }
}

#[test]
fn relaxed_ignores_int_size_sign_and_const_strict_does_not() {
    let mut b = BtfBuilder::new();
    let s64 = b.int("long", 8, true);
    let u8t = b.int("unsigned char", 1, false);
    let task = b.struct_type("task_struct", 8, &[]);
    let ctask = b.const_of(task);
    let pctask = b.ptr(ctask);
    let btf = Btf::parse(b.build()).expect("parses");
    let u32t = int("u32", 4, false);
    assert!(spec_matches(&u32t, &btf, s64, Mode::Relaxed).expect("ok"));
    assert!(!spec_matches(&u32t, &btf, s64, Mode::Strict).expect("ok"));
    assert!(!spec_matches(&CType::Bool, &btf, u8t, Mode::Strict).expect("ok"));
    assert!(spec_matches(&CType::Bool, &btf, u8t, Mode::Relaxed).expect("ok"));
    let p = ptr(false, st("task_struct"));
    assert!(spec_matches(&p, &btf, pctask, Mode::Relaxed).expect("ok"));
    assert!(!spec_matches(&p, &btf, pctask, Mode::Strict).expect("ok"));
    assert!(spec_matches(&ptr(true, st("task_struct")), &btf, pctask, Mode::Strict).expect("ok"));
    // Struct names always count, flavors aside.
    assert!(!spec_matches(&ptr(false, st("file")), &btf, pctask, Mode::Relaxed).expect("ok"));
    assert!(spec_matches(
        &ptr(false, st("task_struct___v2")),
        &btf,
        pctask,
        Mode::Relaxed
    )
    .expect("ok"));
}

#[test]
fn btf_to_btf_follows_core_rules() {
    let mut a = BtfBuilder::new();
    let ai = a.int("int", 4, true);
    let at = a.struct_type("task_struct___local", 4, &[("pid", ai, 0)]);
    let ap = a.ptr(at);
    let aproto = a.func_proto(ap, &[("pid", ai)]);
    let afwd = a.fwd("file");
    let apf = a.ptr(afwd);
    let aproto2 = a.func_proto(ai, &[("f", apf), ("x", ai)]);
    let a = Btf::parse(a.build()).expect("parses");

    let mut k = BtfBuilder::new();
    let ki = k.int("unsigned int", 4, false);
    let kt = k.struct_type("task_struct", 64, &[]);
    let kp = k.ptr(kt);
    let ktd = k.typedef("pid_t", ki);
    let kproto = k.func_proto(kp, &[("vpid", ktd)]);
    let kf = k.struct_type("file", 8, &[]);
    let kpf = k.ptr(kf);
    let kproto2 = k.func_proto(ki, &[("f", kpf)]);
    let k = Btf::parse(k.build()).expect("parses");

    assert!(btf_compatible(&a, aproto, &k, kproto, Mode::Relaxed).expect("ok"));
    assert!(
        !btf_compatible(&a, aproto, &k, kproto, Mode::Strict).expect("ok"),
        "sign differs"
    );
    assert!(
        !btf_compatible(&a, aproto2, &k, kproto2, Mode::Relaxed).expect("ok"),
        "arg count"
    );
    assert_eq!(essential_name("task_struct___local"), "task_struct");
    assert_eq!(essential_name("___x"), "___x");
}

#[test]
fn c_rendering() {
    let mut b = BtfBuilder::new();
    let u8t = b.int("unsigned char", 1, false);
    let u8td = b.typedef("__u8", u8t);
    let idx = b.int("__ARRAY_SIZE_TYPE__", 4, false);
    let arr = b.array(u8td, idx, 16);
    let c = b.const_of(0);
    let pcv = b.ptr(c);
    let ppcv = b.ptr(pcv);
    let s = b.struct_type("sock", 8, &[]);
    let ps = b.ptr(s);
    let proto = b.func_proto(ps, &[("a", pcv), ("b", u8td)]);
    let btf = Btf::parse(b.build()).expect("parses");
    assert_eq!(c_type(&btf, arr), "__u8[16]");
    assert_eq!(c_type(&btf, pcv), "const void *");
    assert_eq!(c_type(&btf, ppcv), "const void **");
    assert_eq!(c_type(&btf, ps), "struct sock *");
    assert_eq!(c_type(&btf, proto), "struct sock * (*)(const void *, __u8)");
    assert_eq!(c_type(&btf, 999), "<bad type 999>");
}
