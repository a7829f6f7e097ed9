//! Open-coded iterators: for state `struct bpf_iter_<x>` the kernel wants
//! `bpf_iter_<x>_new` (KF_ITER_NEW, returns int), `bpf_iter_<x>_next`
//! (KF_ITER_NEXT | KF_RET_NULL, returns a pointer) and
//! `bpf_iter_<x>_destroy` (KF_ITER_DESTROY, returns void), each taking a
//! pointer to the state first.

use super::Ctx;
use crate::model::{CType, KfFlag, Kfunc, Loc};
use std::collections::BTreeMap;

const METHODS: [(&str, KfFlag); 3] = [
    ("_new", KfFlag::IterNew),
    ("_next", KfFlag::IterNext),
    ("_destroy", KfFlag::IterDestroy),
];

/// `bpf_iter_<x>_new` → (`x`, `_new`).
fn split_method(name: &str) -> Option<(&str, &'static str)> {
    let rest = name.strip_prefix("bpf_iter_")?;
    METHODS.iter().find_map(|(suffix, _)| {
        rest.strip_suffix(suffix)
            .filter(|x| !x.is_empty())
            .map(|x| (x, *suffix))
    })
}

pub(super) fn check(cx: &mut Ctx<'_>) {
    let set = cx.set;
    // iterator name → where it was first seen
    let mut iters: BTreeMap<String, Loc> = BTreeMap::new();
    // Anchor diagnostics at the state opaque when there is one.
    for o in set.opaques() {
        if let Some(x) = o.name.strip_prefix("bpf_iter_").filter(|x| !x.is_empty()) {
            iters.entry(x.to_string()).or_insert_with(|| o.loc.clone());
        }
    }
    for k in set.kfuncs() {
        for (suffix, flag) in METHODS {
            if k.has(flag) && split_method(&k.name).map(|(_, s)| s) != Some(suffix) {
                cx.err(
                    &k.loc,
                    format!(
                        "{}: {} kfuncs must be named bpf_iter_<x>{suffix}",
                        k.name,
                        flag.c_name()
                    ),
                );
            }
        }
        if let Some((x, _)) = split_method(&k.name) {
            iters.entry(x.to_string()).or_insert_with(|| k.loc.clone());
        }
    }
    for (x, first) in &iters {
        check_iter(cx, x, first);
    }
    check_iter_args(cx);
}

/// Outside its own `_new`/`_next`/`_destroy` (first arg), the verifier
/// only treats a `struct bpf_iter_<x> *` arg as an iterator when the arg
/// name ends in `__iter` (kernel/bpf/verifier.c, is_kfunc_arg_iter()).
fn check_iter_args(cx: &mut Ctx<'_>) {
    let set = cx.set;
    for (fi, fam) in set.families.iter().enumerate() {
        for (ki, k) in fam.kfuncs.iter().enumerate() {
            for (ai, a) in k.args.iter().enumerate() {
                let Some(state) = a.ty.pointee_struct().filter(|s| s.starts_with("bpf_iter_"))
                else {
                    continue;
                };
                let is_method = ai == 0
                    && METHODS
                        .iter()
                        .any(|(suffix, _)| k.name.strip_suffix(suffix) == Some(state));
                if !is_method && !a.name.ends_with("__iter") {
                    let loc = cx.spans.kfunc_arg((fi, ki), ai, &k.loc);
                    cx.err(
                        &loc,
                        format!(
                            "{}: iterator arg `{}` must be named `{}__iter` (the verifier only \
                             accepts iterator state in other kfuncs through an `__iter` arg)",
                            k.name, a.name, a.name
                        ),
                    );
                }
            }
        }
    }
}

fn check_iter(cx: &mut Ctx<'_>, x: &str, first: &Loc) {
    let state = format!("bpf_iter_{x}");
    if cx.set.opaque(&state).is_none() {
        cx.err(
            first,
            format!("iterator `{x}`: no [[opaque]] `{state}` for its state"),
        );
    }
    for (suffix, flag) in METHODS {
        let name = format!("{state}{suffix}");
        let Some(k) = cx.set.kfunc(&name) else {
            cx.err(first, format!("iterator `{x}`: missing kfunc {name}"));
            continue;
        };
        if !k.has(flag) {
            cx.err(
                &k.loc,
                format!("{name}: iterator method needs {}", flag.c_name()),
            );
        }
        let first_arg_ok = k.args.first().is_some_and(|a| {
            matches!(
                &a.ty,
                CType::Ptr {
                    is_const: false,
                    ..
                }
            ) && a.ty.pointee_struct() == Some(&state)
        });
        if !first_arg_ok {
            cx.err(
                &k.loc,
                format!("{name}: first arg must be `struct {state} *`"),
            );
        }
        check_method(cx, k, flag);
    }
}

fn check_method(cx: &mut Ctx<'_>, k: &Kfunc, flag: KfFlag) {
    match flag {
        KfFlag::IterNew => {
            if !matches!(
                &k.ret,
                CType::Int {
                    bytes: 4,
                    signed: true,
                    ..
                }
            ) {
                cx.err(
                    &k.loc,
                    format!("{}: _new must return int, not `{}`", k.name, k.ret),
                );
            }
        }
        KfFlag::IterNext => {
            if !k.has(KfFlag::RetNull) {
                cx.err(
                    &k.loc,
                    format!("{}: _next needs KF_RET_NULL (NULL ends the loop)", k.name),
                );
            }
            if !k.ret.is_pointer() {
                cx.err(
                    &k.loc,
                    format!("{}: _next must return a pointer, not `{}`", k.name, k.ret),
                );
            }
            if k.args.len() != 1 {
                cx.err(&k.loc, format!("{}: _next takes only the iterator", k.name));
            }
        }
        _ => {
            if k.ret != CType::Void {
                cx.err(
                    &k.loc,
                    format!("{}: _destroy must return void, not `{}`", k.name, k.ret),
                );
            }
            if k.args.len() != 1 {
                cx.err(
                    &k.loc,
                    format!("{}: _destroy takes only the iterator", k.name),
                );
            }
        }
    }
}
