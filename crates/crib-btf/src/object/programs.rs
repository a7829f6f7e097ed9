//! The programs of a BPF object and the kfunc externs each one calls or
//! tests, read from the ELF relocations.
//!
//! Why per program: libbpf does not fail on an unresolved `__weak` kfunc; it
//! rewrites each call to it into an invalid helper call ("poisons" it,
//! `poison_kfunc_call` in libbpf.c) and the verifier rejects the program
//! if that call is reachable ("kfunc 'x' is referenced but wasn't
//! resolved"). The supported way to keep it unreachable is
//! `if (bpf_ksym_exists(x))` (or `if (x)`): an `ld_imm64` of the extern,
//! which libbpf sets to 0, so the verifier sees a constant branch and never
//! walks the call. We cannot prove the branch guards that call; we take
//! "the program also loads the extern's address" as "the call is guarded"
//! (a heuristic, like the CO-RE `guarded` flag).
//!
//! Subprograms live in `.text` and are appended by libbpf to every program
//! that calls them. We follow the call graph: a program reaches the `.text`
//! functions it calls (pseudo calls and callback addresses, through
//! relocations or the pc-relative calls inside `.text`), and they what they
//! call; only their references count for it. A reference into `.text` that
//! does not land in a known function makes the whole of `.text` reachable
//! (an over-approximation that can only predict more failures).

use crate::error::LoadProblem;
use ::object::{
    Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex, SectionKind, SymbolKind,
    SymbolSection,
};
use serde::Serialize;
use std::collections::BTreeSet;

/// `BPF_JMP | BPF_CALL`.
const OP_CALL: u8 = 0x85;
/// `BPF_LD | BPF_IMM | BPF_DW`: the 16-byte load of an address.
const OP_LD_IMM64: u8 = 0x18;

/// One BPF program (a function symbol of an executable section other than
/// `.text`), with the kfunc externs it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    pub name: String,
    pub section: String,
    /// libbpf loads it with the object (section name not prefixed by `?`).
    pub autoload: bool,
    /// Extern symbols it calls (including from `.text` subprograms).
    pub calls: BTreeSet<String>,
    /// Extern symbols whose address it loads (`bpf_ksym_exists(x)`, `if (x)`).
    pub tests: BTreeSet<String>,
    /// Its bytes in its section: CO-RE relocations are attributed by offset.
    #[serde(skip)]
    pub range: (u64, u64),
    /// Byte ranges of the `.text` subprograms it reaches, whose
    /// relocations (and CO-RE relocations) it then gets.
    #[serde(skip)]
    pub text: Vec<(u64, u64)>,
}

impl Program {
    /// Whether the instruction at byte `insn_off` of `section` is this
    /// program's (or one of the `.text` subprograms it may call).
    pub fn owns(&self, section: &str, insn_off: u32) -> bool {
        let off = u64::from(insn_off);
        if section == ".text" {
            return self.text.iter().any(|(a, b)| off >= *a && off < *b);
        }
        section == self.section && off >= self.range.0 && off < self.range.1
    }

    /// The iterator target of an `iter/NAME` (or `iter.s/NAME`) section:
    /// the kernel must have `struct bpf_iter__NAME` to attach it.
    pub fn iter_target(&self) -> Option<&str> {
        let s = self.section.trim_start_matches('?');
        s.strip_prefix("iter/")
            .or_else(|| s.strip_prefix("iter.s/"))
            .filter(|t| !t.is_empty())
    }

    /// The program types libbpf and the harness load this section as
    /// (`crib`: as BPF_PROG_TYPE_CRIB, else SYSCALL), by spec name; empty
    /// when the section says nothing the checker knows.
    pub fn prog_types(&self) -> &'static [&'static str] {
        let s = self.section.trim_start_matches('?');
        match s.split('/').next().unwrap_or("") {
            "crib" => &["crib", "syscall"],
            "syscall" => &["syscall"],
            "iter" | "iter.s" | "fentry" | "fexit" | "fmod_ret" | "tp_btf" => &["tracing"],
            "lsm" | "lsm.s" => &["lsm"],
            _ => &[],
        }
    }

    /// Calls `name` without also testing its address.
    pub fn calls_unguarded(&self, name: &str) -> bool {
        self.calls.contains(name) && !self.tests.contains(name)
    }
}

/// `BPF_PSEUDO_CALL`: a call's src_reg when it calls a subprogram.
const PSEUDO_CALL: u8 = 1;
const INSN: u64 = 8;

/// What the code of one function references.
#[derive(Default)]
struct Refs {
    calls: BTreeSet<String>,
    tests: BTreeSet<String>,
    /// `.text` byte offsets it calls or takes the address of.
    text_targets: BTreeSet<u64>,
}

/// A function symbol's bytes in its section.
struct Func {
    start: u64,
    end: u64,
    name: String,
}

fn funcs_of(elf: &::object::File, sec: SectionIndex) -> Vec<Func> {
    let mut v: Vec<Func> = elf
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.section_index() == Some(sec))
        .filter_map(|s| {
            Some(Func {
                start: s.address(),
                end: s.address().saturating_add(s.size()),
                name: s.name().ok()?.to_string(),
            })
        })
        .collect();
    v.sort_by_key(|f| f.start);
    v
}

fn func_at(funcs: &[Func], off: u64) -> Option<usize> {
    funcs.iter().position(|f| off >= f.start && off < f.end)
}

/// src_reg and imm of the instruction at `off`.
fn insn_fields(data: &[u8], off: u64) -> Option<(u8, u8, i32)> {
    let o = usize::try_from(off).ok()?;
    let b = data.get(o..o.checked_add(8)?)?;
    Some((
        b[0],
        b[1] >> 4,
        i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

/// The references of each function of section `sec`; with `text` = the
/// `.text` section itself, its relocation-free pc-relative calls too.
fn section_refs(
    elf: &::object::File,
    sec: &::object::Section,
    funcs: &[Func],
    text: Option<SectionIndex>,
    name: &str,
) -> Result<Vec<Refs>, LoadProblem> {
    let data = sec
        .data()
        .map_err(|e| LoadProblem::Elf(format!("section {name}: {e}")))?;
    let mut refs: Vec<Refs> = funcs.iter().map(|_| Refs::default()).collect();
    let mut relocated = BTreeSet::new();
    for (off, rel) in sec.relocations() {
        relocated.insert(off);
        let Some(sym) = target(elf, &rel) else {
            continue;
        };
        let Some(i) = func_at(funcs, off) else {
            continue;
        };
        let Some((op, _, imm)) = insn_fields(data, off) else {
            continue;
        };
        match sym.section() {
            SymbolSection::Undefined => classify(&mut refs[i], &sym, op),
            SymbolSection::Section(t) if Some(t) == text => {
                // libbpf: a call lands at sym + (imm + 1) insns, a callback
                // address (an ld_imm64 libbpf turns into BPF_PSEUDO_FUNC)
                // at sym + imm bytes.
                let to = match op {
                    OP_CALL => i64::from(imm).saturating_add(1).saturating_mul(INSN as i64),
                    OP_LD_IMM64 => i64::from(imm),
                    _ => 0,
                };
                let at = (sym.address() as i64).saturating_add(to);
                refs[i].text_targets.insert(at.max(0) as u64);
            }
            _ => {}
        }
    }
    if Some(sec.index()) == text {
        let mut off = 0u64;
        while let Some((op, src, imm)) = insn_fields(data, off) {
            if op == OP_CALL && src == PSEUDO_CALL && !relocated.contains(&off) {
                if let Some(i) = func_at(funcs, off) {
                    let at = (off as i64).saturating_add(
                        i64::from(imm).saturating_add(1).saturating_mul(INSN as i64),
                    );
                    refs[i].text_targets.insert(at.max(0) as u64);
                }
            }
            off += if op == OP_LD_IMM64 { 2 * INSN } else { INSN };
        }
    }
    Ok(refs)
}

/// The `.text` functions reachable from `roots` (offsets), or all of them
/// when an offset lands in none.
fn reach(roots: &BTreeSet<u64>, funcs: &[Func], refs: &[Refs]) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<u64> = roots.iter().copied().collect();
    while let Some(at) = todo.pop() {
        let Some(i) = func_at(funcs, at) else {
            return (0..funcs.len()).collect();
        };
        if seen.insert(i) {
            todo.extend(refs[i].text_targets.iter().copied());
        }
    }
    seen
}

/// The programs of an ELF BPF object, in section and address order.
pub fn programs(elf: &::object::File) -> Result<Vec<Program>, LoadProblem> {
    let text = elf.section_by_name(".text").map(|s| s.index());
    let (text_funcs, text_refs) = match text.and_then(|i| elf.section_by_index(i).ok()) {
        Some(sec) => {
            let funcs = funcs_of(elf, sec.index());
            let refs = section_refs(elf, &sec, &funcs, text, ".text")?;
            (funcs, refs)
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut out = Vec::new();
    for sec in elf.sections() {
        if sec.kind() != SectionKind::Text || Some(sec.index()) == text {
            continue;
        }
        let sec_name = sec
            .name()
            .map_err(|e| LoadProblem::Elf(e.to_string()))?
            .to_string();
        let funcs = funcs_of(elf, sec.index());
        let refs = section_refs(elf, &sec, &funcs, text, &sec_name)?;
        for (f, mut r) in funcs.into_iter().zip(refs) {
            let reached = reach(&r.text_targets, &text_funcs, &text_refs);
            for &i in &reached {
                r.calls.extend(text_refs[i].calls.iter().cloned());
                r.tests.extend(text_refs[i].tests.iter().cloned());
            }
            out.push(Program {
                name: f.name,
                section: sec_name.clone(),
                autoload: !sec_name.starts_with('?'),
                calls: r.calls,
                tests: r.tests,
                range: (f.start, f.end),
                text: reached
                    .iter()
                    .map(|&i| (text_funcs[i].start, text_funcs[i].end))
                    .collect(),
            });
        }
    }
    Ok(out)
}

fn target<'d, 'f>(
    elf: &'f ::object::File<'d>,
    rel: &::object::Relocation,
) -> Option<::object::Symbol<'d, 'f>> {
    match rel.target() {
        RelocationTarget::Symbol(idx) => elf.symbol_by_index(idx).ok(),
        _ => None,
    }
}

/// Sort one relocation against an extern: a call, or a load of its
/// address (a test).
fn classify(r: &mut Refs, sym: &::object::Symbol, opcode: u8) {
    let Ok(name) = sym.name() else { return };
    match opcode {
        OP_CALL => {
            r.calls.insert(name.to_string());
        }
        OP_LD_IMM64 => {
            r.tests.insert(name.to_string());
        }
        _ => {}
    }
}
