//! kfunc rules on in-memory kernels: presence, prototypes, verifier-
//! meaningful parameter names, decl tags, opaque iterator sizes.

use crib_btf::builder::BtfBuilder;
use crib_btf::compat::kfuncs::{check, suffix_of, KernelFacts};
use crib_btf::compat::{opaques, ProblemCode, Verdict};
use crib_btf::{Btf, Mode};
use crib_spec::{Arg, CType, KfFlag, Kfunc, Origin};

fn int(name: &str, bytes: u8, signed: bool) -> CType {
    CType::Int {
        name: name.into(),
        bytes,
        signed,
    }
}
fn ptr_to(name: &str) -> CType {
    CType::Ptr {
        is_const: false,
        pointee: Box::new(CType::Struct { name: name.into() }),
    }
}

fn kfunc(name: &str, ret: CType, args: &[(&str, CType)]) -> Kfunc {
    Kfunc {
        name: name.into(),
        ret,
        args: args
            .iter()
            .map(|(n, t)| Arg {
                name: (*n).into(),
                ty: t.clone(),
            })
            .collect(),
        flags: vec![KfFlag::TrustedArgs],
        prog_types: Vec::new(),
        origin: Origin::Crib {
            patch: "x.patch".into(),
            upstream_since: None,
        },
        required: true,
        doc: String::new(),
        loc: Default::default(),
    }
}

/// A kernel with one FUNC `name` whose params are given as spec types.
fn kernel_with(name: &str, ret: &CType, params: &[(&str, CType)], tag: Option<&str>) -> Btf {
    let mut b = BtfBuilder::new();
    let r = b.spec_type(ret);
    let ps: Vec<(String, u32)> = params
        .iter()
        .map(|(n, t)| (n.to_string(), b.spec_type(t)))
        .collect();
    let ps: Vec<(&str, u32)> = ps.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let proto = b.func_proto(r, &ps);
    let f = b.func(name, proto);
    if let Some(t) = tag {
        b.decl_tag(t, f, -1);
    }
    Btf::parse(b.build()).expect("parses")
}

fn codes(v: &Verdict) -> Vec<ProblemCode> {
    match v {
        Verdict::Incompatible { problems } => problems.iter().map(|p| p.code).collect(),
        _ => Vec::new(),
    }
}

fn run(spec: &Kfunc, btf: &Btf) -> Verdict {
    check(spec, btf, KernelFacts::of(btf, None), Mode::Relaxed)
}

fn skb_read() -> Kfunc {
    kfunc(
        "bpf_crib_skb_read",
        int("int", 4, true),
        &[
            ("skb", ptr_to("sk_buff")),
            ("offset", int("u32", 4, false)),
            (
                "buf",
                CType::Ptr {
                    is_const: false,
                    pointee: Box::new(CType::Void),
                },
            ),
            ("buf__sz", int("u32", 4, false)),
        ],
    )
}

#[test]
fn matching_prototype_is_ok_and_tag_is_reported() {
    let s = skb_read();
    let btf = kernel_with(
        &s.name,
        &s.ret,
        &s.args
            .iter()
            .map(|a| (a.name.as_str(), a.ty.clone()))
            .collect::<Vec<_>>(),
        None,
    );
    assert_eq!(
        run(&s, &btf),
        Verdict::Compatible {
            version: None,
            decl_tagged: None
        }
    );
    let tagged = kernel_with(
        &s.name,
        &s.ret,
        &s.args
            .iter()
            .map(|a| (a.name.as_str(), a.ty.clone()))
            .collect::<Vec<_>>(),
        Some("bpf_kfunc"),
    );
    assert_eq!(
        run(&s, &tagged),
        Verdict::Compatible {
            version: None,
            decl_tagged: Some(true)
        }
    );
}

#[test]
fn untagged_function_on_a_tagging_kernel() {
    let s = skb_read();
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, true);
    let p = b.func_proto(i, &[]);
    let other = b.func("other_kfunc", p);
    b.decl_tag("bpf_kfunc", other, -1);
    let args: Vec<(String, u32)> = s
        .args
        .iter()
        .map(|a| (a.name.clone(), b.spec_type(&a.ty)))
        .collect();
    let args: Vec<(&str, u32)> = args.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let proto = b.func_proto(i, &args);
    b.func(&s.name, proto);
    let btf = Btf::parse(b.build()).expect("parses");
    let v = run(&s, &btf);
    assert_eq!(
        v,
        Verdict::Compatible {
            version: None,
            decl_tagged: Some(false)
        }
    );
    assert_eq!(v.cell(), "ok (untagged)");
}

#[test]
fn absent_and_each_mismatch() {
    let s = skb_read();
    let good: Vec<(&str, CType)> = s
        .args
        .iter()
        .map(|a| (a.name.as_str(), a.ty.clone()))
        .collect();
    assert_eq!(
        run(&s, &kernel_with("something_else", &s.ret, &good, None)),
        Verdict::Absent
    );

    let fewer = &good[..3];
    assert_eq!(
        codes(&run(&s, &kernel_with(&s.name, &s.ret, fewer, None))),
        vec![ProblemCode::ArgCount]
    );

    let mut retyped = good.clone();
    retyped[0].1 = ptr_to("sock");
    let v = run(&s, &kernel_with(&s.name, &s.ret, &retyped, None));
    assert_eq!(codes(&v), vec![ProblemCode::ArgType]);
    assert_eq!(v.cell(), "BAD: arg 1 type");

    let v = run(&s, &kernel_with(&s.name, &CType::Void, &good, None));
    assert_eq!(codes(&v), vec![ProblemCode::ReturnType]);

    let mut renamed = good.clone();
    renamed[3].0 = "buf_len";
    assert_eq!(
        codes(&run(&s, &kernel_with(&s.name, &s.ret, &renamed, None))),
        vec![ProblemCode::SzPairing]
    );

    let mut k_suffix = good.clone();
    k_suffix[1].0 = "offset__k";
    assert_eq!(
        codes(&run(&s, &kernel_with(&s.name, &s.ret, &k_suffix, None))),
        vec![ProblemCode::ParamName]
    );
}

#[test]
fn kernel_size_arg_must_follow_a_pointer() {
    // Spec and kernel agree on names, but the kernel's __sz follows an int.
    let s = kfunc(
        "bpf_x",
        int("int", 4, true),
        &[("n", int("u32", 4, false)), ("n__sz", int("u32", 4, false))],
    );
    let params: Vec<(&str, CType)> = s
        .args
        .iter()
        .map(|a| (a.name.as_str(), a.ty.clone()))
        .collect();
    let v = run(&s, &kernel_with(&s.name, &s.ret, &params, None));
    assert_eq!(codes(&v), vec![ProblemCode::SzPairing]);
}

#[test]
fn suffixes() {
    assert_eq!(suffix_of("info__sz"), Some("__sz"));
    assert_eq!(suffix_of("rdonly_buf_size__szk"), Some("__szk"));
    assert_eq!(suffix_of("flags__k"), Some("__k"));
    assert_eq!(suffix_of("it__iter"), Some("__iter"));
    assert_eq!(suffix_of("size"), None);
}

#[test]
fn opaque_sizes() {
    let mut b = BtfBuilder::new();
    b.struct_type("bpf_iter_crib_file", 24, &[]);
    b.struct_type("bpf_iter_crib_skb", 24, &[]);
    let btf = Btf::parse(b.build()).expect("parses");
    assert!(opaques::check("bpf_iter_crib_file", 3, &btf).is_ok());
    let v = opaques::check("bpf_iter_crib_skb", 4, &btf);
    assert_eq!(codes(&v), vec![ProblemCode::OpaqueSize]);
    assert_eq!(opaques::check("bpf_iter_nope", 1, &btf), Verdict::Absent);
}
