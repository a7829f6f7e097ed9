//! Markdown for a CI comment: the same matrix as a GitHub table.

use super::{kind_name, object_notes, problem_lines, verdict_line};
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
    let problems = problem_lines(r);
    if !problems.is_empty() {
        out.push_str("\n<details><summary>Details</summary>\n\n");
        for (item, k, msg) in problems {
            out.push_str(&format!("- `{item}` on `{k}`: {}\n", esc(&msg)));
        }
        out.push_str("\n</details>\n");
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
    let notes = object_notes(r);
    if !notes.is_empty() {
        out.push('\n');
        for (what, k, msg) in notes {
            out.push_str(&format!("- {} on `{k}`: {}\n", esc(&what), esc(&msg)));
        }
    }
    out.push_str(&format!("\n**{}**\n", verdict_line(r)));
    out
}
