//! Suppression files (`crib compat --suppress FILE`): known findings that
//! are accepted, each with its reason.
//!
//! ```toml
//! [[suppress]]
//! kernel = "6.1*"              # optional: glob or exact kernel label
//! item = "bpf_crib_skb_info"   # struct, kfunc, program or object name (glob)
//! field = "mark"               # optional: struct field (glob)
//! code = "field_resized"       # optional: finding code (glob)
//! reason = "6.1 backport carries the v1 layout; the engine does not use it"
//! ```
//!
//! Globs know `*` (any run of characters) and `?` (one character); a
//! pattern without them is an exact name. An entry matches a finding when
//! every key it has matches: `kernel` the kernel label, `item` the
//! finding's item, its row name, its object's path or file name, `field`
//! its field (an entry with `field` never matches a finding without one),
//! `code` its code. The first matching entry (file order) suppresses the
//! finding: it stays in the report, marked with the reason, and no longer
//! counts towards the exit status. An entry that matches nothing is stale
//! and is reported as a warning.

use super::findings::{Finding, CODES};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A suppression file that cannot be used. The message names the file
/// and, for a bad entry, its line and column.
#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    #[error("{}: cannot read suppression file: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// One `[[suppress]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// 1-based line of the entry in its file.
    pub line: usize,
    pub kernel: Option<String>,
    pub item: String,
    pub field: Option<String>,
    pub code: Option<String>,
    pub reason: String,
}

/// A parsed suppression file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suppressions {
    pub path: PathBuf,
    pub entries: Vec<Suppression>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    suppress: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    kernel: Option<String>,
    item: String,
    field: Option<String>,
    code: Option<String>,
    reason: String,
}

/// 1-based (line, column) of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

impl Suppressions {
    /// Read and parse the suppression file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Suppressions, SuppressError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|err| SuppressError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Suppressions::parse(path, &text)
    }

    /// Parse `text`; `path` names the file in errors.
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Suppressions, SuppressError> {
        let path = path.as_ref().to_path_buf();
        let invalid = |at: usize, message: String| {
            let (line, column) = line_col(text, at);
            SuppressError::Invalid {
                path: path.clone(),
                line,
                column,
                message,
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            let msg: Vec<&str> = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            invalid(at, msg.join("; "))
        })?;
        let mut entries = Vec::new();
        for s in raw.suppress {
            let at = s.span().start;
            let e = s.into_inner();
            let line = line_col(text, at).0;
            if e.reason.trim().is_empty() {
                return Err(invalid(at, "suppression has an empty `reason`".into()));
            }
            for (key, v) in [
                ("item", Some(&e.item)),
                ("kernel", e.kernel.as_ref()),
                ("field", e.field.as_ref()),
                ("code", e.code.as_ref()),
            ] {
                if v.is_some_and(|v| v.trim().is_empty()) {
                    return Err(invalid(at, format!("suppression has an empty `{key}`")));
                }
            }
            if let Some(c) = &e.code {
                if !c.contains(['*', '?']) && !known_code(c) {
                    return Err(invalid(
                        at,
                        format!("unknown finding code `{c}` (see docs/compat-json.md)"),
                    ));
                }
            }
            entries.push(Suppression {
                line,
                kernel: e.kernel,
                item: e.item,
                field: e.field,
                code: e.code,
                reason: e.reason,
            });
        }
        Ok(Suppressions { path, entries })
    }

    /// The first entry that matches `f`.
    pub fn find(&self, f: &Finding) -> Option<(usize, &Suppression)> {
        self.entries.iter().enumerate().find(|(_, s)| s.matches(f))
    }
}

fn known_code(c: &str) -> bool {
    CODES.contains(&c) || PROBLEM_CODES.contains(&c)
}

/// The [`super::ProblemCode`] names (as in JSON).
pub const PROBLEM_CODES: &[&str] = &[
    "field_reordered",
    "field_retyped",
    "field_resized",
    "field_inserted_in_middle",
    "field_removed",
    "field_unknown",
    "field_moved",
    "field_bitfield",
    "struct_shrank",
    "partial_version",
    "hole",
    "wrong_kind",
    "arg_count",
    "arg_type",
    "return_type",
    "sz_pairing",
    "param_name",
    "opaque_size",
    "not_registered",
    "flags",
    "bad_btf",
];

impl Suppression {
    /// Whether this entry matches finding `f` (rule in the module doc).
    pub fn matches(&self, f: &Finding) -> bool {
        let object_file = f
            .object
            .as_deref()
            .and_then(|o| Path::new(o).file_name())
            .and_then(|n| n.to_str());
        let names = [
            Some(f.item.as_str()),
            Some(f.name.as_str()),
            f.object.as_deref(),
            object_file,
        ];
        self.kernel.as_deref().is_none_or(|k| glob(k, &f.kernel))
            && names.iter().flatten().any(|n| glob(&self.item, n))
            && match (&self.field, &f.field) {
                (None, _) => true,
                (Some(p), Some(v)) => glob(p, v),
                (Some(_), None) => false,
            }
            && self.code.as_deref().is_none_or(|c| glob(c, &f.code))
    }

    /// The entry as `kernel=..., item=..., field=...` for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &self.kernel {
            parts.push(format!("kernel={k}"));
        }
        parts.push(format!("item={}", self.item));
        if let Some(f) = &self.field {
            parts.push(format!("field={f}"));
        }
        if let Some(c) = &self.code {
            parts.push(format!("code={c}"));
        }
        parts.join(", ")
    }
}

/// Whether `text` matches `pat`: `*` is any run of characters, `?` one
/// character, everything else itself.
pub fn glob(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it now covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("6.1*", "6.12.117+deb12-cloud-amd64"));
        assert!(glob("6.1*", "6.1"));
        assert!(!glob("6.1", "6.12"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*amd64", "6.1.0-56-cloud-amd64"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn problem_codes_are_the_serialized_names() {
        use super::super::ProblemCode as C;
        let all = [
            C::FieldReordered,
            C::FieldRetyped,
            C::FieldResized,
            C::FieldInsertedInMiddle,
            C::FieldRemoved,
            C::FieldUnknown,
            C::FieldMoved,
            C::FieldBitfield,
            C::StructShrank,
            C::PartialVersion,
            C::Hole,
            C::WrongKind,
            C::ArgCount,
            C::ArgType,
            C::ReturnType,
            C::SzPairing,
            C::ParamName,
            C::OpaqueSize,
            C::NotRegistered,
            C::Flags,
            C::BadBtf,
        ];
        let names: Vec<String> = all
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        assert_eq!(names, PROBLEM_CODES);
    }

    #[test]
    fn errors_name_the_line() {
        let text = "[[suppress]]\nitem = \"x\"\nreason = \"r\"\n\n[[suppress]]\nitem = \"y\"\n";
        let e = Suppressions::parse("s.toml", text).expect_err("missing reason");
        let msg = e.to_string();
        assert!(msg.starts_with("s.toml:5:"), "{msg}");
        assert!(msg.contains("reason"), "{msg}");
        let e = Suppressions::parse(
            "s.toml",
            "[[suppress]]\nitem = \"x\"\nreason = \"r\"\nwhy = 1\n",
        )
        .expect_err("unknown key");
        assert!(e.to_string().contains("why"), "{e}");
        let e = Suppressions::parse("s.toml", "[[suppress]]\nitem = \"x\"\nreason = \"  \"\n")
            .expect_err("empty reason");
        assert!(e.to_string().starts_with("s.toml:1:"), "{e}");
        let e = Suppressions::parse(
            "s.toml",
            "[[suppress]]\nitem = \"x\"\ncode = \"feild_moved\"\nreason = \"r\"\n",
        )
        .expect_err("unknown code");
        assert!(e.to_string().contains("feild_moved"), "{e}");
    }
}
