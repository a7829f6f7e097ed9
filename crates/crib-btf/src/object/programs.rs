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
//! that calls them; we do not follow the call graph inside `.text` but
//! count all of its references for each program that references `.text`
//! at all (an over-approximation that can only predict more failures).

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
    /// It references `.text` (subprograms), whose relocations it then gets.
    #[serde(skip)]
    pub uses_text: bool,
}

impl Program {
    /// Whether the instruction at byte `insn_off` of `section` is this
    /// program's (or one of the `.text` subprograms it may call).
    pub fn owns(&self, section: &str, insn_off: u32) -> bool {
        if section == ".text" {
            return self.uses_text;
        }
        let off = u64::from(insn_off);
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

#[derive(Default)]
struct Refs {
    calls: BTreeSet<String>,
    tests: BTreeSet<String>,
    uses_text: bool,
}

/// The programs of an ELF BPF object, in section and address order.
pub fn programs(elf: &::object::File) -> Result<Vec<Program>, LoadProblem> {
    let text = elf.section_by_name(".text").map(|s| s.index());
    // Subprograms first: their references go to every program using them.
    let mut text_refs = Refs::default();
    if let Some(sec) = text.and_then(|i| elf.section_by_index(i).ok()) {
        let data = sec
            .data()
            .map_err(|e| LoadProblem::Elf(format!("section .text: {e}")))?;
        for (off, rel) in sec.relocations() {
            if let Some(sym) = target(elf, &rel) {
                classify(&mut text_refs, &sym, data.get(off as usize).copied(), text);
            }
        }
    }
    let mut out = Vec::new();
    for sec in elf.sections() {
        if sec.kind() != SectionKind::Text || Some(sec.index()) == text {
            continue;
        }
        let sec_name = sec
            .name()
            .map_err(|e| LoadProblem::Elf(e.to_string()))?
            .to_string();
        let data = sec
            .data()
            .map_err(|e| LoadProblem::Elf(format!("section {sec_name}: {e}")))?;
        // (start, end, name) of each function of the section.
        let mut funcs: Vec<(u64, u64, String)> = elf
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.section_index() == Some(sec.index()))
            .filter_map(|s| {
                let name = s.name().ok()?.to_string();
                Some((s.address(), s.address().saturating_add(s.size()), name))
            })
            .collect();
        funcs.sort();
        let mut refs: Vec<Refs> = funcs.iter().map(|_| Refs::default()).collect();
        for (off, rel) in sec.relocations() {
            let Some(sym) = target(elf, &rel) else {
                continue;
            };
            if let Some(i) = funcs.iter().position(|(a, b, _)| off >= *a && off < *b) {
                classify(&mut refs[i], &sym, data.get(off as usize).copied(), text);
            }
        }
        for ((start, end, name), mut r) in funcs.into_iter().zip(refs) {
            if r.uses_text {
                r.calls.extend(text_refs.calls.iter().cloned());
                r.tests.extend(text_refs.tests.iter().cloned());
            }
            out.push(Program {
                name,
                section: sec_name.clone(),
                autoload: !sec_name.starts_with('?'),
                calls: r.calls,
                tests: r.tests,
                range: (start, end),
                uses_text: r.uses_text,
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

/// Sort one relocation: a call or address load of an extern, or a
/// reference into `.text` (subprogram call, callback address).
fn classify(r: &mut Refs, sym: &::object::Symbol, opcode: Option<u8>, text: Option<SectionIndex>) {
    match sym.section() {
        SymbolSection::Undefined => {
            let Ok(name) = sym.name() else { return };
            match opcode {
                Some(OP_CALL) => {
                    r.calls.insert(name.to_string());
                }
                Some(OP_LD_IMM64) => {
                    r.tests.insert(name.to_string());
                }
                _ => {}
            }
        }
        SymbolSection::Section(i) if Some(i) == text => r.uses_text = true,
        _ => {}
    }
}
