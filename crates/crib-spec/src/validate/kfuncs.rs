//! Per-kfunc shape rules: argument count, `__sz` pairing, and what the
//! acquire/release/ret-null flags require of the prototype.

use super::Ctx;
use crate::model::{CType, KfFlag, Kfunc};
use std::collections::HashMap;

/// BPF calls pass at most five arguments in registers.
pub const MAX_ARGS: usize = 5;

pub(super) fn check(cx: &mut Ctx<'_>) {
    let set = cx.set;
    for (fi, fam) in set.families.iter().enumerate() {
        for (ki, k) in fam.kfuncs.iter().enumerate() {
            check_kfunc(cx, (fi, ki), k);
        }
    }
}

fn is_u32(ty: &CType) -> bool {
    matches!(
        ty,
        CType::Int {
            bytes: 4,
            signed: false,
            ..
        }
    )
}

/// Memory the verifier can only bound with a size argument.
fn needs_size(cx: &Ctx<'_>, ty: &CType) -> bool {
    match ty {
        CType::Ptr { pointee, .. } => match pointee.as_ref() {
            CType::Void => true,
            CType::Struct { name } => cx.set.versioned_struct(name).is_some(),
            _ => false,
        },
        _ => false,
    }
}

fn check_kfunc(cx: &mut Ctx<'_>, at: (usize, usize), k: &Kfunc) {
    let arg_loc = |cx: &Ctx<'_>, i: usize| cx.spans.kfunc_arg(at, i, &k.loc);
    if k.args.len() > MAX_ARGS {
        let loc = arg_loc(cx, MAX_ARGS);
        cx.err(
            &loc,
            format!(
                "{}: {} args; a kfunc takes at most {MAX_ARGS}",
                k.name,
                k.args.len()
            ),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, a) in k.args.iter().enumerate() {
        if names.insert(&a.name, i).is_some() {
            let loc = arg_loc(cx, i);
            cx.err(&loc, format!("{}: duplicate arg name `{}`", k.name, a.name));
        }
        if a.is_size_arg() {
            let loc = arg_loc(cx, i);
            let prev = i.checked_sub(1).and_then(|p| k.args.get(p));
            match prev {
                Some(p) if p.ty.is_pointer() && !p.is_size_arg() => {}
                _ => cx.err(
                    &loc,
                    format!(
                        "{}: `{}` must directly follow the pointer arg it sizes",
                        k.name, a.name
                    ),
                ),
            }
            if !is_u32(&a.ty) {
                cx.err(
                    &loc,
                    format!(
                        "{}: `{}` must be a 32-bit unsigned int (u32), not `{}`",
                        k.name, a.name, a.ty
                    ),
                );
            }
        }
        // `__ign`: the verifier ignores the argument's type (and reads no
        // memory through it), as for bpf_rdonly_cast()'s object
        if needs_size(cx, &a.ty)
            && !a.name.ends_with("__ign")
            && !k.args.get(i + 1).is_some_and(|n| n.is_size_arg())
        {
            let loc = arg_loc(cx, i);
            cx.err(
                &loc,
                format!(
                    "{}: `{}` (`{}`) must be directly followed by a `{}__sz` u32 arg",
                    k.name, a.name, a.ty, a.name
                ),
            );
        }
    }
    if k.has(KfFlag::Release) {
        let ptrs = k.args.iter().filter(|a| a.ty.is_pointer()).count();
        if ptrs != 1 {
            cx.err(
                &k.loc,
                format!(
                    "{}: KF_RELEASE kfuncs take exactly one pointer arg (found {ptrs})",
                    k.name
                ),
            );
        }
    }
    for flag in [KfFlag::Acquire, KfFlag::RetNull] {
        if k.has(flag) && !k.ret.is_pointer() {
            let loc = cx.spans.kfunc_ret(at, &k.loc);
            cx.err(
                &loc,
                format!(
                    "{}: {} needs a pointer return type, not `{}`",
                    k.name,
                    flag.c_name(),
                    k.ret
                ),
            );
        }
    }
    if k.has(KfFlag::Acquire) && k.ret.is_pointer() && k.ret.pointee_struct().is_none() {
        let loc = cx.spans.kfunc_ret(at, &k.loc);
        cx.err(
            &loc,
            format!(
                "{}: KF_ACQUIRE must return a pointer to a struct, not `{}`",
                k.name, k.ret
            ),
        );
    }
    if k.has(KfFlag::Acquire) && k.has(KfFlag::Release) {
        cx.err(
            &k.loc,
            format!("{}: KF_ACQUIRE and KF_RELEASE exclude each other", k.name),
        );
    }
    let iter_flags = k
        .flags
        .iter()
        .filter(|f| matches!(f, KfFlag::IterNew | KfFlag::IterNext | KfFlag::IterDestroy))
        .count();
    if iter_flags > 1 {
        cx.err(&k.loc, format!("{}: at most one KF_ITER_* flag", k.name));
    }
}
