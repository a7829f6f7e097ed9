//! The report of a check: kernels, items with one verdict per kernel,
//! objects, and the summary that decides the exit status.

use super::Verdict;
use crate::btf::Btf;
use crate::kfunc_sets::KfuncSets;
use crate::object::ObjectReport;
use crate::types::Mode;
use serde::Serialize;
use std::path::PathBuf;

/// Version of the JSON report schema (`docs/compat-json.md`).
pub const SCHEMA_VERSION: u32 = 1;

/// A kernel to check: its BTF and how reports name it.
#[derive(Debug)]
pub struct Kernel {
    pub label: String,
    pub path: PathBuf,
    pub btf: Btf,
    /// kfunc registrations, when the kernel file is an unstripped vmlinux.
    pub kfunc_sets: Option<KfuncSets>,
}

impl Kernel {
    /// A kernel known only by its BTF.
    pub fn new(label: impl Into<String>, path: impl Into<PathBuf>, btf: Btf) -> Kernel {
        Kernel {
            label: label.into(),
            path: path.into(),
            btf,
            kfunc_sets: None,
        }
    }

    /// Load a kernel file ([`crate::load_kernel`]).
    pub fn load(
        label: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Result<Kernel, crate::LoadError> {
        let path = path.into();
        let l = crate::load_kernel(&path)?;
        Ok(Kernel {
            label: label.into(),
            path,
            btf: l.btf,
            kfunc_sets: l.kfunc_sets,
        })
    }
}

/// Options of a check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub mode: Mode,
    /// Count `absent` required items as failures.
    pub require_present: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Kfunc,
    Struct,
    Opaque,
}

/// One spec'd item and its verdict on each kernel (same order as
/// [`Report::kernels`]).
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub kind: ItemKind,
    pub name: String,
    pub family: String,
    /// `crib` or `upstream`.
    pub origin: String,
    pub required: bool,
    pub results: Vec<Verdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelInfo {
    pub label: String,
    pub path: String,
    pub type_count: u32,
    pub kfunc_decl_tags: bool,
    /// kfunc sets (registrations and `KF_*` flags) were read: an
    /// unstripped vmlinux was given.
    pub kfunc_sets: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Number of (item, kernel) pairs that fail under the policy above.
    pub failures: usize,
    pub ok: bool,
}

/// The whole result of `crib compat`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// `relaxed` or `strict`.
    pub mode: &'static str,
    pub require_present: bool,
    pub kernels: Vec<KernelInfo>,
    pub items: Vec<ItemReport>,
    pub objects: Vec<ObjectReport>,
    pub summary: Summary,
}

impl Report {
    /// Whether one verdict of a required-or-not item counts as a failure.
    pub fn fails(required: bool, v: &Verdict, require_present: bool) -> bool {
        required
            && match v {
                Verdict::Incompatible { .. } => true,
                Verdict::Absent => require_present,
                _ => false,
            }
    }
}
