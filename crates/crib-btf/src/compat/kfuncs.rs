//! kfuncs: presence (a `FUNC` of that name in the kernel BTF), prototype
//! (argument count, argument and return types), and parameter names where
//! the verifier gives them meaning (`__sz`, `__k`, ... suffixes).
//!
//! Kernels before 6.13 or so carry no `DECL_TAG bpf_kfunc`, so presence
//! cannot rely on tags; when a kernel does carry them, the verdict says
//! whether this kfunc is tagged.

use super::verdict::{Problem, ProblemCode as C, Verdict};
use crate::btf::{Btf, Kind};
use crate::error::BtfError;
use crate::kfunc_sets::KfuncSets;
use crate::types::{c_type, spec_matches, strip, Mode};
use crib_spec::{KfFlag, Kfunc};

/// Parameter-name suffixes the verifier interprets (kernel/bpf/verifier.c).
pub const MEANINGFUL_SUFFIXES: &[&str] = &[
    "__sz",
    "__szk",
    "__k",
    "__ign",
    "__uninit",
    "__opt",
    "__nullable",
    "__str",
    "__alloc",
    "__refcounted_kptr",
    "__map",
    "__irq_flag",
    "__iter",
];

/// The verifier-meaningful suffix of a parameter name, if any.
pub fn suffix_of(name: &str) -> Option<&'static str> {
    // `__szk` before `__k`/`__sz`: longest match wins.
    let mut best: Option<&'static str> = None;
    for s in MEANINGFUL_SUFFIXES {
        if name.ends_with(s) && best.is_none_or(|b| s.len() > b.len()) {
            best = Some(s);
        }
    }
    best
}

/// `KF_*` bit values (include/linux/btf.h, stable from 6.1 to 6.18).
pub fn kf_bit(f: KfFlag) -> u32 {
    match f {
        KfFlag::Acquire => 1 << 0,
        KfFlag::Release => 1 << 1,
        KfFlag::RetNull => 1 << 2,
        KfFlag::TrustedArgs => 1 << 4,
        KfFlag::Sleepable => 1 << 5,
        KfFlag::Destructive => 1 << 6,
        KfFlag::Rcu => 1 << 7,
        KfFlag::IterNew => 1 << 8,
        KfFlag::IterNext => 1 << 9,
        KfFlag::IterDestroy => 1 << 10,
        KfFlag::RcuProtected => 1 << 11,
    }
}

/// `KF_ACQUIRE | KF_RET_NULL` for a bit set (known bits only).
pub fn kf_names(bits: u32) -> String {
    let names: Vec<&str> = KfFlag::ALL
        .into_iter()
        .filter(|f| bits & kf_bit(*f) != 0)
        .map(KfFlag::c_name)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// What the checker needs to know about a kernel once, not per kfunc.
#[derive(Debug, Clone, Copy)]
pub struct KernelFacts<'a> {
    /// Whether the BTF carries any `DECL_TAG bpf_kfunc`.
    pub has_kfunc_tags: bool,
    /// kfunc registrations, when known.
    pub sets: Option<&'a KfuncSets>,
}

impl<'a> KernelFacts<'a> {
    pub fn of(btf: &Btf, sets: Option<&'a KfuncSets>) -> KernelFacts<'a> {
        let has_kfunc_tags = btf
            .decl_tags()
            .iter()
            .any(|(tag, _, _)| btf.get(*tag).and_then(|t| t.name()).ok() == Some("bpf_kfunc"));
        KernelFacts {
            has_kfunc_tags,
            sets,
        }
    }
}

/// Is the FUNC registered in a kfunc set, with the spec's flags?
fn registration_problems(k: &Kfunc, id: u32, sets: &KfuncSets, problems: &mut Vec<Problem>) {
    let Some(regs) = sets.flags.get(&id) else {
        problems.push(Problem::new(
            C::NotRegistered,
            "not registered",
            format!(
                "`{}` is a kernel function but no kfunc set registers it",
                k.name
            ),
        ));
        return;
    };
    let known: u32 = KfFlag::ALL.into_iter().map(kf_bit).fold(0, |a, b| a | b);
    let want: u32 = k.flags.iter().map(|f| kf_bit(*f)).fold(0, |a, b| a | b);
    if !regs.iter().any(|r| r & known == want) {
        let have: Vec<String> = regs.iter().map(|r| kf_names(r & known)).collect();
        problems.push(Problem::new(
            C::Flags,
            "KF flags",
            format!(
                "registered with {} in the kernel, the spec says {}",
                have.join(" / "),
                kf_names(want)
            ),
        ));
    }
}

pub fn check(k: &Kfunc, btf: &Btf, facts: KernelFacts, mode: Mode) -> Verdict {
    match check_inner(k, btf, facts, mode) {
        Ok(v) => v,
        Err(e) => Verdict::Incompatible {
            problems: vec![Problem::new(C::BadBtf, "bad BTF", e.to_string())],
        },
    }
}

fn check_inner(k: &Kfunc, btf: &Btf, facts: KernelFacts, mode: Mode) -> Result<Verdict, BtfError> {
    let funcs = btf.find(&k.name, &[Kind::Func]);
    // Static functions of the same name may exist in several units; a
    // kfunc is global.
    let global = funcs
        .iter()
        .find(|f| f.linkage() == crate::btf::Linkage::Global);
    let Some(func) = global.or(funcs.first()) else {
        return Ok(Verdict::Absent);
    };
    let proto = btf.get(func.ref_type())?;
    if proto.kind != Kind::FuncProto {
        return Ok(Verdict::Incompatible {
            problems: vec![Problem::new(
                C::WrongKind,
                "not a function",
                format!("FUNC `{}` does not point at a FUNC_PROTO", k.name),
            )],
        });
    }
    let params = proto.params()?;
    let mut problems = Vec::new();
    if !spec_matches(&k.ret, btf, proto.ref_type(), mode)? {
        problems.push(Problem::new(
            C::ReturnType,
            "ret type",
            format!(
                "returns `{}` in the kernel, `{}` in the spec",
                c_type(btf, proto.ref_type()),
                k.ret
            ),
        ));
    }
    if params.len() != k.args.len() {
        problems.push(Problem::new(
            C::ArgCount,
            format!("arg count {}≠{}", params.len(), k.args.len()),
            format!(
                "takes {} argument(s) in the kernel, {} in the spec",
                params.len(),
                k.args.len()
            ),
        ));
    }
    for (i, (a, p)) in k.args.iter().zip(&params).enumerate() {
        let n = i + 1;
        if !spec_matches(&a.ty, btf, p.type_id, mode)? {
            problems.push(Problem::new(
                C::ArgType,
                format!("arg {n} type"),
                format!(
                    "argument {n} (`{}`) is `{}` in the kernel, `{}` in the spec",
                    a.name,
                    c_type(btf, p.type_id),
                    a.ty
                ),
            ));
        }
        let (ks, ss) = (suffix_of(p.name), suffix_of(&a.name));
        if ks != ss {
            let code = if ks == Some("__sz") || ss == Some("__sz") {
                C::SzPairing
            } else {
                C::ParamName
            };
            let short = if code == C::SzPairing {
                format!("arg {n} __sz")
            } else {
                format!("arg {n} name")
            };
            problems.push(Problem::new(
                code,
                short,
                format!(
                    "argument {n} is named `{}` in the kernel, `{}` in the spec; the verifier reads the suffix",
                    p.name, a.name
                ),
            ));
        } else if ks == Some("__sz") {
            // The kernel's own pairing: a size must follow a pointer.
            let prev_is_ptr = match i.checked_sub(1).and_then(|j| params.get(j)) {
                Some(prev) => btf.get(strip(btf, prev.type_id)?.0)?.kind == Kind::Ptr,
                None => false,
            };
            if !prev_is_ptr {
                problems.push(Problem::new(
                    C::SzPairing,
                    format!("arg {n} __sz"),
                    format!(
                        "argument {n} `{}` is a size but argument {} is not a pointer in the kernel",
                        p.name,
                        n.saturating_sub(1)
                    ),
                ));
            }
        }
    }
    if let Some(sets) = facts.sets {
        registration_problems(k, func.id, sets, &mut problems);
    }
    if !problems.is_empty() {
        return Ok(Verdict::Incompatible { problems });
    }
    let decl_tagged = facts
        .has_kfunc_tags
        .then(|| btf.decl_tags_of(func.id).contains(&"bpf_kfunc"));
    Ok(Verdict::Compatible {
        version: None,
        decl_tagged,
    })
}
