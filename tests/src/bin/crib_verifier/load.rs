//! Loading one program as a given type (libbpf-rs, with the raw libbpf
//! calls libbpf-rs has no wrapper for: a program type number libbpf does
//! not know, and a caller-owned verifier log), and running it.

use crate::directives::ProgType;
use anyhow::{bail, Context, Result};
use libbpf_rs::AsRawLibbpf;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

const BPF_F_SLEEPABLE: u32 = 1 << 4;
const LOG_SIZE: usize = 16 << 20;

/// A loaded program (kept alive by its object).
pub struct Loaded {
    obj: libbpf_rs::Object,
}

impl Loaded {
    pub fn fd(&self) -> Result<i32> {
        let prog = self.obj.progs().next().context("object has no program")?;
        Ok(prog.as_fd().as_raw_fd())
    }
}

/// Outcome of a load: the program, or the verifier's refusal and its log.
pub enum LoadResult {
    Accepted(Loaded),
    Rejected { error: String, log: String },
}

pub fn load(obj_path: &Path, ty: ProgType, sleepable: bool) -> Result<LoadResult> {
    let mut log = vec![0u8; LOG_SIZE];
    let mut open = libbpf_rs::ObjectBuilder::default()
        .open_file(obj_path)
        .with_context(|| format!("opening {}", obj_path.display()))?;
    let mut count = 0;
    for prog in open.progs_mut() {
        count += 1;
        let raw = prog.as_libbpf_object().as_ptr();
        let flags = if sleepable { BPF_F_SLEEPABLE } else { 0 };
        // SAFETY: `raw` is a live program of `open`; `log` outlives the
        // load below (libbpf only writes into it during bpf_object__load).
        let rc = unsafe {
            let mut rc = libbpf_sys::bpf_program__set_type(raw, ty.number());
            if rc == 0 {
                rc = libbpf_sys::bpf_program__set_flags(raw, flags);
            }
            if rc == 0 {
                rc = libbpf_sys::bpf_program__set_log_buf(
                    raw,
                    log.as_mut_ptr().cast(),
                    log.len() as _,
                );
            }
            rc
        };
        if rc != 0 {
            bail!(
                "{}: configuring the program failed ({rc})",
                obj_path.display()
            );
        }
    }
    if count != 1 {
        bail!(
            "{}: expected one program, found {count}",
            obj_path.display()
        );
    }
    match open.load() {
        Ok(obj) => Ok(LoadResult::Accepted(Loaded { obj })),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Ok(LoadResult::Rejected {
                error: e.to_string(),
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// Raw BPF_PROG_RUN attributes the tests vary.
#[derive(Default)]
pub struct RunAttrs<'a> {
    pub ctx_in: Option<&'a [u8]>,
    pub data_in: Option<&'a [u8]>,
    pub ctx_out: Option<&'a mut [u8]>,
    pub repeat: i32,
}

/// BPF_PROG_RUN with exactly the given attributes: the return value, or
/// the errno of a refused run.
pub fn test_run(prog_fd: i32, attrs: RunAttrs<'_>) -> std::result::Result<i32, i32> {
    // SAFETY: an all-zero bpf_test_run_opts is valid; sz is set as libbpf wants.
    let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
    if let Some(c) = attrs.ctx_in {
        opts.ctx_in = c.as_ptr().cast();
        opts.ctx_size_in = c.len() as u32;
    }
    if let Some(d) = attrs.data_in {
        opts.data_in = d.as_ptr().cast();
        opts.data_size_in = d.len() as u32;
    }
    if let Some(c) = attrs.ctx_out {
        opts.ctx_out = c.as_mut_ptr().cast();
        opts.ctx_size_out = c.len() as u32;
    }
    opts.repeat = attrs.repeat;
    // SAFETY: buffers referenced by opts live until the call returns.
    let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog_fd, &mut opts) };
    if rc != 0 {
        return Err(-rc);
    }
    Ok(opts.retval as i32)
}
