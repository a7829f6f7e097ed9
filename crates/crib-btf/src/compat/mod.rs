//! The compatibility check: every spec'd item against every kernel, and
//! every BPF object's needs against every kernel.
//!
//! Failure policy (the exit code of `crib compat`):
//! - `incompatible` on a required item always fails;
//! - `absent` fails only with `require_present` (a stock kernel lacking the
//!   CRIB kfuncs is a normal row of the matrix, not an error);
//! - items whose spec says `required = false` never fail;
//! - a struct or opaque type is required when a required kfunc uses it;
//! - objects fail where libbpf + the verifier would refuse them: a missing
//!   or mismatched non-weak kfunc, an unresolved weak kfunc an autoloaded
//!   program calls unguarded, an ambiguous CO-RE relocation, an
//!   unresolved relocation the object does not guard with an existence
//!   check (see [`crate::object::ObjectStatus::fails`]), and a program
//!   the kernel refuses for a reason no row carries (the iterator target,
//!   the program type), when it is autoloaded;
//! - a finding matched by a suppression file ([`suppress`]) never fails.
//!
//! Each failing cell is a finding of severity `error`; the severities of
//! the other cells are in [`findings`].

pub mod findings;
pub mod kfuncs;
pub mod model;
pub mod opaques;
pub mod structs;
pub mod suppress;
pub mod verdict;

use crate::object::ObjectReport;
use crate::types::Mode;
use crib_spec::{CType, SpecSet};
pub use findings::{Finding, Severity};
pub use model::*;
pub use suppress::{SuppressError, Suppression, Suppressions};
pub use verdict::{Problem, ProblemCode, Verdict};

/// Check `spec` (and `objects`, already analysed) against `kernels`.
pub fn check(
    spec: &SpecSet,
    kernels: &[Kernel],
    objects: Vec<ObjectReport>,
    opts: Options,
) -> Report {
    let facts: Vec<kfuncs::KernelFacts> = kernels
        .iter()
        .map(|k| kfuncs::KernelFacts::of(&k.btf, k.kfunc_sets.as_ref()))
        .collect();
    // A type is required when a required kfunc uses it, or no kfunc does.
    let type_required = |name: &str| -> bool {
        let users: Vec<bool> = spec
            .kfuncs()
            .filter(|k| {
                std::iter::once(&k.ret)
                    .chain(k.args.iter().map(|a| &a.ty))
                    .any(|t| mentions(t, name))
            })
            .map(|k| k.required)
            .collect();
        users.is_empty() || users.contains(&true)
    };
    let mut items = Vec::new();
    for fam in &spec.families {
        for o in &fam.opaques {
            items.push(ItemReport {
                kind: ItemKind::Opaque,
                name: o.name.clone(),
                family: fam.name.clone(),
                origin: family_origin(fam),
                required: type_required(&o.name),
                results: kernels
                    .iter()
                    .map(|k| opaques::check(&o.name, o.words, &k.btf))
                    .collect(),
            });
        }
        for s in &fam.structs {
            items.push(ItemReport {
                kind: ItemKind::Struct,
                name: s.name.clone(),
                family: fam.name.clone(),
                origin: family_origin(fam),
                required: type_required(&s.name),
                results: kernels
                    .iter()
                    .map(|k| structs::check(s, &k.btf, opts.mode))
                    .collect(),
            });
        }
        for kf in &fam.kfuncs {
            items.push(ItemReport {
                kind: ItemKind::Kfunc,
                name: kf.name.clone(),
                family: fam.name.clone(),
                origin: if kf.origin.is_crib() {
                    "crib"
                } else {
                    "upstream"
                }
                .into(),
                required: kf.required,
                results: kernels
                    .iter()
                    .zip(&facts)
                    .map(|(k, f)| kfuncs::check(kf, &k.btf, *f, opts.mode))
                    .collect(),
            });
        }
    }
    let mut r = Report {
        schema_version: SCHEMA_VERSION,
        mode: match opts.mode {
            Mode::Relaxed => "relaxed",
            Mode::Strict => "strict",
        },
        require_present: opts.require_present,
        kernels: kernels
            .iter()
            .zip(&facts)
            .map(|(k, f)| KernelInfo {
                label: k.label.clone(),
                path: k.path.display().to_string(),
                type_count: k.btf.type_count(),
                kfunc_decl_tags: f.has_kfunc_tags,
                kfunc_sets: f.sets.is_some(),
                summary: KernelSummary::default(),
            })
            .collect(),
        items,
        objects,
        findings: Vec::new(),
        suppressions: Vec::new(),
        summary: Summary {
            failures: 0,
            ok: true,
            error: 0,
            warning: 0,
            info: 0,
            suppressed: 0,
            stale_suppressions: 0,
        },
    };
    r.findings = findings::collect(&r);
    r.recount();
    r
}

/// A family is `upstream` when all its kfuncs are upstream ones.
fn family_origin(fam: &crib_spec::Family) -> String {
    if !fam.kfuncs.is_empty() && fam.kfuncs.iter().all(|k| !k.origin.is_crib()) {
        "upstream".into()
    } else {
        "crib".into()
    }
}

fn mentions(t: &CType, name: &str) -> bool {
    match t {
        CType::Struct { name: n } => n == name,
        CType::Ptr { pointee, .. } => mentions(pointee, name),
        CType::Array { elem, .. } => mentions(elem, name),
        _ => false,
    }
}
