//! Markdown for a CI comment: the same matrix as a GitHub table.

use super::{finding_rows, kind_name, stale_lines, verdict_line};
use crate::compat::{Report, Verdict};

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Render `r` as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::from("### crib compat\n\n");
    out.push_str(&format!("Mode: `{}`. Kernels: ", r.mode));
    let ks: Vec<String> = r
        .kernels
        .iter()
        .map(|k| format!("`{}` ({} types)", k.label, k.type_count))
        .collect();
    out.push_str(&ks.join(", "));
    out.push_str("\n\n| item | kind | origin | required |");
    for k in &r.kernels {
        out.push_str(&format!(" {} |", esc(&k.label)));
    }
    out.push_str("\n|---|---|---|---|");
    out.push_str(&"---|".repeat(r.kernels.len()));
    out.push('\n');
    for i in &r.items {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |",
            i.name,
            kind_name(i.kind),
            i.origin,
            if i.required { "yes" } else { "no" }
        ));
        for v in &i.results {
            let cell = esc(&v.cell());
            if matches!(v, Verdict::Incompatible { .. }) {
                out.push_str(&format!(" **{cell}** |"));
            } else {
                out.push_str(&format!(" {cell} |"));
            }
        }
        out.push('\n');
    }
    for o in &r.objects {
        out.push_str(&format!("\n#### `{}`\n\n| need | what | n |", o.path));
        for k in &r.kernels {
            out.push_str(&format!(" {} |", esc(&k.label)));
        }
        out.push_str("\n|---|---|---|");
        out.push_str(&"---|".repeat(r.kernels.len()));
        out.push('\n');
        for e in &o.entries {
            let what = e
                .relo_kind
                .map(|k| format!("core {}", k.name()))
                .unwrap_or_else(|| {
                    if e.weak {
                        "kfunc (weak)".into()
                    } else {
                        "kfunc".into()
                    }
                });
            out.push_str(&format!("| `{}` | {what} | {} |", esc(&e.name), e.count));
            for s in &e.results {
                out.push_str(&format!(" {} |", esc(&s.cell())));
            }
            out.push('\n');
        }
        out.push_str("| **loads** | | |");
        for l in &o.loads {
            out.push_str(if *l { " yes |" } else { " **NO** |" });
        }
        out.push('\n');
    }
    let findings = finding_rows(r);
    if !findings.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>Findings: {} error, {} warning, {} info ({} suppressed)</summary>\n\n",
            r.summary.error, r.summary.warning, r.summary.info, r.summary.suppressed
        ));
        out.push_str("| severity | kernel | item | code | message |\n|---|---|---|---|---|\n");
        for f in findings {
            let sev = if f.error {
                format!("**{}**", f.severity)
            } else {
                f.severity
            };
            out.push_str(&format!(
                "| {sev} | `{}` | `{}` | `{}` | {} |\n",
                esc(&f.kernel),
                esc(&f.item),
                f.code,
                esc(&f.message)
            ));
        }
        out.push_str("\n</details>\n");
    }
    let stale = stale_lines(r);
    if !stale.is_empty() {
        out.push('\n');
        for l in stale {
            out.push_str(&format!("- {}\n", esc(&l)));
        }
    }
    out.push_str("\nSummary:\n\n");
    for k in &r.kernels {
        out.push_str(&format!("- {}\n", esc(&k.summary.line)));
    }
    out.push_str(&format!("\n**{}**\n", verdict_line(r)));
    out
}
