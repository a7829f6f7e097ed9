//! Findings: every cell of the report that says more than "ok", as one line
//! with a severity, the way stgdiff and DepSurf report.
//!
//! Severity classes:
//! - `error`: will not load, or reads wrong data;
//! - `warning`: loads, but something is off (a field read that stays
//!   unresolved behind a guard, an optional (weak) kfunc that is missing, a
//!   mismatch on an item nothing requires);
//! - `info`: an additive change (a struct grew, a field the program tests
//!   for is not there).
//!
//! The mapping, from the verdicts of the model. It keeps one invariant: a
//! finding is an `error` exactly when its cell fails under the failure
//! policy of [`crate::compat`] ([`Report::fails`],
//! [`ObjectStatus::fails`]), so the exit status is "is there an
//! unsuppressed error".
//!
//! Spec'd items ([`Verdict`], one finding per problem):
//!
//! | verdict | required item | optional item | code |
//! |---|---|---|---|
//! | `compatible` | — | — | |
//! | `compatible`, `decl_tagged: false` | warning | warning | `untagged` |
//! | `compatible_newer` | info | info | `struct_grew` |
//! | `absent` | error with `--require-present`, else — | — | `absent` |
//! | `incompatible` | error | warning | the problem's code |
//!
//! Absence without `--require-present` is no finding: a stock kernel
//! without the CRIB kfuncs is an ordinary row of the matrix. Every
//! [`ProblemCode`] is an error for a required item (see
//! [`problem_severity`]) and a warning for an optional one (it would be an
//! error for a caller, but no spec'd caller requires the item: objects that
//! do call it get their own error).
//!
//! Objects ([`ObjectStatus`], per row and kernel):
//!
//! | status | severity | code |
//! |---|---|---|
//! | `ok` | — | |
//! | `not_found` | info | `not_found` |
//! | `absent`, weak | warning | `weak_absent` |
//! | `absent`, not weak | error | `absent` |
//! | `incompatible`, weak | warning | `weak_incompatible` |
//! | `incompatible`, not weak | error | `incompatible` |
//! | `poisoned` | error | `poisoned` |
//! | `unresolved`, guarded | warning | `unresolved_guarded` |
//! | `unresolved`, not guarded | error | `unresolved` |
//! | `ambiguous` | error | `ambiguous` |
//! | `not_registered` | error | `not_registered` |
//!
//! Programs: a reason no row carries (`iter_target`: the kernel lacks the
//! iterator's context struct; `prog_type`: a kfunc the spec registers for
//! other program types) is an error for an autoloaded program and a warning
//! for a `SEC("?...")` one (libbpf does not load it by default).

use super::{ProblemCode, Report, Verdict};
use crate::object::ObjectStatus;
use serde::Serialize;

/// How bad a finding is. Orders `Error < Warning < Info` (worst first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The severity of a problem of a *required* item (an optional item's
/// problems are warnings). Exhaustive on purpose: a new code needs a
/// decision.
pub fn problem_severity(code: ProblemCode) -> Severity {
    use ProblemCode as C;
    match code {
        // Layout: a caller reads or writes the wrong bytes.
        C::FieldReordered
        | C::FieldRetyped
        | C::FieldResized
        | C::FieldInsertedInMiddle
        | C::FieldRemoved
        | C::FieldUnknown
        | C::FieldMoved
        | C::FieldBitfield
        | C::StructShrank
        | C::PartialVersion
        | C::Hole
        | C::OpaqueSize => Severity::Error,
        // Prototype and registration: the verifier refuses the call, or
        // checks it under other rules than the program was written for.
        C::WrongKind
        | C::ArgCount
        | C::ArgType
        | C::ReturnType
        | C::SzPairing
        | C::ParamName
        | C::NotRegistered
        | C::Flags => Severity::Error,
        // Nothing can be said about the item.
        C::BadBtf => Severity::Error,
    }
}

/// A suppression that matched a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    pub reason: String,
    /// Line of the `[[suppress]]` entry in the suppression file.
    pub line: usize,
}

/// One finding: one problem of one item, or one row of an object, on one
/// kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Kernel label.
    pub kernel: String,
    /// `kfunc`, `struct`, `opaque` (a spec'd item); `kfunc`, `core`,
    /// `program` (a need of an object, then `object` is set).
    pub kind: &'static str,
    /// The row's name in the matrix: item, kfunc, relocation target
    /// (`task_struct.mm`) or program.
    pub name: String,
    /// The item a suppression's `item` is matched with: the item, kfunc or
    /// program name, or a relocation target's type (`task_struct`).
    pub item: String,
    /// The struct field (of a struct problem, or of a relocation target:
    /// `mm`, `PIDTYPE_TGID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The object's path, for a need of an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// A problem code or one of the codes of the module doc.
    pub code: String,
    pub message: String,
    /// Counts towards the exit status: an error that is not suppressed.
    pub fails: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppressed>,
    /// Index of the kernel in [`Report::kernels`].
    #[serde(skip)]
    pub kernel_index: usize,
    /// The (item, kernel) or (object row, kernel) pair the finding belongs
    /// to: `summary.failures` counts pairs, not findings.
    #[serde(skip)]
    pub pair: usize,
}

/// Every finding code besides the [`ProblemCode`]s.
pub const CODES: &[&str] = &[
    "untagged",
    "struct_grew",
    "absent",
    "not_found",
    "weak_absent",
    "incompatible",
    "weak_incompatible",
    "poisoned",
    "unresolved_guarded",
    "unresolved",
    "ambiguous",
    "not_registered",
    "iter_target",
    "prog_type",
];

/// The severity and code of an object row's status (`None`: clean).
pub fn object_severity(s: &ObjectStatus) -> Option<(Severity, &'static str)> {
    use ObjectStatus as S;
    Some(match s {
        S::Ok => return None,
        S::NotFound { .. } => (Severity::Info, "not_found"),
        S::Absent { weak: true } => (Severity::Warning, "weak_absent"),
        S::Absent { weak: false } => (Severity::Error, "absent"),
        S::Incompatible { weak: true, .. } => (Severity::Warning, "weak_incompatible"),
        S::Incompatible { weak: false, .. } => (Severity::Error, "incompatible"),
        S::Poisoned { .. } => (Severity::Error, "poisoned"),
        S::Unresolved { guarded: true, .. } => (Severity::Warning, "unresolved_guarded"),
        S::Unresolved { guarded: false, .. } => (Severity::Error, "unresolved"),
        S::Ambiguous { .. } => (Severity::Error, "ambiguous"),
        S::NotRegistered => (Severity::Error, "not_registered"),
    })
}

fn object_message(s: &ObjectStatus) -> String {
    use ObjectStatus as S;
    match s {
        S::Ok => String::new(),
        S::NotFound { reason } => format!("{reason} (the program tests for it)"),
        S::Absent { weak: true } => {
            "weak kfunc missing: it stays unresolved, every autoloaded program calling it \
             tests it first"
                .into()
        }
        S::Absent { weak: false } => "kfunc missing: libbpf refuses the object".into(),
        S::Incompatible { reason, weak: true } => {
            format!("{reason} (weak: treated as absent)")
        }
        S::Incompatible { reason, .. } | S::Unresolved { reason, .. } | S::Ambiguous { reason } => {
            reason.clone()
        }
        S::Poisoned { reason, programs } => format!(
            "{reason}; called without a bpf_ksym_exists() test by {}",
            programs.join(", ")
        ),
        S::NotRegistered => {
            "the function exists but no kfunc set registers it: the verifier refuses the call"
                .into()
        }
    }
}

/// Split a relocation target into (type, field): `task_struct.mm` ->
/// (`task_struct`, `mm`), `pid_type::PIDTYPE_TGID` -> (`pid_type`,
/// `PIDTYPE_TGID`), `mm_struct` -> (`mm_struct`, none).
pub fn split_target(name: &str) -> (String, Option<String>) {
    let dot = name.find('.');
    let colons = name.find("::");
    let (ty, field) = match (dot, colons) {
        (Some(d), Some(c)) if c < d => (&name[..c], Some(&name[c + 2..])),
        (Some(d), _) => (&name[..d], Some(&name[d + 1..])),
        (None, Some(c)) => (&name[..c], Some(&name[c + 2..])),
        (None, None) => (name, None),
    };
    // `task_struct[1].x`: the type is `task_struct`.
    let ty = ty.split('[').next().unwrap_or(ty);
    (ty.to_string(), field.map(str::to_string))
}

/// The findings of `r` (none suppressed), in report order: items, then
/// objects (rows, then programs); per row, kernel order.
pub fn collect(r: &Report) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut pair = 0usize;
    let label = |k: usize| {
        r.kernels
            .get(k)
            .map(|k| k.label.clone())
            .unwrap_or_default()
    };
    for item in &r.items {
        let kind = crate::report::kind_name(item.kind);
        for (k, v) in item.results.iter().enumerate() {
            pair += 1;
            let mut push = |severity: Severity, code: &str, field: Option<String>, msg: String| {
                out.push(Finding {
                    severity,
                    kernel: label(k),
                    kind,
                    name: item.name.clone(),
                    item: item.name.clone(),
                    field,
                    object: None,
                    code: code.to_string(),
                    message: msg,
                    fails: false,
                    suppressed: None,
                    kernel_index: k,
                    pair,
                });
            };
            match v {
                Verdict::Compatible {
                    decl_tagged: Some(false),
                    ..
                } => push(
                    Severity::Warning,
                    "untagged",
                    None,
                    format!(
                        "a function `{}` exists but the kernel does not mark it with \
                         DECL_TAG bpf_kfunc",
                        item.name
                    ),
                ),
                Verdict::Compatible { .. } => {}
                Verdict::CompatibleNewer { extra_fields, .. } => push(
                    Severity::Info,
                    "struct_grew",
                    None,
                    format!(
                        "newer than the spec: extra field(s) {} after the latest version",
                        extra_fields.join(", ")
                    ),
                ),
                Verdict::Absent => {
                    if Report::fails(item.required, v, r.require_present) {
                        push(
                            Severity::Error,
                            "absent",
                            None,
                            "not in this kernel's BTF (--require-present)".into(),
                        );
                    }
                }
                Verdict::Incompatible { problems } => {
                    let sev = |s: Severity| {
                        if item.required {
                            s
                        } else {
                            Severity::Warning
                        }
                    };
                    if problems.is_empty() {
                        push(
                            sev(Severity::Error),
                            "incompatible",
                            None,
                            "incompatible".into(),
                        );
                    }
                    for p in problems {
                        let code = serde_json::to_value(p.code)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_else(|| "incompatible".into());
                        push(
                            sev(problem_severity(p.code)),
                            &code,
                            p.field.clone(),
                            p.message.clone(),
                        );
                    }
                }
            }
        }
    }
    for o in &r.objects {
        for e in &o.entries {
            let (item, field) = if e.kind == "core" {
                split_target(&e.name)
            } else {
                (e.name.clone(), None)
            };
            for (k, s) in e.results.iter().enumerate() {
                pair += 1;
                let Some((severity, code)) = object_severity(s) else {
                    continue;
                };
                out.push(Finding {
                    severity,
                    kernel: label(k),
                    kind: e.kind,
                    name: e.name.clone(),
                    item: item.clone(),
                    field: field.clone(),
                    object: Some(o.path.clone()),
                    code: code.into(),
                    message: object_message(s),
                    fails: false,
                    suppressed: None,
                    kernel_index: k,
                    pair,
                });
            }
        }
        for p in &o.programs {
            for (k, res) in p.results.iter().enumerate() {
                for (code, reason) in &res.own {
                    pair += 1;
                    out.push(Finding {
                        severity: if p.program.autoload {
                            Severity::Error
                        } else {
                            Severity::Warning
                        },
                        kernel: label(k),
                        kind: "program",
                        name: p.program.name.clone(),
                        item: p.program.name.clone(),
                        field: None,
                        object: Some(o.path.clone()),
                        code: (*code).into(),
                        message: reason.clone(),
                        fails: false,
                        suppressed: None,
                        kernel_index: k,
                        pair,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_errors_are_exactly_the_failing_statuses() {
        use ObjectStatus as S;
        let all = [
            S::Ok,
            S::NotFound { reason: "r".into() },
            S::Absent { weak: true },
            S::Absent { weak: false },
            S::Incompatible {
                reason: "r".into(),
                weak: true,
            },
            S::Incompatible {
                reason: "r".into(),
                weak: false,
            },
            S::Poisoned {
                reason: "r".into(),
                programs: vec!["p".into()],
            },
            S::Unresolved {
                reason: "r".into(),
                guarded: true,
            },
            S::Unresolved {
                reason: "r".into(),
                guarded: false,
            },
            S::Ambiguous { reason: "r".into() },
            S::NotRegistered,
        ];
        for s in &all {
            let sev = object_severity(s).map(|(s, _)| s);
            assert_eq!(sev == Some(Severity::Error), s.fails(), "{s:?}");
            assert_eq!(sev.is_none(), matches!(s, S::Ok), "{s:?}");
            if let Some((_, code)) = object_severity(s) {
                assert!(CODES.contains(&code), "{code}");
            }
        }
    }

    #[test]
    fn relocation_targets_split_into_type_and_field() {
        let cases = [
            ("task_struct.mm", "task_struct", Some("mm")),
            (
                "task_struct.mm.arg_start",
                "task_struct",
                Some("mm.arg_start"),
            ),
            ("pid_type::PIDTYPE_TGID", "pid_type", Some("PIDTYPE_TGID")),
            ("mm_struct", "mm_struct", None),
            ("task_struct[1].pid", "task_struct", Some("pid")),
        ];
        for (name, ty, field) in cases {
            let (t, f) = split_target(name);
            assert_eq!(t, ty, "{name}");
            assert_eq!(f.as_deref(), field, "{name}");
        }
    }

    #[test]
    fn severities_order_worst_first() {
        assert!(Severity::Error < Severity::Warning && Severity::Warning < Severity::Info);
    }
}
