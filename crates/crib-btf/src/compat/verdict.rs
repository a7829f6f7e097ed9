//! What the checker says about one item on one kernel.

use serde::Serialize;

/// Why an item is incompatible (or, for objects, not resolvable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// A spec field appears before an earlier spec field.
    FieldReordered,
    /// A field's type differs (beyond what the compare mode ignores).
    FieldRetyped,
    /// A field's size differs.
    FieldResized,
    /// A field the spec does not know sits between spec fields.
    FieldInsertedInMiddle,
    /// A spec field is missing while later spec fields exist.
    FieldRemoved,
    /// A field the spec does not know where a newer spec version has a field.
    FieldUnknown,
    /// A field is at another offset than the spec layout says.
    FieldMoved,
    /// A field is a bitfield in the kernel.
    FieldBitfield,
    /// The kernel struct lacks fields of the first version, or is smaller.
    StructShrank,
    /// The kernel struct has only part of a version's fields.
    PartialVersion,
    /// Padding bytes the spec does not have (between fields or at the tail).
    Hole,
    /// The name exists but is not a struct / not a function.
    WrongKind,
    ArgCount,
    ArgType,
    ReturnType,
    /// A `__sz` argument does not directly follow a pointer, or the kernel
    /// names it differently than the spec.
    SzPairing,
    /// A parameter-name suffix with meaning to the verifier differs.
    ParamName,
    /// An opaque (iterator) struct has another size.
    OpaqueSize,
    /// A function of that name exists but no kfunc set registers it
    /// (only known for an unstripped vmlinux).
    NotRegistered,
    /// Registered with other `KF_*` flags than the spec's.
    Flags,
    /// The kernel BTF is corrupt where this item is described.
    BadBtf,
}

/// One problem, with a short form for table cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: ProblemCode,
    /// Short form for a table cell, e.g. `arg 2 type`.
    pub short: String,
    /// A full sentence.
    pub message: String,
    /// The struct field the problem is about, when there is one (what a
    /// suppression's `field` matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(code: ProblemCode, short: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            code,
            short: short.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The same problem, about struct field `name`.
    pub fn on_field(mut self, name: impl Into<String>) -> Self {
        self.field = Some(name.into());
        self
    }
}

/// The verdict for one (item, kernel) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Present and compatible. `version`: the `__sz` struct version the
    /// kernel implements. `decl_tagged`: for kfuncs, whether the kernel marks
    /// the function with `DECL_TAG bpf_kfunc` (`None` when the kernel BTF
    /// carries no such tags at all).
    Compatible {
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        decl_tagged: Option<bool>,
    },
    /// A versioned struct with every spec field plus fields the spec does
    /// not know, appended at the end (a newer kernel): fine for callers,
    /// which pass a smaller `__sz`.
    CompatibleNewer {
        version: u32,
        extra_fields: Vec<String>,
    },
    Absent,
    Incompatible {
        problems: Vec<Problem>,
    },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Verdict::Compatible { .. } | Verdict::CompatibleNewer { .. }
        )
    }

    /// Text of a table cell.
    pub fn cell(&self) -> String {
        match self {
            Verdict::Compatible {
                version,
                decl_tagged,
            } => {
                let mut s = "ok".to_string();
                if let Some(v) = version {
                    s.push_str(&format!(" v{v}"));
                }
                if *decl_tagged == Some(false) {
                    s.push_str(" (untagged)");
                }
                s
            }
            Verdict::CompatibleNewer { version, .. } => format!("ok v{version}+"),
            Verdict::Absent => "absent".into(),
            Verdict::Incompatible { problems } => {
                let first = problems.first().map(|p| p.short.as_str()).unwrap_or("?");
                if problems.len() > 1 {
                    format!("BAD: {first} (+{})", problems.len() - 1)
                } else {
                    format!("BAD: {first}")
                }
            }
        }
    }
}
