//! Renderings of a [`Report`]: a terminal table (default), Markdown for a
//! CI comment, and JSON (schema in `docs/compat-json.md`).

mod markdown;
mod table;

pub use markdown::markdown;
pub use table::table;

use crate::compat::{ItemKind, Report};

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

/// One row of the findings list: severity cell, kernel, item, code,
/// message (with the suppression's reason).
pub(crate) struct FindingRow {
    pub severity: String,
    pub error: bool,
    pub kernel: String,
    pub item: String,
    pub code: String,
    pub message: String,
}

/// The findings of `r`, worst first, then in report order.
pub(crate) fn finding_rows(r: &Report) -> Vec<FindingRow> {
    let mut fs: Vec<&crate::compat::Finding> = r.findings.iter().collect();
    fs.sort_by_key(|f| f.severity);
    let file = r
        .suppressions
        .first()
        .map(|s| s.file.clone())
        .unwrap_or_default();
    fs.into_iter()
        .map(|f| {
            let mut severity = f.severity.name().to_string();
            let mut message = f.message.clone();
            if let Some(s) = &f.suppressed {
                severity.push_str(" (suppressed)");
                message.push_str(&format!(" [suppressed, {file}:{}: {}]", s.line, s.reason));
            }
            let item = match &f.object {
                Some(o) => {
                    let file = std::path::Path::new(o)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or(o);
                    format!("{file}: {} {}", f.kind, f.name)
                }
                None => match &f.field {
                    Some(field) => format!("{}.{field}", f.name),
                    None => f.name.clone(),
                },
            };
            FindingRow {
                severity,
                error: f.fails,
                kernel: f.kernel.clone(),
                item,
                code: f.code.clone(),
                message,
            }
        })
        .collect()
}

/// "warning: stale suppression FILE:LINE (...) matches no finding", per
/// stale entry.
pub(crate) fn stale_lines(r: &Report) -> Vec<String> {
    r.stale_suppressions()
        .map(|s| {
            let mut what = Vec::new();
            if let Some(k) = &s.kernel {
                what.push(format!("kernel={k}"));
            }
            what.push(format!("item={}", s.item));
            if let Some(f) = &s.field {
                what.push(format!("field={f}"));
            }
            if let Some(c) = &s.code {
                what.push(format!("code={c}"));
            }
            format!(
                "warning: stale suppression {}:{} ({}) matches no finding",
                s.file,
                s.line,
                what.join(", ")
            )
        })
        .collect()
}

pub(crate) fn verdict_line(r: &Report) -> String {
    if r.summary.ok && r.summary.suppressed > 0 {
        format!(
            "result: OK (every required item is compatible; {} finding(s) suppressed)",
            r.summary.suppressed
        )
    } else if r.summary.ok {
        "result: OK (every required item is compatible)".to_string()
    } else {
        format!(
            "result: FAIL ({} failing item/kernel pair(s))",
            r.summary.failures
        )
    }
}
