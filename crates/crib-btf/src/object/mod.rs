//! Compiled BPF objects (`.bpf.o`): the kfuncs they call (extern `FUNC`s
//! of the `.ksyms` DATASEC) and their CO-RE relocations, and whether each
//! resolves on each kernel: the kfunc portability matrix.

pub mod core;
pub mod ext;
pub mod programs;

use crate::btf::{Btf, Kind, Linkage};
use crate::compat::Kernel;
use crate::error::{LoadError, LoadProblem};
use crate::load::elf_section;
use crate::types::{btf_compatible, c_type, Mode};
use ::object::{Object, ObjectSymbol};
use ext::{CoreRelo, ReloKind};
use programs::Program;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A kfunc the object calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KfuncCall {
    pub name: String,
    /// The object's FUNC type id.
    pub func_id: u32,
    /// Declared `__weak`: a missing kfunc resolves to 0 instead of failing.
    pub weak: bool,
}

/// A parsed BPF object.
#[derive(Debug)]
pub struct BpfObject {
    pub path: PathBuf,
    pub btf: Btf,
    pub kfuncs: Vec<KfuncCall>,
    pub relos: Vec<CoreRelo>,
    /// Its programs and the externs each one calls or tests.
    pub programs: Vec<Program>,
}

/// Read a `.bpf.o`: its `.BTF`, `.BTF.ext` CO-RE records and kfunc externs.
pub fn open(path: impl AsRef<Path>) -> Result<BpfObject, LoadError> {
    let path = path.as_ref();
    let data = std::fs::read(path).map_err(|e| LoadError::new(path, e))?;
    parse(path, &data).map_err(|p| LoadError::new(path, p))
}

fn parse(path: &Path, data: &[u8]) -> Result<BpfObject, LoadProblem> {
    if !data.starts_with(b"\x7fELF") {
        return Err(LoadProblem::Elf("not an ELF file".into()));
    }
    let btf = Btf::parse(elf_section(data, ".BTF")?.ok_or(LoadProblem::NoBtfSection)?)?;
    let relos = match elf_section(data, ".BTF.ext")? {
        Some(ext) => ext::core_relos(&ext, &btf).map_err(LoadProblem::BtfExt)?,
        None => Vec::new(),
    };
    let elf = ::object::File::parse(data).map_err(|e| LoadProblem::Elf(e.to_string()))?;
    let programs = programs::programs(&elf)?;
    let weak = |name: &str| elf.symbol_by_name(name).is_some_and(|s| s.is_weak());
    // The .ksyms DATASEC lists extern kfuncs (and ksym variables).
    let ksyms: Option<Vec<u32>> = btf
        .find_one(".ksyms", &[Kind::Datasec])
        .map(|d| d.sec_vars().map(|v| v.iter().map(|v| v.type_id).collect()))
        .transpose()?;
    let mut kfuncs = Vec::new();
    for id in 1..=btf.type_count() {
        let t = btf.get(id)?;
        if t.kind != Kind::Func || t.linkage() != Linkage::Extern {
            continue;
        }
        if ksyms.as_ref().is_some_and(|k| !k.contains(&id)) {
            continue;
        }
        let name = t.name()?.to_string();
        kfuncs.push(KfuncCall {
            weak: weak(&name),
            name,
            func_id: id,
        });
    }
    Ok(BpfObject {
        path: path.to_path_buf(),
        btf,
        kfuncs,
        relos,
        programs,
    })
}

/// One row of an object's matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectEntry {
    /// `kfunc` or `core`.
    pub kind: &'static str,
    /// kfunc name, or the relocation target (`task_struct.mm`).
    pub name: String,
    /// CO-RE relocation kind (`byte_off`, `field_exists`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relo_kind: Option<ReloKind>,
    /// Relocations merged into this row (same kind and target).
    pub count: usize,
    pub weak: bool,
    /// One per kernel, in the report's kernel order.
    pub results: Vec<ObjectStatus>,
}

/// What one object row does on one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ObjectStatus {
    /// Resolves (kfunc present with a compatible prototype, relocation
    /// resolves).
    Ok,
    /// An existence relocation answers "no": the program handles it.
    NotFound { reason: String },
    /// kfunc missing: libbpf refuses to load the object, unless the kfunc
    /// is `weak` (then it stays unresolved, and every autoloaded program
    /// that calls it does so behind a `bpf_ksym_exists()` test; else see
    /// [`ObjectStatus::Poisoned`]).
    Absent { weak: bool },
    /// kfunc present with another prototype: libbpf refuses to load, unless
    /// the kfunc is `weak` (then it is treated as absent).
    Incompatible { reason: String, weak: bool },
    /// A `weak` kfunc that stays unresolved (absent, or another prototype:
    /// `reason`) and that autoloaded `programs` call without testing its
    /// address: libbpf poisons those calls and the verifier rejects them
    /// ("kfunc '...' is referenced but wasn't resolved").
    Poisoned {
        reason: String,
        programs: Vec<String>,
    },
    /// CO-RE relocation fails: libbpf poisons the instruction, which the
    /// verifier accepts only if it is dead code. `guarded`: the object also
    /// asks whether the same target exists (`bpf_core_field_exists()` and
    /// friends), so the poisoned instruction is presumably behind that test.
    Unresolved { reason: String, guarded: bool },
    /// Several candidates give different answers: libbpf refuses to load.
    Ambiguous { reason: String },
    /// The function exists but no kfunc set registers it (known only for an
    /// unstripped vmlinux): the verifier refuses the call, weak or not.
    NotRegistered,
}

impl ObjectStatus {
    /// Whether the object would fail to load on that kernel: a missing or
    /// mismatched non-weak kfunc, an unresolved weak kfunc called unguarded,
    /// an ambiguous relocation, a poisoned CO-RE instruction nothing guards.
    pub fn fails(&self) -> bool {
        match self {
            ObjectStatus::Absent { weak } | ObjectStatus::Incompatible { weak, .. } => !weak,
            ObjectStatus::Unresolved { guarded, .. } => !guarded,
            ObjectStatus::Ambiguous { .. }
            | ObjectStatus::NotRegistered
            | ObjectStatus::Poisoned { .. } => true,
            ObjectStatus::Ok | ObjectStatus::NotFound { .. } => false,
        }
    }

    pub fn cell(&self) -> String {
        match self {
            ObjectStatus::Ok => "ok".into(),
            ObjectStatus::NotFound { .. } => "ok (no)".into(),
            ObjectStatus::Absent { weak: true } => "absent (weak)".into(),
            ObjectStatus::Absent { weak: false } => "absent".into(),
            ObjectStatus::Incompatible { weak: false, .. } => "BAD: proto".into(),
            ObjectStatus::Incompatible { weak: true, .. } => "proto differs (weak)".into(),
            ObjectStatus::Unresolved { guarded: false, .. } => "BAD: unresolved".into(),
            ObjectStatus::Unresolved { guarded: true, .. } => "unresolved (guarded)".into(),
            ObjectStatus::Ambiguous { .. } => "BAD: ambiguous".into(),
            ObjectStatus::Poisoned { .. } => "BAD: weak, called unguarded".into(),
            ObjectStatus::NotRegistered => "BAD: not a kfunc".into(),
        }
    }
}

/// The matrix of one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    pub path: String,
    /// Per kernel: whether the object is predicted to load as a whole
    /// (every autoloaded program loads).
    pub loads: Vec<bool>,
    pub entries: Vec<ObjectEntry>,
    /// Its programs, each with its own prediction per kernel (what a
    /// program-by-program load, as the harness does, would get).
    pub programs: Vec<ProgramReport>,
}

/// One program and its prediction per kernel.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramReport {
    #[serde(flatten)]
    pub program: Program,
    /// One per kernel, in the report's kernel order.
    pub results: Vec<ProgramPrediction>,
}

/// Whether one program is predicted to load on one kernel, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramPrediction {
    pub loads: bool,
    /// Empty when it loads: each failing row (kfunc, relocation) or the
    /// missing iterator target, as a sentence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The reasons no row of the object's matrix carries (the iterator
    /// target, the program type), with their finding code: these become
    /// findings of their own ([`crate::compat::findings`]).
    #[serde(skip)]
    pub own: Vec<(&'static str, String)>,
}

/// Resolve everything `obj` needs on each kernel.
pub fn analyze(obj: &BpfObject, kernels: &[Kernel], mode: Mode) -> ObjectReport {
    let mut entries = Vec::new();
    for call in &obj.kfuncs {
        entries.push(ObjectEntry {
            kind: "kfunc",
            name: call.name.clone(),
            relo_kind: None,
            count: 1,
            weak: call.weak,
            results: kernels
                .iter()
                .map(|k| poison(obj, call, kfunc_status(obj, call, k, mode)))
                .collect(),
        });
    }
    // Merge relocations with the same kind and target into one row.
    let mut rows: Vec<(ReloKind, String, &CoreRelo, usize)> = Vec::new();
    for r in &obj.relos {
        let name = core::describe(&obj.btf, r);
        match rows
            .iter_mut()
            .find(|(k, n, _, _)| *k == r.kind && *n == name)
        {
            Some(row) => row.3 += 1,
            None => rows.push((r.kind, name, r, 1)),
        }
    }
    // The programs each merged row's relocations belong to.
    let owners: Vec<Vec<usize>> = rows
        .iter()
        .map(|(kind, name, _, _)| {
            let mut v: Vec<usize> = obj
                .relos
                .iter()
                .filter(|r| r.kind == *kind && core::describe(&obj.btf, r) == *name)
                .flat_map(|r| {
                    obj.programs
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.owns(&r.section, r.insn_off))
                        .map(|(i, _)| i)
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // Targets the object also tests for existence.
    let guarded: Vec<String> = rows
        .iter()
        .filter(|(k, _, _, _)| k.is_existence())
        .map(|(_, n, _, _)| n.clone())
        .collect();
    for (kind, name, r, count) in rows {
        let is_guarded = guarded.contains(&name);
        entries.push(ObjectEntry {
            kind: "core",
            name,
            relo_kind: Some(kind),
            count,
            weak: false,
            results: kernels
                .iter()
                .map(|k| match core::resolve(&obj.btf, r, &k.btf) {
                    core::Resolution::Ok => ObjectStatus::Ok,
                    core::Resolution::DoesNotExist(reason) => ObjectStatus::NotFound { reason },
                    core::Resolution::Unresolved(reason) => ObjectStatus::Unresolved {
                        reason,
                        guarded: is_guarded,
                    },
                    core::Resolution::Ambiguous(reason) => ObjectStatus::Ambiguous { reason },
                })
                .collect(),
        });
    }
    let n_kfuncs = obj.kfuncs.len();
    let programs: Vec<ProgramReport> = obj
        .programs
        .iter()
        .enumerate()
        .map(|(pi, p)| ProgramReport {
            program: p.clone(),
            results: kernels
                .iter()
                .enumerate()
                .map(|(k, kernel)| {
                    let mut reasons = Vec::new();
                    for (ei, e) in entries.iter().enumerate() {
                        let Some(st) = e.results.get(k) else { continue };
                        let mine = if ei < n_kfuncs {
                            match st {
                                // libbpf resolves every extern of the object,
                                // whichever programs are loaded.
                                ObjectStatus::Absent { weak: false }
                                | ObjectStatus::Incompatible { weak: false, .. } => true,
                                // A weak one left unresolved poisons this
                                // program's unguarded calls (autoloaded or not).
                                ObjectStatus::Absent { weak: true }
                                | ObjectStatus::Incompatible { weak: true, .. }
                                | ObjectStatus::Poisoned { .. } => p.calls_unguarded(&e.name),
                                other => other.fails() && p.calls.contains(&e.name),
                            }
                        } else {
                            st.fails() && owners[ei - n_kfuncs].contains(&pi)
                        };
                        if mine {
                            let cell = match st {
                                ObjectStatus::Absent { weak: true }
                                | ObjectStatus::Incompatible { weak: true, .. } => {
                                    ObjectStatus::Poisoned {
                                        reason: String::new(),
                                        programs: Vec::new(),
                                    }
                                    .cell()
                                }
                                other => other.cell(),
                            };
                            reasons.push(format!("{} {}: {cell}", e.kind, e.name));
                        }
                    }
                    let mut own = Vec::new();
                    if let Some(t) = p.iter_target() {
                        let ctx = format!("bpf_iter__{t}");
                        if kernel.btf.find_one(&ctx, &[Kind::Struct]).is_none() {
                            let reason =
                                format!("iterator target {t}: this kernel has no struct {ctx}");
                            reasons.push(reason.clone());
                            own.push(("iter_target", reason));
                        }
                    }
                    ProgramPrediction {
                        loads: reasons.is_empty(),
                        reasons,
                        own,
                    }
                })
                .collect(),
        })
        .collect();
    let loads = (0..kernels.len())
        .map(|k| {
            let object_level = entries[..n_kfuncs].iter().any(|e| {
                matches!(
                    e.results.get(k),
                    Some(
                        ObjectStatus::Absent { weak: false }
                            | ObjectStatus::Incompatible { weak: false, .. }
                    )
                )
            });
            !object_level
                && programs
                    .iter()
                    .filter(|p| p.program.autoload)
                    .all(|p| p.results.get(k).is_some_and(|r| r.loads))
        })
        .collect();
    ObjectReport {
        path: obj.path.display().to_string(),
        loads,
        entries,
        programs,
    }
}

impl ObjectReport {
    /// Programs that call a kfunc registered only for other program types
    /// (`allowed(name)`: the spec's program types of kfunc `name`, `None`
    /// when unknown) fail where that kfunc is present: the verifier refuses
    /// a kfunc its program type has no set (or a set filter) for, which
    /// BTF does not show.
    pub fn apply_prog_types(&mut self, allowed: &dyn Fn(&str) -> Option<Vec<String>>) {
        let n_kernels = self.loads.len();
        for p in &mut self.programs {
            let types = p.program.prog_types();
            if types.is_empty() {
                continue;
            }
            for call in &p.program.calls {
                let Some(ok) = allowed(call) else { continue };
                if ok.iter().any(|t| t == "any" || types.contains(&t.as_str())) {
                    continue;
                }
                let present = |k: usize| {
                    self.entries.iter().any(|e| {
                        e.kind == "kfunc"
                            && &e.name == call
                            && matches!(e.results.get(k), Some(ObjectStatus::Ok))
                    })
                };
                for k in 0..n_kernels {
                    if present(k) {
                        if let Some(r) = p.results.get_mut(k) {
                            r.loads = false;
                            let reason = format!(
                                "kfunc {call}: registered for {} programs, not {}",
                                ok.join("/"),
                                types.join("/")
                            );
                            r.reasons.push(reason.clone());
                            r.own.push(("prog_type", reason));
                        }
                    }
                }
            }
        }
        for (k, l) in self.loads.iter_mut().enumerate() {
            if self
                .programs
                .iter()
                .any(|p| p.program.autoload && p.results.get(k).is_some_and(|r| !r.loads))
            {
                *l = false;
            }
        }
    }
}

/// A weak kfunc libbpf leaves unresolved fails where an autoloaded program
/// calls it without testing it (see [`programs`] for the rule and the
/// guard heuristic).
fn poison(obj: &BpfObject, call: &KfuncCall, status: ObjectStatus) -> ObjectStatus {
    let reason = match &status {
        ObjectStatus::Absent { weak: true } => "absent".to_string(),
        ObjectStatus::Incompatible { reason, weak: true } => reason.clone(),
        _ => return status,
    };
    let programs: Vec<String> = obj
        .programs
        .iter()
        .filter(|p| p.autoload && p.calls_unguarded(&call.name))
        .map(|p| p.name.clone())
        .collect();
    if programs.is_empty() {
        return status;
    }
    ObjectStatus::Poisoned { reason, programs }
}

fn kfunc_status(obj: &BpfObject, call: &KfuncCall, kernel: &Kernel, mode: Mode) -> ObjectStatus {
    let k = &kernel.btf;
    let Some(kf) = k.find_one(&call.name, &[Kind::Func]) else {
        return ObjectStatus::Absent { weak: call.weak };
    };
    if kernel
        .kfunc_sets
        .as_ref()
        .is_some_and(|s| !s.is_registered(kf.id))
    {
        return ObjectStatus::NotRegistered;
    }
    let local_proto = match obj.btf.get(call.func_id) {
        Ok(f) => f.ref_type(),
        Err(e) => {
            return ObjectStatus::Incompatible {
                reason: e.to_string(),
                weak: call.weak,
            }
        }
    };
    match btf_compatible(&obj.btf, local_proto, k, kf.ref_type(), mode) {
        Ok(true) => ObjectStatus::Ok,
        Ok(false) => ObjectStatus::Incompatible {
            reason: format!(
                "object declares `{}`, kernel has `{}`",
                c_type(&obj.btf, local_proto),
                c_type(k, kf.ref_type())
            ),
            weak: call.weak,
        },
        Err(e) => ObjectStatus::Incompatible {
            reason: e.to_string(),
            weak: call.weak,
        },
    }
}
