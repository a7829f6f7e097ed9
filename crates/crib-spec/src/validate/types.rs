//! Type resolution: every `struct X` a kfunc mentions is a spec'd
//! versioned struct or opaque, or a kernel type the family lists in
//! `kernel_types`. Structs travel by pointer only, and an upstream kfunc
//! cannot use a type only our patch series defines.

use super::Ctx;
use crate::model::{CType, Family, Kfunc, Loc, SpecSet};

/// What a `struct NAME` refers to.
enum Resolved {
    /// Defined by crib (a versioned struct or a crib opaque).
    Crib,
    /// Mainline type (kernel_types or an upstream opaque).
    Upstream,
}

fn resolve(set: &SpecSet, fam: &Family, name: &str) -> Option<Resolved> {
    if set.versioned_struct(name).is_some() {
        return Some(Resolved::Crib);
    }
    if let Some(o) = set.opaque(name) {
        return Some(if o.upstream {
            Resolved::Upstream
        } else {
            Resolved::Crib
        });
    }
    fam.kernel_types
        .iter()
        .any(|k| k == name)
        .then_some(Resolved::Upstream)
}

fn struct_names(ty: &CType, out: &mut Vec<String>) {
    match ty {
        CType::Struct { name } => out.push(name.clone()),
        CType::Ptr { pointee, .. } => struct_names(pointee, out),
        CType::Array { elem, .. } => struct_names(elem, out),
        _ => {}
    }
}

pub(super) fn check(cx: &mut Ctx<'_>) {
    let set = cx.set;
    for (fi, fam) in set.families.iter().enumerate() {
        for (ki, k) in fam.kfuncs.iter().enumerate() {
            let at = (fi, ki);
            let rloc = cx.spans.kfunc_ret(at, &k.loc);
            check_type(cx, fam, k, &k.ret, "return type", &rloc);
            for (ai, a) in k.args.iter().enumerate() {
                let aloc = cx.spans.kfunc_arg(at, ai, &k.loc);
                check_type(cx, fam, k, &a.ty, &format!("arg `{}`", a.name), &aloc);
            }
        }
    }
}

fn check_type(cx: &mut Ctx<'_>, fam: &Family, k: &Kfunc, ty: &CType, what: &str, loc: &Loc) {
    if matches!(ty, CType::Struct { .. }) {
        cx.err(
            loc,
            format!(
                "{}: {what} passes `{ty}` by value; kfuncs take structs by pointer",
                k.name
            ),
        );
        return;
    }
    if matches!(ty, CType::Array { .. }) {
        cx.err(
            loc,
            format!(
                "{}: {what} is an array; use a pointer and a `__sz` arg",
                k.name
            ),
        );
        return;
    }
    let mut names = Vec::new();
    struct_names(ty, &mut names);
    for n in names {
        match resolve(cx.set, fam, &n) {
            None => cx.err(
                loc,
                format!(
                    "{}: {what}: unknown type `struct {n}` (spec it as [[struct]]/[[opaque]] \
                     or add \"{n}\" to this family's kernel_types)",
                    k.name
                ),
            ),
            Some(Resolved::Crib) if !k.origin.is_crib() => cx.err(
                loc,
                format!(
                    "{}: upstream kfunc uses `struct {n}`, which only the CRIB series defines \
                     (mark the opaque origin = \"upstream\" if mainline has it)",
                    k.name
                ),
            ),
            Some(_) => {}
        }
    }
}
