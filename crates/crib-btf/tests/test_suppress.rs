//! Properties of the suppression file parser and its matching rule.

use crib_btf::compat::suppress::glob;
use crib_btf::compat::{Finding, Severity, Suppression, Suppressions};
use proptest::prelude::*;

/// Names as they occur: kernel labels, C identifiers, file names.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.+-]{1,16}"
}

fn finding(kernel: &str, item: &str, field: Option<&str>) -> Finding {
    Finding {
        severity: Severity::Error,
        kernel: kernel.into(),
        kind: "struct",
        name: item.into(),
        item: item.into(),
        field: field.map(str::to_string),
        object: None,
        code: "field_moved".into(),
        message: "m".into(),
        fails: true,
        suppressed: None,
        kernel_index: 0,
        pair: 0,
    }
}

fn entry(kernel: Option<&str>, item: &str, field: Option<&str>) -> Suppression {
    Suppression {
        line: 1,
        kernel: kernel.map(str::to_string),
        item: item.into(),
        field: field.map(str::to_string),
        code: None,
        reason: "r".into(),
    }
}

/// A TOML string literal of `s`.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

proptest! {
    #[test]
    fn a_pattern_without_wildcards_is_an_exact_name(p in name(), t in name()) {
        prop_assert_eq!(glob(&p, &t), p == t);
        prop_assert!(glob(&p, &p));
    }

    #[test]
    fn a_star_stands_for_any_part(pre in "[a-z.]{0,6}", mid in "[a-z.]{0,6}", post in "[a-z.]{0,6}") {
        let text = format!("{pre}{mid}{post}");
        let patterns = [format!("{pre}*{post}"), "*".to_string(), format!("*{post}"), format!("{pre}*")];
        for p in &patterns {
            prop_assert!(glob(p, &text), "{} !~ {}", p, text);
        }
    }

    #[test]
    fn a_question_mark_stands_for_one_character(t in name(), i in 0usize..16) {
        let chars: Vec<char> = t.chars().collect();
        let i = i % chars.len();
        let mut p = chars.clone();
        p[i] = '?';
        let p: String = p.into_iter().collect();
        prop_assert!(glob(&p, &t));
        // One character more or less does not match.
        let longer = format!("{t}x");
        prop_assert!(!glob(&p, &longer));
        prop_assert!(!glob(&p, &t[..t.len() - 1]));
    }

    #[test]
    fn matching_needs_every_given_key(
        kernel in name(), item in name(), field in proptest::option::of(name()),
        other in name(),
    ) {
        let f = finding(&kernel, &item, field.as_deref());
        prop_assert!(entry(None, &item, None).matches(&f));
        prop_assert!(entry(Some(&kernel), &item, field.as_deref()).matches(&f));
        prop_assert_eq!(entry(Some(&other), &item, None).matches(&f), other == kernel);
        prop_assert_eq!(entry(None, &other, None).matches(&f), other == item);
        // An entry with a field never matches a finding without one.
        let with_field = entry(None, &item, Some(&other)).matches(&f);
        prop_assert_eq!(with_field, field.as_deref() == Some(other.as_str()));
    }

    #[test]
    fn written_entries_parse_back_with_their_lines(
        entries in proptest::collection::vec(
            (proptest::option::of(name()), name(), proptest::option::of(name()), "[ -~]{1,30}"),
            0..6,
        ),
        blank in 0usize..3,
    ) {
        let mut text = String::from("# suppressions\n");
        let mut lines = Vec::new();
        for (kernel, item, field, reason) in &entries {
            text.push_str(&"\n".repeat(blank));
            lines.push(text.matches('\n').count() + 1);
            text.push_str("[[suppress]]\n");
            if let Some(k) = kernel {
                text.push_str(&format!("kernel = {}\n", quoted(k)));
            }
            text.push_str(&format!("item = {}\n", quoted(item)));
            if let Some(f) = field {
                text.push_str(&format!("field = {}\n", quoted(f)));
            }
            text.push_str(&format!("reason = {}\n", quoted(reason)));
        }
        let parsed = Suppressions::parse("s.toml", &text);
        let all_reasons_nonblank = entries.iter().all(|e| !e.3.trim().is_empty());
        prop_assert_eq!(parsed.is_ok(), all_reasons_nonblank, "{:?}", parsed);
        if let Ok(s) = parsed {
            prop_assert_eq!(s.entries.len(), entries.len());
            for ((e, (kernel, item, field, reason)), line) in s.entries.iter().zip(&entries).zip(&lines) {
                prop_assert_eq!(&e.kernel, kernel);
                prop_assert_eq!(&e.item, item);
                prop_assert_eq!(&e.field, field);
                prop_assert_eq!(&e.reason, reason);
                prop_assert_eq!(e.line, *line);
            }
        }
    }

    #[test]
    fn any_text_parses_or_is_an_error_naming_the_file(text in "[\\[\\]a-z=\"\n #*.0-9]{0,80}") {
        match Suppressions::parse("dir/s.toml", &text) {
            Ok(s) => prop_assert!(s.entries.iter().all(|e| !e.reason.trim().is_empty())),
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("dir/s.toml:"), "{}", msg);
                prop_assert!(!msg.contains('\n'), "{}", msg);
            }
        }
    }
}
