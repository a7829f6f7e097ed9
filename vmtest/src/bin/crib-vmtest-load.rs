//! crib-vmtest-load OBJ...: the guest side of `cargo xtask vmtest --matrix`.
//! Opens and loads each BPF object (verifier included) the way the harness
//! does: `SEC("crib")` programs as BPF_PROG_TYPE_CRIB (sleepable), and if the
//! kernel refuses that type, as BPF_PROG_TYPE_SYSCALL; other sections by
//! libbpf's own rules. Prints one line per object; exit 0 only if all load.

use libbpf_rs::{AsRawLibbpf, ObjectBuilder};
use std::path::Path;
use std::process::ExitCode;

/// BPF_PROG_TYPE_CRIB of the CRIB patch series (after NETFILTER = 32).
const BPF_PROG_TYPE_CRIB: u32 = 33;

fn load(path: &Path, prog_type: Option<u32>) -> Result<usize, String> {
    let mut open = ObjectBuilder::default()
        .open_file(path)
        .map_err(|e| format!("open: {e}"))?;
    let mut n = 0;
    for mut p in open.progs_mut() {
        n += 1;
        if let Some(t) = prog_type {
            if p.section() == "crib" {
                let raw = p.as_libbpf_object().as_ptr();
                // SAFETY: raw is a program of an opened, not yet loaded object.
                let rc = unsafe { libbpf_sys::bpf_program__set_type(raw, t) };
                if rc != 0 {
                    return Err(format!("cannot set program type {t}"));
                }
                p.set_flags(libbpf_sys::BPF_F_SLEEPABLE);
            }
        }
    }
    open.load().map_err(|e| format!("load: {e}"))?;
    Ok(n)
}

fn has_crib_programs(path: &Path) -> Result<bool, String> {
    let mut open = ObjectBuilder::default()
        .open_file(path)
        .map_err(|e| format!("open: {e}"))?;
    let found = open.progs_mut().any(|p| p.section() == "crib");
    Ok(found)
}

fn one(path: &Path) -> Result<String, String> {
    if !has_crib_programs(path)? {
        return load(path, None).map(|n| format!("{n} program(s) loaded"));
    }
    match load(path, Some(BPF_PROG_TYPE_CRIB)) {
        Ok(n) => Ok(format!("{n} program(s) loaded as BPF_PROG_TYPE_CRIB")),
        Err(crib) => match load(path, Some(libbpf_sys::BPF_PROG_TYPE_SYSCALL)) {
            Ok(n) => Ok(format!(
                "{n} program(s) loaded as BPF_PROG_TYPE_SYSCALL (CRIB type: {crib})"
            )),
            Err(sys) => Err(format!("as CRIB: {crib}; as SYSCALL: {sys}")),
        },
    }
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: crib-vmtest-load OBJ.bpf.o...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for p in &paths {
        match one(Path::new(p)) {
            Ok(msg) => println!("LOADED {p}: {msg}"),
            Err(msg) => {
                ok = false;
                println!("FAILED {p}: {msg}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
