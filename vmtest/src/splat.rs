//! Kernel splat detection in console output and dmesg: panics, oopses,
//! WARN, BUG, KASAN/UBSAN, hung tasks and RCU stalls. A splat whose first
//! line matches an allowlist regex is ignored (like the kernel BPF CI's
//! allowlists).

use crate::error::{io, Error, Result};
use regex::{Regex, RegexSet};
use serde::Serialize;
use std::path::Path;

/// Lines that start a splat. Unanchored: console lines carry timestamps.
pub const PATTERNS: &[&str] = &[
    r"Kernel panic - not syncing",
    r"\bOops: ",
    r"WARNING: CPU: \d+ PID: \d+ at ",
    r"\bBUG: ",
    r"kernel BUG at ",
    r"\b(KASAN|UBSAN|KFENCE|KMSAN): ",
    r"INFO: task \S+ blocked for more than \d+ seconds",
    r"rcu: INFO: \S+ (self-)?detected stalls?",
    r"INFO: rcu_\S+ (self-)?detected stalls?",
    r"general protection fault",
    r"Unable to handle kernel",
];

/// Lines of context kept after the first line of a splat.
const EXCERPT_LINES: usize = 40;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Splat {
    /// The matching line, timestamp stripped.
    pub title: String,
    /// The line and what follows it.
    pub excerpt: String,
}

pub struct Detector {
    starts: RegexSet,
    allow: Vec<Regex>,
}

impl Detector {
    /// Built-in patterns, no allowlist.
    pub fn new() -> Detector {
        Detector {
            starts: RegexSet::new(PATTERNS).unwrap_or_else(|_| RegexSet::empty()),
            allow: Vec::new(),
        }
    }

    /// Built-in patterns plus the allowlist file (one regex a line, `#`
    /// comments and blank lines ignored).
    pub fn with_allowlist(path: &Path) -> Result<Detector> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut d = Detector::new();
        d.allow = parse_allowlist(&text).map_err(|(line, e)| Error::BadFile {
            path: path.to_path_buf(),
            detail: format!("line {line}: bad regex: {e}"),
        })?;
        Ok(d)
    }

    /// Every non-allowlisted splat in `text`.
    pub fn scan(&self, text: &str) -> Vec<Splat> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if self.starts.is_match(line) {
                let title = strip_timestamp(line).to_string();
                let end = (i + 1 + EXCERPT_LINES).min(lines.len());
                // A splat's own lines are not new splats (a WARN's trace has
                // no further start lines; a panic after an oops is new).
                let mut stop = end;
                for (j, l) in lines.iter().enumerate().take(end).skip(i + 1) {
                    if self.starts.is_match(l) {
                        stop = j;
                        break;
                    }
                }
                if !self.allow.iter().any(|a| a.is_match(&title)) {
                    out.push(Splat {
                        title,
                        excerpt: lines[i..stop].join("\n"),
                    });
                }
                i = stop;
            } else {
                i += 1;
            }
        }
        out
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new()
    }
}

fn parse_allowlist(text: &str) -> std::result::Result<Vec<Regex>, (usize, regex::Error)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, l)| Regex::new(l).map_err(|e| (n, e)))
        .collect()
}

/// `[    1.234567] text` -> `text`.
pub fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some(close) = rest.find(']') {
            let inside = &rest[..close];
            if inside
                .trim()
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            {
                return rest[close + 1..].trim_start();
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_panic_and_warn_with_excerpt() {
        let log = "[    1.0] ok\n[    2.0] WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2\n[    2.1] Call Trace:\n[    3.0] Kernel panic - not syncing: sysrq triggered crash\n[    3.1] end";
        let s = Detector::new().scan(log);
        assert_eq!(s.len(), 2);
        assert!(s[0].title.starts_with("WARNING: CPU: 0"));
        assert!(s[0].excerpt.contains("Call Trace"));
        assert!(!s[0].excerpt.contains("panic"));
        assert_eq!(
            s[1].title,
            "Kernel panic - not syncing: sysrq triggered crash"
        );
    }

    #[test]
    fn allowlist_suppresses() {
        let mut d = Detector::new();
        d.allow = parse_allowlist("# comment\n\nBUG: soft lockup\n").unwrap_or_default();
        assert!(d
            .scan("[ 5.0] watchdog: BUG: soft lockup - CPU#0 stuck")
            .is_empty());
        assert_eq!(d.scan("[ 5.0] BUG: unable to handle page fault").len(), 1);
    }

    #[test]
    fn clean_log_has_no_splats() {
        assert!(Detector::new()
            .scan("[ 0.0] Linux version 6.12\n[ 0.1] crib-vmtest: begin x\nWARNING here is fine")
            .is_empty());
    }

    #[test]
    fn bad_allowlist_regex_is_reported_with_line() {
        assert!(matches!(parse_allowlist("ok\n(unclosed"), Err((2, _))));
    }
}
