//! Loading BPF objects program by program.
//!
//! libbpf loads an object all or nothing: one program the verifier rejects
//! fails every other. Which programs a kernel accepts depends on more than
//! BTF (a helper's pointer-trust rules changed between two 6.18 builds), so:
//!
//! - [`load_tolerant`] (engines): load the object; if that fails, load each
//!   program alone to find the rejected ones, then load the object without
//!   them. A rejected program costs only its own operation, and the engine
//!   reports that operation unsupported with the verifier's reason.
//! - [`check_file`] (`crib load`, the VM matrix, `cargo xtask veristat`):
//!   load every program of an object file alone and report each verdict,
//!   the verifier's reason for a rejection and its statistics (processed
//!   instructions, states, verification time) for an acceptance.
//!
//! `SEC("crib")` programs are loaded as `BPF_PROG_TYPE_CRIB` (sleepable),
//! and as `BPF_PROG_TYPE_SYSCALL` where the kernel refuses that type.

use super::bpfobj::{BpfError, BpfResult};
use libbpf_rs::{AsRawLibbpf, Object, OpenObject};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// `BPF_PROG_TYPE_CRIB` of the CRIB patch series: the value after
/// `BPF_PROG_TYPE_NETFILTER` (32) in 6.12's uapi (patch 0001).
pub const BPF_PROG_TYPE_CRIB: u32 = 33;
/// `BPF_PROG_TYPE_SYSCALL`.
pub const BPF_PROG_TYPE_SYSCALL: u32 = libbpf_sys::BPF_PROG_TYPE_SYSCALL;

/// A program the kernel refused, and why (the verifier's own line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub prog: String,
    pub reason: String,
}

impl Rejected {
    /// What an operation that needs this program reports.
    pub fn message(&self) -> String {
        format!(
            "program {} was rejected by this kernel's verifier: {}",
            self.prog, self.reason
        )
    }
}

/// Why `prog` cannot run, if the kernel refused it.
pub fn refusal(rejected: &[Rejected], prog: &str) -> Option<String> {
    rejected
        .iter()
        .find(|r| r.prog == prog)
        .map(Rejected::message)
}

/// An object loaded without the programs the kernel refused.
pub struct Tolerant {
    pub obj: Object,
    pub rejected: Vec<Rejected>,
}

impl Tolerant {
    /// Why `prog` is not loaded, if the kernel refused it.
    pub fn rejection(&self, prog: &str) -> Option<&str> {
        self.rejected
            .iter()
            .find(|r| r.prog == prog)
            .map(|r| r.reason.as_str())
    }
}

/// libbpf's output is global (one print callback per process): loads that
/// capture it take this lock so their logs do not mix.
static LOAD_LOCK: Mutex<()> = Mutex::new(());
/// Lines printed by libbpf during the current captured load (bounded: the
/// verifier log of a big program runs to megabytes, its end says why).
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());
const CAPTURE_LINES: usize = 400;

fn capture_line(_level: libbpf_rs::PrintLevel, msg: String) {
    if let Ok(mut log) = CAPTURED.lock() {
        for line in msg.lines() {
            if log.len() == CAPTURE_LINES {
                // Keep the head (which program, what failed) and the tail.
                log.remove(CAPTURE_LINES / 4);
            }
            log.push(line.to_string());
        }
    }
}

/// Run `f` with libbpf's warnings captured instead of printed.
fn captured<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let _guard = LOAD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Ok(mut log) = CAPTURED.lock() {
        log.clear();
    }
    let prev = libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, capture_line)));
    let out = f();
    libbpf_rs::set_print(prev);
    let log = CAPTURED
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    (out, log)
}

/// The line of a load log that says why: the verifier's last message before
/// its statistics (with the instruction it was checking), else libbpf's own
/// complaint about the program, else the last line.
pub fn reason_from_log(log: &[String]) -> String {
    let body: Vec<&str> = match log
        .iter()
        .position(|l| l.contains("-- BEGIN PROG LOAD LOG --"))
    {
        Some(begin) => log[begin + 1..]
            .iter()
            .take_while(|l| !l.contains("-- END PROG LOAD LOG --"))
            .map(String::as_str)
            .collect(),
        None => Vec::new(),
    };
    let is_noise = |l: &str| {
        let t = l.trim();
        t.is_empty()
            || t.starts_with("processed ")
            || t.starts_with("verification time")
            || t.starts_with("stack depth")
            || t.starts_with("Validating ")
    };
    if let Some(i) = body.iter().rposition(|l| !is_noise(l)) {
        let why = body[i].trim();
        // "61: (85) call bpf_d_path#147" right before says where.
        let at = i
            .checked_sub(1)
            .and_then(|j| body.get(j))
            .and_then(|l| insn_of(l));
        return match at {
            Some(insn) => format!("{why} (at {insn})"),
            None => why.to_string(),
        };
    }
    let libbpf = log.iter().rev().find(|l| {
        l.contains("libbpf: prog '")
            && !l.contains("failed to load: ")
            && !l.contains("-- BEGIN")
            && !l.contains("-- END")
    });
    libbpf
        .or_else(|| log.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "no log from libbpf".into())
}

/// `61: (85) call bpf_d_path#147` -> `insn 61: call bpf_d_path#147`.
fn insn_of(line: &str) -> Option<String> {
    let (idx, rest) = line.split_once(": (")?;
    let idx: u32 = idx.trim().parse().ok()?;
    let (_, text) = rest.split_once(") ")?;
    let text = text.split(" ;").next().unwrap_or(text).trim();
    Some(format!("insn {idx}: {text}"))
}

fn autoload_names(open: &OpenObject) -> Vec<String> {
    open.progs()
        .filter(|p| p.autoload())
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect()
}

fn keep_only(open: &mut OpenObject, keep: &dyn Fn(&str) -> bool) {
    for mut p in open.progs_mut() {
        if p.autoload() && !keep(&p.name().to_string_lossy()) {
            p.set_autoload(false);
        }
    }
}

fn libbpf_err(object: &'static str, what: String) -> impl FnOnce(libbpf_rs::Error) -> BpfError {
    move |source| BpfError::Libbpf {
        object,
        what,
        source,
    }
}

/// Load the object `open` returns (opened and prepared: program types,
/// autoload, map sizes). If the kernel refuses it, each autoloaded program
/// is loaded alone; the object is then loaded without the refused ones.
/// `Err` when the object fails as a whole (every program refused alone, or
/// none: then the failure is not a program's, e.g. an extern or a map).
pub fn load_tolerant(
    name: &'static str,
    open: &dyn Fn() -> BpfResult<OpenObject>,
) -> BpfResult<Tolerant> {
    let first = open()?;
    let progs = autoload_names(&first);
    let (res, log) = captured(|| first.load());
    let whole_err = match res {
        Ok(obj) => {
            return Ok(Tolerant {
                obj,
                rejected: Vec::new(),
            })
        }
        Err(e) => e,
    };
    let whole_reason = reason_from_log(&log);
    let mut rejected = Vec::new();
    if progs.len() > 1 {
        for p in &progs {
            let mut one = open()?;
            keep_only(&mut one, &|n| n == p);
            let (res, log) = captured(|| one.load());
            if res.is_err() {
                rejected.push(Rejected {
                    prog: p.clone(),
                    reason: reason_from_log(&log),
                });
            }
        }
    }
    if rejected.is_empty() || rejected.len() == progs.len() {
        return Err(libbpf_err(name, format!("load failed: {whole_reason}"))(
            whole_err,
        ));
    }
    let mut rest = open()?;
    keep_only(&mut rest, &|n| !rejected.iter().any(|r| r.prog == n));
    let (res, log) = captured(|| rest.load());
    let obj = res.map_err(libbpf_err(
        name,
        format!(
            "load without the refused program(s) {} failed: {}",
            rejected
                .iter()
                .map(|r| r.prog.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason_from_log(&log)
        ),
    ))?;
    Ok(Tolerant { obj, rejected })
}

/// Load a whole object, all or nothing, with the verifier's reason in the
/// error instead of its full log on stderr.
pub fn load_all(name: &'static str, open: OpenObject) -> BpfResult<Object> {
    let (res, log) = captured(|| open.load());
    res.map_err(|source| BpfError::Libbpf {
        object: name,
        what: format!("load failed: {}", reason_from_log(&log)),
        source,
    })
}

/// Set every `SEC("crib")` program (or, with `all`, every program) of an
/// opened object to `prog_type`, sleepable.
pub fn set_crib_type(
    name: &'static str,
    open: &mut OpenObject,
    prog_type: u32,
    all: bool,
) -> BpfResult<()> {
    for mut p in open.progs_mut() {
        if !all && p.section() != "crib" {
            continue;
        }
        let raw = p.as_libbpf_object().as_ptr();
        // SAFETY: raw is a valid bpf_program of an opened, not yet loaded object.
        let rc = unsafe { libbpf_sys::bpf_program__set_type(raw, prog_type) };
        if rc != 0 {
            return Err(BpfError::Run {
                object: name,
                prog: p.name().to_string_lossy().into_owned(),
                what: format!("cannot set program type {prog_type}"),
            });
        }
        p.set_flags(libbpf_sys::BPF_F_SLEEPABLE);
    }
    Ok(())
}

/// The verifier's statistics for one accepted program (`BPF_LOG_STATS`),
/// the numbers veristat compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VerifierStats {
    /// Instructions the verifier processed (`processed N insns`).
    pub insns: u64,
    pub total_states: u64,
    pub peak_states: u64,
    pub max_states_per_insn: u64,
    /// `verification time N usec`, where the kernel prints it.
    pub verification_usec: Option<u64>,
}

impl VerifierStats {
    /// Parse the statistics lines of a verifier log.
    pub fn parse(log: &str) -> Option<VerifierStats> {
        let mut s = VerifierStats::default();
        let mut found = false;
        for line in log.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| -> Option<u64> {
                let i = words.iter().position(|w| *w == key)?;
                words.get(i + 1)?.parse().ok()
            };
            if line.starts_with("processed ") {
                s.insns = after("processed")?;
                s.max_states_per_insn = after("max_states_per_insn").unwrap_or(0);
                s.total_states = after("total_states").unwrap_or(0);
                s.peak_states = after("peak_states").unwrap_or(0);
                found = true;
            } else if line.starts_with("verification time") {
                s.verification_usec = after("time");
            }
        }
        found.then_some(s)
    }
}

/// One program's verdict in [`check_file`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProgramVerdict {
    pub name: String,
    pub section: String,
    /// libbpf loads it with the object (`SEC("?...")` programs do not).
    pub autoload: bool,
    pub loaded: bool,
    /// The program type it was loaded (or last tried) as: `crib`,
    /// `syscall`, or libbpf's choice from the section (`default`).
    pub prog_type: String,
    /// Why the kernel refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<VerifierStats>,
}

/// Every program of one object file, each loaded alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectVerdict {
    pub path: String,
    pub programs: Vec<ProgramVerdict>,
}

impl ObjectVerdict {
    /// Every autoloaded program loaded (what the object as a whole needs).
    pub fn all_loaded(&self) -> bool {
        self.programs
            .iter()
            .filter(|p| p.autoload)
            .all(|p| p.loaded)
    }
}

/// Big enough for the failing verifier log of our largest program at
/// log level 1 on 6.1 (whose log is not rotating: a short buffer is ENOSPC).
const FAIL_LOG_BYTES: usize = 16 << 20;
const STATS_LOG_BYTES: usize = 64 << 10;

/// Load each program of the object file at `path` alone, as the harness
/// would (including the `SEC("?...")` ones, reported with `autoload:
/// false`). `Err` only when the file cannot be opened as a BPF object.
pub fn check_file(path: &Path) -> Result<ObjectVerdict, BpfError> {
    let label: &'static str = "object";
    let bytes = std::fs::read(path).map_err(|source| BpfError::Io {
        object: label,
        prog: path.display().to_string(),
        what: "read",
        source,
    })?;
    // libbpf's own name for an object file: its base name up to the first dot.
    let obj_name = path
        .file_name()
        .map(|f| {
            f.to_string_lossy()
                .split('.')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let source = path.display().to_string();
    let open = || -> BpfResult<OpenObject> {
        super::bpfobj::open_named(label, &obj_name, &source, &bytes)
    };
    let probe = open()?;
    let progs: Vec<(String, String, bool)> = probe
        .progs()
        .map(|p| {
            (
                p.name().to_string_lossy().into_owned(),
                p.section().to_string_lossy().into_owned(),
                p.autoload(),
            )
        })
        .collect();
    drop(probe);
    let mut out = Vec::new();
    for (name, section, autoload) in progs {
        let types: &[(Option<u32>, &str)] = if section == "crib" {
            &[
                (Some(BPF_PROG_TYPE_CRIB), "crib"),
                (Some(BPF_PROG_TYPE_SYSCALL), "syscall"),
            ]
        } else {
            &[(None, "default")]
        };
        let mut verdict = None;
        for &(ty, ty_name) in types {
            let v = check_one(&open, &name, ty, ty_name)?;
            let done = v.loaded;
            verdict = Some(v);
            if done {
                break;
            }
        }
        if let Some(mut v) = verdict {
            v.section = section;
            v.autoload = autoload;
            out.push(v);
        }
    }
    Ok(ObjectVerdict {
        path: path.display().to_string(),
        programs: out,
    })
}

fn check_one(
    open: &dyn Fn() -> BpfResult<OpenObject>,
    prog: &str,
    ty: Option<u32>,
    ty_name: &str,
) -> BpfResult<ProgramVerdict> {
    let mut verdict = ProgramVerdict {
        name: prog.to_string(),
        section: String::new(),
        autoload: true,
        loaded: false,
        prog_type: ty_name.to_string(),
        reason: None,
        stats: None,
    };
    // Pass 1: statistics only (BPF_LOG_STATS), into our buffer.
    let mut buf = vec![0u8; STATS_LOG_BYTES];
    let (ok, _) = load_one(open, prog, ty, Some((4, &mut buf)))?;
    if ok {
        verdict.loaded = true;
        verdict.stats = VerifierStats::parse(&log_text(&buf));
        return Ok(verdict);
    }
    // Pass 2: the verifier's messages (level 1) to say why.
    let mut buf = vec![0u8; FAIL_LOG_BYTES];
    let (_, libbpf_log) = load_one(open, prog, ty, Some((1, &mut buf)))?;
    let text = log_text(&buf);
    let mut lines = libbpf_log;
    if !text.trim().is_empty() {
        lines.push("-- BEGIN PROG LOAD LOG --".into());
        lines.extend(text.lines().map(str::to_string));
        lines.push("-- END PROG LOAD LOG --".into());
    }
    verdict.reason = Some(reason_from_log(&lines));
    Ok(verdict)
}

fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Load only `prog` of a fresh open, with a verifier log level and buffer.
fn load_one(
    open: &dyn Fn() -> BpfResult<OpenObject>,
    prog: &str,
    ty: Option<u32>,
    log: Option<(u32, &mut [u8])>,
) -> BpfResult<(bool, Vec<String>)> {
    let mut o = open()?;
    for mut p in o.progs_mut() {
        let this = p.name().to_string_lossy() == prog;
        p.set_autoload(this);
        if !this {
            continue;
        }
        if let Some(t) = ty {
            let raw = p.as_libbpf_object().as_ptr();
            // SAFETY: raw is a program of an opened, not yet loaded object.
            unsafe { libbpf_sys::bpf_program__set_type(raw, t) };
            p.set_flags(libbpf_sys::BPF_F_SLEEPABLE);
        }
        if let Some((level, ref buf)) = log {
            let raw = p.as_libbpf_object().as_ptr();
            // SAFETY: the buffer outlives the load below (it is borrowed for
            // this whole function); libbpf writes at most `len` bytes.
            unsafe {
                libbpf_sys::bpf_program__set_log_level(raw, level);
                libbpf_sys::bpf_program__set_log_buf(
                    raw,
                    buf.as_ptr() as *mut std::os::raw::c_char,
                    buf.len() as _,
                );
            }
        }
    }
    let (res, lines) = captured(|| o.load());
    Ok((res.is_ok(), lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn reason_is_the_verifier_line_with_its_instruction() {
        let log = lines(
            "libbpf: prog 'dump_vma': BPF program load failed: Permission denied
libbpf: prog 'dump_vma': -- BEGIN PROG LOAD LOG --
60: (b7) r3 = 512                     ; R3=512
61: (85) call bpf_d_path#147
R1 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_
processed 79 insns (limit 1000000) max_states_per_insn 0 total_states 6 peak_states 6 mark_read 0
-- END PROG LOAD LOG --
libbpf: prog 'dump_vma': failed to load: -EACCES
libbpf: failed to load object 'crib_iter'",
        );
        assert_eq!(
            reason_from_log(&log),
            "R1 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_ (at insn 61: call bpf_d_path#147)"
        );
    }

    #[test]
    fn reason_without_a_verifier_log_is_libbpfs_line() {
        let log = lines(
            "libbpf: prog 'x': failed to find kernel BTF type ID of 'bpf_iter__unix': -ESRCH
libbpf: prog 'x': failed to load: -ESRCH
libbpf: failed to load object 'o'",
        );
        assert_eq!(
            reason_from_log(&log),
            "libbpf: prog 'x': failed to find kernel BTF type ID of 'bpf_iter__unix': -ESRCH"
        );
        assert_eq!(reason_from_log(&[]), "no log from libbpf");
    }

    #[test]
    fn stats_are_parsed_from_the_stats_lines() {
        let s = VerifierStats::parse(
            "func#0 @0\nprocessed 1234 insns (limit 1000000) max_states_per_insn 3 total_states 90 peak_states 40 mark_read 7\nverification time 512 usec\nstack depth 64\n",
        );
        assert_eq!(
            s,
            Some(VerifierStats {
                insns: 1234,
                total_states: 90,
                peak_states: 40,
                max_states_per_insn: 3,
                verification_usec: Some(512),
            })
        );
        assert_eq!(VerifierStats::parse("nothing here"), None);
    }
}
