//! The default terminal table: rows = items, columns = kernels.

use super::{finding_rows, kind_name, stale_lines, verdict_line};
use crate::compat::Report;

fn render_rows(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Render `r` for a terminal.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!("crib compat ({} mode)\n", r.mode));
    for k in &r.kernels {
        let mut extras = String::new();
        if k.kfunc_decl_tags {
            extras.push_str(", bpf_kfunc tags");
        }
        if k.kfunc_sets {
            extras.push_str(", kfunc sets + KF flags");
        }
        out.push_str(&format!(
            "  {}: {} ({} types{extras})\n",
            k.label, k.path, k.type_count
        ));
    }
    out.push('\n');
    let mut rows = vec![{
        let mut h = vec![
            "ITEM".to_string(),
            "KIND".into(),
            "ORIGIN".into(),
            "REQ".into(),
        ];
        h.extend(r.kernels.iter().map(|k| k.label.clone()));
        h
    }];
    for i in &r.items {
        let mut row = vec![
            i.name.clone(),
            kind_name(i.kind).into(),
            i.origin.clone(),
            if i.required { "yes" } else { "no" }.into(),
        ];
        row.extend(i.results.iter().map(|v| v.cell()));
        rows.push(row);
    }
    render_rows(&mut out, &rows);
    for o in &r.objects {
        out.push_str(&format!("\nobject {}\n", o.path));
        let mut rows = vec![{
            let mut h = vec!["NEED".to_string(), "WHAT".into(), "N".into()];
            h.extend(r.kernels.iter().map(|k| k.label.clone()));
            h
        }];
        for e in &o.entries {
            let what = match (&e.relo_kind, e.weak) {
                (Some(k), _) => format!("core {}", k.name()),
                (None, true) => "kfunc (weak)".into(),
                (None, false) => "kfunc".into(),
            };
            let mut row = vec![e.name.clone(), what, e.count.to_string()];
            row.extend(e.results.iter().map(|s| s.cell()));
            rows.push(row);
        }
        let mut verdict = vec!["=> loads".to_string(), String::new(), String::new()];
        verdict.extend(
            o.loads
                .iter()
                .map(|l| if *l { "yes" } else { "NO" }.to_string()),
        );
        rows.push(verdict);
        render_rows(&mut out, &rows);
    }
    let findings = finding_rows(r);
    if !findings.is_empty() {
        out.push_str("\nfindings:\n");
        let mut rows = vec![["SEVERITY", "KERNEL", "ITEM", "CODE", "MESSAGE"]
            .iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<String>>()];
        for f in findings {
            rows.push(vec![
                format!("  {}", f.severity),
                f.kernel,
                f.item,
                f.code,
                f.message,
            ]);
        }
        // Only the first column carries the indent.
        for r in rows.iter_mut() {
            for c in r.iter_mut().skip(1) {
                *c = c.trim_start().to_string();
            }
        }
        render_rows(&mut out, &rows);
    }
    let stale = stale_lines(r);
    if !stale.is_empty() {
        out.push('\n');
        for l in stale {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str("\nsummary:\n");
    for k in &r.kernels {
        out.push_str(&format!("  {}\n", k.summary.line));
    }
    out.push('\n');
    out.push_str(&verdict_line(r));
    out.push('\n');
    out
}
