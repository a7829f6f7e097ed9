//! The report of a check: kernels, items with one verdict per kernel,
//! objects, the findings (with severities and suppressions) and the
//! summary that decides the exit status.

use super::findings::{Finding, Severity, Suppressed};
use super::suppress::Suppressions;
use super::Verdict;
use crate::btf::Btf;
use crate::kfunc_sets::KfuncSets;
use crate::object::ObjectReport;
use crate::types::Mode;
use serde::Serialize;
use std::path::PathBuf;

/// Version of the JSON report schema (`docs/compat-json.md`). 2 adds
/// `findings`, `suppressions`, `kernels[].summary`, the severity counts of
/// `summary` and `problems[].field` to 1, and removes nothing.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// The findings on this kernel, counted.
    pub summary: KernelSummary,
}

/// Programs predicted to load on one kernel, of all programs of all
/// objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgramCount {
    pub load: usize,
    pub total: usize,
}

/// The findings of one kernel, counted: `error`, `warning` and `info`
/// count the findings that are not suppressed, `suppressed` the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelSummary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    pub suppressed: usize,
    /// Failing pairs on this kernel (what `summary.failures` adds up).
    pub failures: usize,
    /// `None` when no object was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs: Option<ProgramCount>,
    /// The same as one line (`6.12: 3 error, 1 warning, 5 info (2
    /// suppressed) — programs: 14/15 load`).
    pub line: String,
}

impl KernelSummary {
    fn line(&self, label: &str) -> String {
        let mut s = format!(
            "{label}: {} error, {} warning, {} info",
            self.error, self.warning, self.info
        );
        if self.suppressed > 0 {
            s.push_str(&format!(" ({} suppressed)", self.suppressed));
        }
        if let Some(p) = self.programs {
            s.push_str(&format!(" — programs: {}/{} load", p.load, p.total));
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Number of (item, kernel) and (object row, kernel) pairs that fail
    /// under the policy above and are not suppressed.
    pub failures: usize,
    pub ok: bool,
    /// Findings that are not suppressed, by severity, over all kernels.
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    pub suppressed: usize,
    /// Suppression entries that matched no finding.
    pub stale_suppressions: usize,
}

/// One entry of the suppression file and how many findings it suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionUse {
    /// The suppression file.
    pub file: String,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    pub item: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub reason: String,
    /// Findings this entry suppressed (the first matching entry wins).
    pub matched: usize,
    /// Severity `warning` when stale (`matched == 0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
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
    /// Every cell that says more than "ok", with its severity
    /// ([`super::findings`]).
    pub findings: Vec<Finding>,
    /// The entries of `--suppress FILE`, in file order (empty without).
    pub suppressions: Vec<SuppressionUse>,
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

    /// Mark the findings `s` matches as suppressed (the first matching
    /// entry wins), list its entries with their use, and count again.
    pub fn suppress(&mut self, s: &Suppressions) {
        let mut matched = vec![0usize; s.entries.len()];
        for f in &mut self.findings {
            if let Some((i, e)) = s.find(f) {
                matched[i] += 1;
                f.suppressed = Some(Suppressed {
                    reason: e.reason.clone(),
                    line: e.line,
                });
            }
        }
        self.suppressions = s
            .entries
            .iter()
            .zip(matched)
            .map(|(e, matched)| SuppressionUse {
                file: s.path.display().to_string(),
                line: e.line,
                kernel: e.kernel.clone(),
                item: e.item.clone(),
                field: e.field.clone(),
                code: e.code.clone(),
                reason: e.reason.clone(),
                matched,
                severity: (matched == 0).then_some(Severity::Warning),
            })
            .collect();
        self.recount();
    }

    /// The stale suppression entries (matched nothing).
    pub fn stale_suppressions(&self) -> impl Iterator<Item = &SuppressionUse> {
        self.suppressions.iter().filter(|s| s.matched == 0)
    }

    /// Recompute `fails` of each finding, the per-kernel summaries and the
    /// summary from the findings.
    pub fn recount(&mut self) {
        for f in &mut self.findings {
            f.fails = f.severity == Severity::Error && f.suppressed.is_none();
        }
        let mut failing: Vec<(usize, usize)> = self
            .findings
            .iter()
            .filter(|f| f.fails)
            .map(|f| (f.kernel_index, f.pair))
            .collect();
        failing.sort_unstable();
        failing.dedup();
        let has_objects = !self.objects.is_empty();
        for (k, info) in self.kernels.iter_mut().enumerate() {
            let mine = || self.findings.iter().filter(|f| f.kernel_index == k);
            let count = |sev: Severity| {
                mine()
                    .filter(|f| f.severity == sev && f.suppressed.is_none())
                    .count()
            };
            let programs = has_objects.then(|| {
                let all = self.objects.iter().flat_map(|o| &o.programs);
                ProgramCount {
                    load: all
                        .clone()
                        .filter(|p| p.results.get(k).is_some_and(|r| r.loads))
                        .count(),
                    total: all.count(),
                }
            });
            let mut sum = KernelSummary {
                error: count(Severity::Error),
                warning: count(Severity::Warning),
                info: count(Severity::Info),
                suppressed: mine().filter(|f| f.suppressed.is_some()).count(),
                failures: failing.iter().filter(|(kk, _)| *kk == k).count(),
                programs,
                line: String::new(),
            };
            sum.line = sum.line(&info.label);
            info.summary = sum;
        }
        let total = |sev: Severity| {
            self.findings
                .iter()
                .filter(|f| f.severity == sev && f.suppressed.is_none())
                .count()
        };
        self.summary = Summary {
            failures: failing.len(),
            ok: failing.is_empty(),
            error: total(Severity::Error),
            warning: total(Severity::Warning),
            info: total(Severity::Info),
            suppressed: self
                .findings
                .iter()
                .filter(|f| f.suppressed.is_some())
                .count(),
            stale_suppressions: self.stale_suppressions().count(),
        };
    }
}
