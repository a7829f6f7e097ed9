//! Loading the embedded BPF objects and running their programs: iterators
//! read through a seq file, ring-buffer programs run with BPF_PROG_RUN.
//! Shared by the `upstream` and `crib` engines.

use super::convert;
use super::core_btf;
use super::features::VMLINUX_BTF;
use super::wire::{self, WireError, WireRecord};
use crate::model::{FileRecord, MappingRecord};
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, OpenObject, Program, ProgramInput};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The BPF objects built by harness/build.rs (`None` = not built).
pub mod objects {
    include!(concat!(env!("OUT_DIR"), "/bpf_objects.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("BPF object {0} was not built into this crib (see the build warnings)")]
    NotBuilt(&'static str),
    #[error("{object}: {what}: {source}")]
    Libbpf {
        object: &'static str,
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("{object}: program {prog} not found in the object")]
    NoProgram { object: &'static str, prog: String },
    #[error("{object}: map {map} not found in the object")]
    NoMap { object: &'static str, map: String },
    #[error("{object}: {prog}: {what}: {source}")]
    Io {
        object: &'static str,
        prog: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{object}: {prog}: bad record stream: {source}")]
    Wire {
        object: &'static str,
        prog: String,
        #[source]
        source: wire::WireError,
    },
    #[error("{object}: {prog}: {what}")]
    Run {
        object: &'static str,
        prog: String,
        what: String,
    },
}

pub type BpfResult<T> = Result<T, BpfError>;

/// Open an embedded object; the caller adjusts programs, then [`load`].
///
/// CO-RE relocation searches the trimmed kernel BTF of [`core_btf`] (built
/// once per kernel and object, then cached) rather than the whole kernel
/// BTF; `CRIB_CORE_BTF=full` turns that off, for comparison.
pub fn open(name: &'static str, bytes: Option<&'static [u8]>) -> BpfResult<OpenObject> {
    let bytes = bytes.ok_or(BpfError::NotBuilt(name))?;
    open_named(name, name, name, bytes)
}

fn object_err(label: &'static str, obj_name: &str, what: String) -> BpfError {
    BpfError::Run {
        object: label,
        prog: obj_name.to_string(),
        what,
    }
}

/// [`open`] of any object's bytes (`label` and `source`, e.g. a file's
/// path, name it in errors, `obj_name` for libbpf): the trimmed CO-RE BTF
/// and the kernel type ids as the engines get them, so every loader of our
/// objects (the engines, the verifier checks, veristat, the matrix) loads
/// them the same way.
pub fn open_named(
    label: &'static str,
    obj_name: &str,
    source: &str,
    bytes: &[u8],
) -> BpfResult<OpenObject> {
    let lib = |what: &str| {
        let what = what.to_string();
        move |source| BpfError::Libbpf {
            object: label,
            what,
            source,
        }
    };
    let mut b = ObjectBuilder::default();
    b.name(obj_name).map_err(lib("open"))?;
    let trimmed = std::env::var_os("CRIB_CORE_BTF").is_none_or(|v| v != "full");
    let prep = core_btf::prepare(source, bytes, std::path::Path::new(VMLINUX_BTF), trimmed)
        .map_err(|e| object_err(label, source, e.to_string()))?;
    if let Some(c) = &prep.btf {
        b.btf_custom_path(c.path())
            .map_err(lib("set btf_custom_path"))?;
    }
    let mut open = b.open_memory(bytes).map_err(lib("open"))?;
    fill_ktypes(&mut open, &prep.ktypes).map_err(|what| object_err(label, source, what))?;
    Ok(open)
}

/// Write each `crib_ktype_NAME` .rodata variable (the kernel's type id of
/// struct NAME, for bpf_rdonly_cast) before the load freezes .rodata.
fn fill_ktypes(
    open: &mut OpenObject,
    ids: &std::collections::BTreeMap<String, u32>,
) -> Result<(), String> {
    use libbpf_rs::AsRawLibbpf;
    let obj = open.as_libbpf_object().as_ptr();
    let mut slots: Vec<(u32, u32)> = Vec::new();
    // SAFETY: obj is a valid opened object; libbpf owns the BTF and the
    // returned types for the object's lifetime; var_secinfos follow their
    // DATASEC type in memory (BTF layout), vlen of them.
    unsafe {
        let btf = libbpf_sys::bpf_object__btf(obj);
        if btf.is_null() {
            return Ok(());
        }
        let sec = libbpf_sys::btf__find_by_name_kind(
            btf,
            c".rodata".as_ptr(),
            libbpf_sys::BTF_KIND_DATASEC,
        );
        if sec <= 0 {
            return Ok(());
        }
        let t = libbpf_sys::btf__type_by_id(btf, sec as u32);
        let vlen = ((*t).info & 0xffff) as usize;
        let infos = t.add(1) as *const libbpf_sys::btf_var_secinfo;
        for i in 0..vlen {
            let si = *infos.add(i);
            let var = libbpf_sys::btf__type_by_id(btf, si.type_);
            if var.is_null() {
                continue;
            }
            let n = libbpf_sys::btf__name_by_offset(btf, (*var).name_off);
            if n.is_null() {
                continue;
            }
            let n = std::ffi::CStr::from_ptr(n).to_string_lossy();
            if let Some(st) = n.strip_prefix(core_btf::KTYPE_PREFIX) {
                let id = ids
                    .get(st)
                    .ok_or_else(|| format!("no kernel type id for struct {st} ({n})"))?;
                slots.push((si.offset, *id));
            }
        }
    }
    if slots.is_empty() {
        return Ok(());
    }
    let mut m = open
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
        .ok_or_else(|| "crib_ktype_* variables but no .rodata map".to_string())?;
    let data = m
        .initial_value_mut()
        .ok_or_else(|| ".rodata has no initial value".to_string())?;
    let len = data.len();
    for (off, id) in slots {
        let off = off as usize;
        let dst = data
            .get_mut(off..off + 4)
            .ok_or_else(|| format!(".rodata offset {off} beyond its {len} bytes"))?;
        dst.copy_from_slice(&id.to_le_bytes());
    }
    Ok(())
}

/// Size the `crib_rb` ring buffer of an opened object (a power of two, at
/// least a page; the kernel checks). Tests use a small ring to force
/// resumed batches.
pub fn size_ring(name: &'static str, open: &mut OpenObject, bytes: u32) -> BpfResult<()> {
    let mut m = open
        .maps_mut()
        .find(|m| m.name() == "crib_rb")
        .ok_or_else(|| BpfError::NoMap {
            object: name,
            map: "crib_rb".into(),
        })?;
    m.set_max_entries(bytes).map_err(|source| BpfError::Libbpf {
        object: name,
        what: format!("size crib_rb to {bytes} bytes"),
        source,
    })
}

/// Load an opened object, all or nothing; the error carries the
/// verifier's reason instead of libbpf printing its whole log to stderr.
/// Engines use [`super::progload::load_tolerant`] instead, so that one
/// rejected program costs only its own operation.
pub fn load(name: &'static str, open: OpenObject) -> BpfResult<Object> {
    super::progload::load_all(name, open)
}

pub fn prog<'o>(obj: &'o Object, object: &'static str, name: &str) -> BpfResult<Program<'o>> {
    obj.progs()
        .find(|p| p.name() == name)
        .ok_or_else(|| BpfError::NoProgram {
            object,
            prog: name.into(),
        })
}

/// The one-element global-data map whose name ends with `suffix` (`.bss`).
pub fn write_global(
    obj: &Object,
    object: &'static str,
    suffix: &str,
    value: &[u8],
) -> BpfResult<()> {
    let map = obj
        .maps()
        .find(|m| m.name().to_string_lossy().ends_with(suffix))
        .ok_or_else(|| BpfError::NoMap {
            object,
            map: suffix.into(),
        })?;
    let mut full = vec![0u8; map.value_size() as usize];
    let n = value.len().min(full.len());
    full[..n].copy_from_slice(&value[..n]);
    map.update(&0u32.to_ne_bytes(), &full, MapFlags::ANY)
        .map_err(|source| BpfError::Libbpf {
            object,
            what: format!("write {suffix}"),
            source,
        })
}

/// Run iterator program `p` once and decode its output. `task_pid` narrows a
/// task iterator to one process in the kernel (6.1+); where the kernel does
/// not take that filter the program's own tgid filter still applies.
pub fn run_iter(
    object: &'static str,
    p: &Program<'_>,
    task_pid: Option<u32>,
) -> BpfResult<Vec<WireRecord>> {
    let name = p.name().to_string_lossy().into_owned();
    let io = |what: &'static str| {
        let name = name.clone();
        move |source| BpfError::Io {
            object,
            prog: name,
            what,
            source,
        }
    };
    let link = match task_pid {
        Some(pid) => match link_create(p, Some(pid)) {
            Ok(l) => l,
            Err(_) => link_create(p, None).map_err(io("attach iterator"))?,
        },
        None => link_create(p, None).map_err(io("attach iterator"))?,
    };
    // SAFETY: plain syscall wrapper on a valid link fd.
    let fd = unsafe { libbpf_sys::bpf_iter_create(link.as_raw_fd()) };
    if fd < 0 {
        return Err(io("create iterator")(std::io::Error::from_raw_os_error(
            -fd,
        )));
    }
    // SAFETY: fd was just returned to us and is owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // Large reads: every read() that ends early makes the kernel stop and
    // resume the iterator, and resuming a socket-table walk by bucket
    // offset can skip sockets (seen with iter/unix when read_to_end's
    // small first reads split the walk). 64 KiB is more than the kernel's
    // own bpf_seq buffer (8 pages), so each read takes all it has.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut chunk).map_err(io("read iterator"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let recs = wire::decode_stream(&buf).map_err(|source| BpfError::Wire {
        object,
        prog: name.clone(),
        source,
    })?;
    known_only(object, &name, recs)
}

/// The programs are built with this decoder, so a record type it does not
/// know means a mismatched object: report it instead of dropping data.
fn known_only(
    object: &'static str,
    prog: &str,
    recs: Vec<WireRecord>,
) -> BpfResult<Vec<WireRecord>> {
    match recs.iter().find(|r| matches!(r, WireRecord::Unknown { .. })) {
        Some(WireRecord::Unknown { rtype, version, len }) => Err(BpfError::Run {
            object,
            prog: prog.into(),
            what: format!(
                "record type {rtype} (version {version}, {len} bytes) is unknown to this decoder: BPF object newer than the harness?"
            ),
        }),
        _ => Ok(recs),
    }
}

fn link_create(p: &Program<'_>, task_pid: Option<u32>) -> std::io::Result<OwnedFd> {
    let mut info = libbpf_sys::bpf_iter_link_info::default();
    let mut opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    if let Some(pid) = task_pid {
        info.task.pid = pid;
        opts.iter_info = &mut info;
        opts.iter_info_len = std::mem::size_of::<libbpf_sys::bpf_iter_link_info>() as u32;
    }
    // SAFETY: opts and info outlive the call; the prog fd is valid.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(p.as_fd().as_raw_fd(), 0, libbpf_sys::BPF_TRACE_ITER, &opts)
    };
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: a fresh fd owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What a ring-buffer program wrote: file and VMA records already as model
/// records (converted in the ring callback, their paths read in place from
/// the sample), everything else as wire records, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Records {
    pub wire: Vec<WireRecord>,
    pub files: Vec<FileRecord>,
    pub maps: Vec<MappingRecord>,
}

impl Records {
    /// Empty, with room for `[wire, files, maps]` records.
    pub fn with_capacity(n: [usize; 3]) -> Self {
        Records {
            wire: Vec::with_capacity(n[0]),
            files: Vec::with_capacity(n[1]),
            maps: Vec::with_capacity(n[2]),
        }
    }

    pub fn lens(&self) -> [usize; 3] {
        [self.wire.len(), self.files.len(), self.maps.len()]
    }

    pub fn len(&self) -> usize {
        self.lens().iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same split of already decoded records (tests, tools), of one
    /// program run (path slots resolve within it).
    pub fn from_wire(recs: impl IntoIterator<Item = WireRecord>) -> Result<Self, WireError> {
        let page_size = convert::page_size();
        let mut paths = convert::Paths::default();
        let mut out = Records::default();
        for r in recs {
            match r {
                WireRecord::File(f) => out.files.push(convert::file(f, &mut paths)?),
                WireRecord::Vma(v) => out.maps.push(convert::vma(v, page_size, &mut paths)?),
                r => out.wire.push(r),
            }
        }
        Ok(out)
    }

    /// `other`'s records after these.
    pub fn append(&mut self, mut other: Records) {
        if self.is_empty() {
            *self = other;
            return;
        }
        self.wire.append(&mut other.wire);
        self.files.append(&mut other.files);
        self.maps.append(&mut other.maps);
    }
}

/// The ring callback's sink: converts files and VMAs straight from the
/// sample (no owned wire record, no path vector per record), records of
/// the same file sharing one path string.
struct Collect {
    records: Records,
    page_size: u64,
    paths: convert::Paths,
}

impl Collect {
    /// Empty, with room for `[wire, files, maps]` records.
    fn with_capacity(page_size: u64, n: [usize; 3]) -> Self {
        Collect {
            records: Records::with_capacity(n),
            page_size,
            paths: convert::Paths::default(),
        }
    }
}

impl wire::Sink for Collect {
    fn file(&mut self, f: wire::File<&[u8]>) -> Result<(), WireError> {
        let r = convert::file(f, &mut self.paths)?;
        self.records.files.push(r);
        Ok(())
    }
    fn vma(&mut self, v: wire::Vma<&[u8]>) -> Result<(), WireError> {
        let r = convert::vma(v, self.page_size, &mut self.paths)?;
        self.records.maps.push(r);
        Ok(())
    }
    fn record(&mut self, r: WireRecord) {
        self.records.wire.push(r);
    }
}

/// Records decoded in the ring buffer callback (no copy of the sample),
/// or the first decoding error.
type Samples = std::rc::Rc<std::cell::RefCell<Result<Collect, WireError>>>;

/// A loaded object with a `crib_rb` ring buffer, kept open between runs
/// (load once, dump many times).
pub struct RbObject {
    pub obj: Object,
    name: &'static str,
    rb: libbpf_rs::RingBuffer<'static>,
    samples: Samples,
    /// Records of the largest batch so far: the next batch's vectors start
    /// that big (a dump of 10 000 mappings would otherwise grow them from
    /// empty by doubling, copying every record each time, on every dump).
    batch_hint: std::cell::Cell<[usize; 3]>,
    page_size: u64,
}

impl RbObject {
    pub fn new(name: &'static str, obj: Object) -> BpfResult<Self> {
        let page_size = convert::page_size();
        let samples: Samples = std::rc::Rc::new(std::cell::RefCell::new(Ok(
            Collect::with_capacity(page_size, [0; 3]),
        )));
        let sink = samples.clone();
        let lib = |what: &str| {
            let what = what.to_string();
            move |source| BpfError::Libbpf {
                object: name,
                what,
                source,
            }
        };
        let rb = {
            let rb_map =
                obj.maps()
                    .find(|m| m.name() == "crib_rb")
                    .ok_or_else(|| BpfError::NoMap {
                        object: name,
                        map: "crib_rb".into(),
                    })?;
            let mut builder = libbpf_rs::RingBufferBuilder::new();
            builder
                .add(&rb_map, move |data: &[u8]| {
                    let mut s = sink.borrow_mut();
                    if let Ok(c) = s.as_mut() {
                        if let Err(e) = wire::decode_sample_with(data, c) {
                            *s = Err(e);
                        }
                    }
                    0
                })
                .map_err(lib("ring buffer"))?;
            builder.build().map_err(lib("ring buffer"))?
        };
        Ok(RbObject {
            obj,
            name,
            rb,
            samples,
            batch_hint: std::cell::Cell::new([0; 3]),
            page_size,
        })
    }

    /// Run `prog_name` with `ctx` as BPF_PROG_RUN input; the records it
    /// wrote, ending with its END record (checked: complete, no drops).
    /// A program that stopped early because the ring filled up is an error
    /// here; [`RbObject::run_resumable`] continues it instead.
    pub fn run(&self, prog_name: &str, ctx: &mut [u8]) -> BpfResult<Records> {
        let batch = self.run_batch(prog_name, ctx)?;
        if batch.more {
            return Err(BpfError::Run {
                object: self.name,
                prog: prog_name.into(),
                what: "ring buffer full: the program stopped early".into(),
            });
        }
        Ok(batch.records)
    }

    /// Run a resumable program (one that ends with -EAGAIN when the ring
    /// is nearly full) until it completes: after each batch the ring is
    /// drained and `resume` gets the batch's records and writes the next
    /// start into `ctx` (`false`: no position to resume from). The records
    /// of all batches, END records included, in order.
    pub fn run_resumable(
        &self,
        prog_name: &str,
        ctx: &mut [u8],
        mut resume: impl FnMut(&Records, &mut [u8]) -> bool,
    ) -> BpfResult<Records> {
        let mut all = Records::default();
        loop {
            let batch = self.run_batch(prog_name, ctx)?;
            let progressed = batch.records.len() > 1;
            let more = batch.more;
            if more && !(progressed && resume(&batch.records, ctx)) {
                return Err(BpfError::Run {
                    object: self.name,
                    prog: prog_name.into(),
                    what: "ring buffer full and no progress: the ring holds no complete batch"
                        .into(),
                });
            }
            // Most dumps are one batch: append hands it on without a copy.
            all.append(batch.records);
            if !more {
                return Ok(all);
            }
        }
    }

    /// The whole memory map by a VMA program (`crib_dump_vmas`,
    /// `sys_dump_vmas`; `ctx` from [`args`], start 0), checked against the
    /// task's `mm->map_count` that the program's END carries. Since 7.x the
    /// open-coded VMA iterator steps over a VMA it cannot lock
    /// (kernel/bpf/task_iter.c): one write-locked by a writer of the mm
    /// (khugepaged collapsing a huge page, an mprotect) is missing from the
    /// walk without an error. Walk again after a growing pause
    /// ([`VmaRetry`]), and fail naming both counts if the walk is still
    /// short when the time is up.
    pub fn run_vmas(&self, prog_name: &str, ctx: &mut [u8]) -> BpfResult<Records> {
        let first = ctx.to_vec();
        let mut retry = VmaRetry::new();
        loop {
            ctx.copy_from_slice(&first);
            let recs = self.run_resumable(prog_name, ctx, resume_vmas)?;
            let Some((got, expected)) = vma_shortfall(&recs) else {
                return Ok(recs);
            };
            if !retry.wait() {
                return Err(BpfError::Run {
                    object: self.name,
                    prog: prog_name.into(),
                    what: format!(
                        "memory map incomplete: {} walks in {} ms each returned a VMA count \
                         different from the task's mm->map_count (last: {got} of {expected}): \
                         the iterator stepped over VMAs it could not lock, or the map kept \
                         changing",
                        retry.walks,
                        retry.started.elapsed().as_millis()
                    ),
                });
            }
        }
    }

    /// One BPF_PROG_RUN and the records it wrote; `more` when the program
    /// stopped early (END error -EAGAIN) and can be resumed.
    pub fn run_batch(&self, prog_name: &str, ctx: &mut [u8]) -> BpfResult<Batch> {
        let object = self.name;
        // test_run lives on ProgramMut in libbpf-rs 0.27.
        let p = self
            .obj
            .progs_mut()
            .find(|p| p.name() == prog_name)
            .ok_or_else(|| BpfError::NoProgram {
                object,
                prog: prog_name.into(),
            })?;
        let lib = |what: String| {
            move |source| BpfError::Libbpf {
                object,
                what,
                source,
            }
        };
        // Drop what an earlier, failed run may have left behind.
        let _ = self.rb.consume();
        *self.samples.borrow_mut() = Ok(Collect::with_capacity(
            self.page_size,
            self.batch_hint.get(),
        ));
        let input = ProgramInput {
            context_in: Some(ctx),
            ..Default::default()
        };
        let out = p
            .test_run(input)
            .map_err(lib(format!("BPF_PROG_RUN {prog_name}")))?;
        let ret = out.return_value as i32;
        self.rb
            .consume()
            .map_err(lib("ring buffer consume".into()))?;
        let mut recs = std::mem::replace(
            &mut *self.samples.borrow_mut(),
            Ok(Collect::with_capacity(self.page_size, [0; 3])),
        )
        .map_err(|source| BpfError::Wire {
            object,
            prog: prog_name.into(),
            source,
        })?
        .records;
        let (hint, lens) = (self.batch_hint.get(), recs.lens());
        self.batch_hint
            .set(std::array::from_fn(|i| hint[i].max(lens[i]).min(1 << 20)));
        recs.wire = known_only(object, prog_name, recs.wire)?;
        let run_err = |what: String| BpfError::Run {
            object,
            prog: prog_name.into(),
            what,
        };
        match recs.wire.last() {
            Some(WireRecord::End(e)) if e.dropped > 0 => Err(run_err(format!(
                "{} records lost (ring buffer full)",
                e.dropped
            ))),
            Some(WireRecord::End(e)) if e.error == -libc::EAGAIN => Ok(Batch {
                records: recs,
                more: true,
            }),
            Some(WireRecord::End(e)) if e.error != 0 => Err(run_err(format!(
                "program failed: {}",
                std::io::Error::from_raw_os_error(-e.error)
            ))),
            Some(WireRecord::End(_)) => Ok(Batch {
                records: recs,
                more: false,
            }),
            _ => Err(run_err(format!(
                "no END record: the dump is incomplete (return value {ret})"
            ))),
        }
    }
}

/// The records of one run of a resumable program.
#[derive(Debug)]
pub struct Batch {
    pub records: Records,
    /// The program stopped because the ring was nearly full.
    pub more: bool,
}

/// Set the resume address of `struct crib_args` (the `start` member,
/// bytes 8..16, shared with `queue` and `flags`) for the VMA programs.
pub fn set_start(ctx: &mut [u8], addr: u64) {
    if let Some(b) = ctx.get_mut(8..16) {
        b.copy_from_slice(&addr.to_le_bytes());
    }
}

/// Set the first fd of `struct crib_args` (the files program's resume point).
pub fn set_fd(ctx: &mut [u8], fd: i32) {
    if let Some(b) = ctx.get_mut(4..8) {
        b.copy_from_slice(&fd.to_le_bytes());
    }
}

/// When [`RbObject::run_vmas`] walks a short memory map again: after a
/// pause that doubles from 1 ms up to 64 ms, for 2 s in all. A VMA stays
/// unlockable for as long as a writer holds the mm's write lock, and three
/// walks right after one another all fell inside one such hold (CI on
/// patched-7.3: 52 of 53 each time), so the wait is counted in time.
#[derive(Debug)]
pub struct VmaRetry {
    started: Instant,
    pause: Duration,
    /// Walks made so far (the first one included).
    pub walks: u32,
}

impl VmaRetry {
    const FIRST_PAUSE: Duration = Duration::from_millis(1);
    const MAX_PAUSE: Duration = Duration::from_millis(64);
    const BUDGET: Duration = Duration::from_secs(2);

    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            pause: Self::FIRST_PAUSE,
            walks: 1,
        }
    }

    /// The pause before walk number `walks + 1`, or `None` when it would
    /// end past the budget.
    pub fn next_pause(&self, elapsed: Duration) -> Option<Duration> {
        (elapsed + self.pause <= Self::BUDGET).then_some(self.pause)
    }

    /// The pauses a walk that stays short gets when the walks themselves
    /// take no time: the schedule [`VmaRetry::wait`] follows.
    pub fn schedule() -> Vec<Duration> {
        let mut r = Self::new();
        let mut elapsed = Duration::ZERO;
        let mut out = Vec::new();
        while let Some(p) = r.next_pause(elapsed) {
            elapsed += p;
            out.push(p);
            r.grow();
        }
        out
    }

    fn grow(&mut self) {
        self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        self.walks += 1;
    }

    /// Sleep before the next walk; `false` when the budget is spent.
    pub fn wait(&mut self) -> bool {
        let Some(p) = self.next_pause(self.started.elapsed()) else {
            return false;
        };
        std::thread::sleep(p);
        self.grow();
        true
    }
}

impl Default for VmaRetry {
    fn default() -> Self {
        Self::new()
    }
}

/// `(VMAs returned, mm->map_count)` when a whole VMA walk's records do not
/// match the count its last END carries; `None` when they match or there is
/// nothing to check against (END v1, or a task without a memory map).
pub fn vma_shortfall(recs: &Records) -> Option<(usize, usize)> {
    let expected = match recs
        .wire
        .iter()
        .rev()
        .find(|r| matches!(r, WireRecord::End(_)))
    {
        Some(WireRecord::End(e)) if e.expected > 0 => e.expected as usize,
        _ => return None,
    };
    let got = recs.maps.len();
    (got != expected).then_some((got, expected))
}

/// Resume a VMA dump after the last mapping of `recs`.
pub fn resume_vmas(recs: &Records, ctx: &mut [u8]) -> bool {
    match recs.maps.last().map(|m| m.end) {
        Some(end) => {
            set_start(ctx, end);
            true
        }
        None => false,
    }
}

/// Resume a files dump after the last fd of `recs`.
pub fn resume_files(recs: &Records, ctx: &mut [u8]) -> bool {
    match recs.files.last().map(|f| f.fd) {
        Some(fd) if fd < i32::MAX => {
            set_fd(ctx, fd + 1);
            true
        }
        _ => false,
    }
}

/// `struct crib_args` as the programs read it.
pub fn args(pid: i32, fd: i32, queue: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..4].copy_from_slice(&pid.to_le_bytes());
    a[4..8].copy_from_slice(&fd.to_le_bytes());
    a[8..12].copy_from_slice(&queue.to_le_bytes());
    a
}
