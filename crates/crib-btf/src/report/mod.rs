//! Renderings of a [`Report`]: a terminal table (default), Markdown for a
//! CI comment, and JSON (schema in `docs/compat-json.md`).

mod markdown;
mod table;

pub use markdown::markdown;
pub use table::table;

use crate::compat::{ItemKind, Report, Verdict};

/// The report as pretty JSON (`schema_version` at the top).
pub fn json(r: &Report) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

pub(crate) fn kind_name(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Kfunc => "kfunc",
        ItemKind::Struct => "struct",
        ItemKind::Opaque => "opaque",
    }
}

/// (item, kernel label, full message) of every problem, in report order.
pub(crate) fn problem_lines(r: &Report) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for item in &r.items {
        for (v, k) in item.results.iter().zip(&r.kernels) {
            if let Verdict::Incompatible { problems } = v {
                for p in problems {
                    out.push((item.name.clone(), k.label.clone(), p.message.clone()));
                }
            }
            if let Verdict::CompatibleNewer { extra_fields, .. } = v {
                out.push((
                    item.name.clone(),
                    k.label.clone(),
                    format!(
                        "newer than the spec: extra field(s) {} after the latest version",
                        extra_fields.join(", ")
                    ),
                ));
            }
        }
    }
    out
}

pub(crate) fn object_notes(r: &Report) -> Vec<(String, String, String)> {
    use crate::object::ObjectStatus as S;
    let mut out = Vec::new();
    for o in &r.objects {
        for e in &o.entries {
            for (s, k) in e.results.iter().zip(&r.kernels) {
                let reason = match s {
                    S::Incompatible { reason, .. }
                    | S::Unresolved { reason, .. }
                    | S::Ambiguous { reason } => reason,
                    S::Poisoned { reason, programs } => &format!(
                        "{reason}; called without a bpf_ksym_exists() test by {}",
                        programs.join(", ")
                    ),
                    _ => continue,
                };
                out.push((
                    format!("{} {}", e.kind, e.name),
                    k.label.clone(),
                    reason.clone(),
                ));
            }
        }
    }
    out
}

pub(crate) fn verdict_line(r: &Report) -> String {
    if r.summary.ok {
        "result: OK (every required item is compatible)".to_string()
    } else {
        format!(
            "result: FAIL ({} failing item/kernel pair(s))",
            r.summary.failures
        )
    }
}
