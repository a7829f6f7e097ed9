//! CO-RE relocation resolution on in-memory BTF: candidates by essential
//! name, members through anonymous structs/unions, arrays, ambiguity.

use crib_btf::builder::BtfBuilder;
use crib_btf::object::core::{describe, resolve, Resolution};
use crib_btf::object::ext::{CoreRelo, ReloKind};
use crib_btf::Btf;

fn relo(type_id: u32, access: &[u32], kind: ReloKind) -> CoreRelo {
    CoreRelo {
        section: "s".into(),
        insn_off: 0,
        type_id,
        access: access.to_vec(),
        kind,
    }
}

/// Local (program) view: struct task_struct___old { int pid; int comm[4]; }.
fn local() -> (Btf, u32) {
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, true);
    let idx = b.int("__ARRAY_SIZE_TYPE__", 4, false);
    let arr = b.array(i, idx, 4);
    let t = b.struct_type("task_struct___old", 20, &[("pid", i, 0), ("comm", arr, 4)]);
    (Btf::parse(b.build()).expect("parses"), t)
}

#[test]
fn field_inside_an_anonymous_union_resolves() {
    let (obj, t) = local();
    let mut k = BtfBuilder::new();
    let i = k.int("int", 4, true);
    let idx = k.int("__ARRAY_SIZE_TYPE__", 4, false);
    let arr = k.array(i, idx, 16);
    let u = k.union_type("", 4, &[("pid", i, 0), ("tid", i, 0)]);
    k.struct_type(
        "task_struct",
        128,
        &[("state", i, 0), ("", u, 8), ("comm", arr, 12)],
    );
    let k = Btf::parse(k.build()).expect("parses");
    assert_eq!(
        resolve(&obj, &relo(t, &[0, 0], ReloKind::FieldByteOffset), &k),
        Resolution::Ok
    );
    assert_eq!(
        resolve(&obj, &relo(t, &[0, 1, 2], ReloKind::FieldByteOffset), &k),
        Resolution::Ok
    );
    assert_eq!(
        describe(&obj, &relo(t, &[0, 1, 2], ReloKind::FieldByteOffset)),
        "task_struct___old.comm[2]"
    );
}

#[test]
fn missing_field_retyped_field_and_existence() {
    let (obj, t) = local();
    let mut k = BtfBuilder::new();
    let s = k.struct_type("pid_s", 4, &[]);
    k.struct_type("task_struct", 64, &[("pid", s, 0)]);
    let k = Btf::parse(k.build()).expect("parses");
    // pid is a struct in the kernel: incompatible with a local int.
    assert!(matches!(
        resolve(&obj, &relo(t, &[0, 0], ReloKind::FieldByteOffset), &k),
        Resolution::Unresolved(_)
    ));
    // comm does not exist: offset is poisoned, existence check answers no.
    assert!(matches!(
        resolve(&obj, &relo(t, &[0, 1], ReloKind::FieldByteOffset), &k),
        Resolution::Unresolved(_)
    ));
    assert!(matches!(
        resolve(&obj, &relo(t, &[0, 1], ReloKind::FieldExists), &k),
        Resolution::DoesNotExist(_)
    ));
}

#[test]
fn array_index_beyond_the_kernel_array_fails() {
    let (obj, t) = local();
    let mut k = BtfBuilder::new();
    let i = k.int("int", 4, true);
    let idx = k.int("__ARRAY_SIZE_TYPE__", 4, false);
    let arr = k.array(i, idx, 2);
    k.struct_type("task_struct", 64, &[("pid", i, 0), ("comm", arr, 4)]);
    let k = Btf::parse(k.build()).expect("parses");
    assert_eq!(
        resolve(&obj, &relo(t, &[0, 1, 1], ReloKind::FieldByteOffset), &k),
        Resolution::Ok
    );
    assert!(matches!(
        resolve(&obj, &relo(t, &[0, 1, 3], ReloKind::FieldByteOffset), &k),
        Resolution::Unresolved(_)
    ));
}

#[test]
fn candidates_that_disagree_are_ambiguous() {
    let (obj, t) = local();
    let mut k = BtfBuilder::new();
    let i = k.int("int", 4, true);
    k.struct_type("task_struct", 64, &[("pid", i, 0)]);
    k.struct_type("task_struct", 64, &[("x", i, 0), ("pid", i, 4)]);
    let k = Btf::parse(k.build()).expect("parses");
    assert!(matches!(
        resolve(&obj, &relo(t, &[0, 0], ReloKind::FieldByteOffset), &k),
        Resolution::Ambiguous(_)
    ));
    // Two candidates with the same answer are fine.
    let mut k3 = BtfBuilder::new();
    let i3 = k3.int("int", 4, true);
    k3.struct_type("task_struct", 64, &[("pid", i3, 0)]);
    k3.struct_type("task_struct", 32, &[("pid", i3, 0)]);
    let k3 = Btf::parse(k3.build()).expect("parses");
    assert_eq!(
        resolve(&obj, &relo(t, &[0, 0], ReloKind::FieldByteOffset), &k3),
        Resolution::Ok
    );
}

#[test]
fn enum_and_type_relocations() {
    let mut b = BtfBuilder::new();
    let e = b.enum_type("pid_type___x", &[("PIDTYPE_PID", 0), ("PIDTYPE_NOPE", 9)]);
    let s = b.struct_type("mm_struct", 8, &[]);
    let obj = Btf::parse(b.build()).expect("parses");
    let mut k = BtfBuilder::new();
    k.enum_type("pid_type", &[("PIDTYPE_TGID", 1), ("PIDTYPE_PID", 0)]);
    let k = Btf::parse(k.build()).expect("parses");
    assert_eq!(
        resolve(&obj, &relo(e, &[0], ReloKind::EnumvalValue), &k),
        Resolution::Ok
    );
    assert!(matches!(
        resolve(&obj, &relo(e, &[1], ReloKind::EnumvalExists), &k),
        Resolution::DoesNotExist(_)
    ));
    assert!(matches!(
        resolve(&obj, &relo(e, &[1], ReloKind::EnumvalValue), &k),
        Resolution::Unresolved(_)
    ));
    assert!(matches!(
        resolve(&obj, &relo(s, &[0], ReloKind::TypeExists), &k),
        Resolution::DoesNotExist(_)
    ));
    assert!(matches!(
        resolve(&obj, &relo(s, &[0], ReloKind::TypeSize), &k),
        Resolution::Unresolved(_)
    ));
    assert_eq!(
        resolve(&obj, &relo(s, &[0], ReloKind::TypeIdLocal), &k),
        Resolution::Ok
    );
    assert_eq!(
        describe(&obj, &relo(e, &[0], ReloKind::EnumvalValue)),
        "pid_type___x::PIDTYPE_PID"
    );
}

#[test]
fn bad_access_strings_do_not_panic() {
    let (obj, t) = local();
    let k = Btf::parse(BtfBuilder::new().build()).expect("empty BTF");
    for access in [&[][..], &[0, 99], &[5, 0, 0, 0], &[0, 0, 0]] {
        for kind in [
            ReloKind::FieldByteOffset,
            ReloKind::EnumvalValue,
            ReloKind::TypeMatches,
        ] {
            let r = relo(t, access, kind);
            let _ = resolve(&obj, &r, &k);
            let _ = resolve(&obj, &r, &obj);
            let _ = describe(&obj, &r);
        }
    }
    let r = relo(9999, &[0], ReloKind::FieldByteOffset);
    assert!(matches!(resolve(&obj, &r, &obj), Resolution::Unresolved(_)));
    assert!(describe(&obj, &r).starts_with("<bad relocation"));
}
