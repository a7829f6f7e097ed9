//! The `upstream` engine: what stock kernels already have. BPF iterators
//! (`bpf/crib_iter.bpf.c`: task, task_file, task_vma, tcp, udp, unix) and,
//! where the kernel has `bpf_task_from_vpid` + `bpf_iter_task_vma_*`, a
//! `SEC("syscall")` program run with BPF_PROG_RUN (`bpf/crib_sys.bpf.c`) as a
//! second way to read the memory map.
//!
//! Loaded once by [`UpstreamEngine::open`], then reused for every dump.
//! Socket queues are out of its reach (no skb iterator upstream): it says so
//! with `Captured::Unavailable`, never with an empty queue.

use super::bpfobj::{self, objects, BpfError, RbObject};
use super::progload;
use super::wire::WireRecord;
use super::{
    convert, DumpEngine, EngineError, EngineKind, EngineResult, FilesDump, KernelFeatures,
};
use crate::model::{
    Captured, FileKind, FileRecord, MappingRecord, Operation, PipeRecord, SocketRecord, TaskRecord,
};
use libbpf_rs::{MapCore, MapFlags, Object};

const ITER: &str = "crib_iter";
const SYS: &str = "crib_sys";
/// `sys` before its first use.
const SYS_NOT_YET: &str = "not loaded yet";

/// Why this engine leaves queues alone (shown in dumps and reports).
pub const QUEUES_UNSUPPORTED: &str = "upstream BPF has no socket-queue or pipe-buffer reader: \
     queued data (including a corked UDP write queue) is not visible to it";

pub struct UpstreamEngine {
    iter: Object,
    /// Programs not loaded, and why: the iterator target is absent from
    /// this kernel's BTF, or its verifier refused the program.
    missing: Vec<(String, String)>,
    /// The SEC("syscall") programs, or why they are not there.
    sys: Result<RbObject, String>,
    /// The kernel filters task iterators by pid (6.1+).
    link_filter: bool,
    page_size: u64,
}

fn wire_error(prog: &str, source: super::wire::WireError) -> BpfError {
    BpfError::Wire {
        object: ITER,
        prog: prog.into(),
        source,
    }
}

fn err(op: Operation, e: BpfError) -> EngineError {
    EngineError::unsupported(EngineKind::Upstream, op, e.to_string())
}

impl UpstreamEngine {
    /// Load every iterator program (and the syscall object where supported).
    pub fn open() -> EngineResult<Self> {
        Self::open_with(&KernelFeatures::detect())
    }

    pub fn open_with(f: &KernelFeatures) -> EngineResult<Self> {
        let mut e = Self::open_for(f, &Operation::ALL, true)?;
        e.ensure_sys();
        Ok(e)
    }

    /// Load only the programs `ops` need (a dump of files alone does not
    /// pay for verifying the memory-map program); `socket_tables` adds the
    /// tcp/udp/unix iterators (the second way to find sockets, for
    /// comparisons). The SEC("syscall") object loads on first use.
    pub fn open_for(
        f: &KernelFeatures,
        ops: &[Operation],
        socket_tables: bool,
    ) -> EngineResult<Self> {
        if !f.iter_task_file {
            return Err(EngineError::unsupported(
                EngineKind::Upstream,
                Operation::Files,
                "this kernel has no task_file BPF iterator (bpf_iter__task_file not in its BTF)",
            ));
        }
        // Programs whose iterator target this kernel lacks (iter/unix is
        // 5.17+, for one) are not loaded: they report Unsupported.
        let mut missing: Vec<(String, String)> = PROG_TARGETS
            .iter()
            .filter(|(_, t)| !f.has_iter(t))
            .map(|(p, t)| {
                (
                    p.to_string(),
                    format!("this kernel has no {t} (BPF iterator target of {p})"),
                )
            })
            .collect();
        let wanted = |name: &str| {
            name == "dump_task"
                || ops.iter().any(|&op| prog_for(op) == Some(name))
                || (socket_tables && matches!(name, "dump_tcp" | "dump_udp" | "dump_unix"))
        };
        let open = || -> Result<libbpf_rs::OpenObject, BpfError> {
            let mut open = bpfobj::open(ITER, objects::CRIB_ITER)?;
            for mut p in open.progs_mut() {
                let name = p.name().to_string_lossy().into_owned();
                if missing.iter().any(|(m, _)| *m == name) || !wanted(&name) {
                    p.set_autoload(false);
                }
            }
            Ok(open)
        };
        // Program by program: one the verifier refuses costs only its own
        // operation.
        let t = progload::load_tolerant(ITER, &open).map_err(|e| err(Operation::Task, e))?;
        missing.extend(t.rejected.into_iter().map(|r| {
            let why = r.message();
            (r.prog, why)
        }));
        for (p, _) in PROG_TARGETS {
            if !wanted(p) && !missing.iter().any(|(m, _)| m == p) {
                missing.push((
                    p.to_string(),
                    format!("program {p} was not loaded for this dump"),
                ));
            }
        }
        let iter = t.obj;
        // The iterators do the dump; the syscall path is a second reader,
        // loaded when first asked for, and its absence must not take them down.
        let sys = if f.task_from_vpid && f.task_vma_iter_kfunc {
            Err(SYS_NOT_YET.into())
        } else {
            Err("this kernel lacks bpf_task_from_vpid or bpf_iter_task_vma_new".into())
        };
        let mut eng = UpstreamEngine {
            iter,
            missing,
            sys,
            link_filter: false,
            page_size: convert::page_size(),
        };
        eng.link_filter = eng.probe_link_filter();
        Ok(eng)
    }

    fn load_sys(ring: Option<u32>) -> Result<RbObject, BpfError> {
        let open = || -> Result<libbpf_rs::OpenObject, BpfError> {
            let mut open = bpfobj::open(SYS, objects::CRIB_SYS)?;
            if let Some(bytes) = ring {
                bpfobj::size_ring(SYS, &mut open, bytes)?;
            }
            Ok(open)
        };
        // Both programs or neither: the VMA reader is the reason to have it.
        let obj = bpfobj::load(SYS, open()?)?;
        RbObject::new(SYS, obj)
    }

    /// Reload the SEC("syscall") half with a `bytes` ring buffer (tests:
    /// a small ring makes the VMA dump run in resumed batches).
    pub fn with_sys_ring(mut self, bytes: u32) -> EngineResult<Self> {
        self.sys = Ok(Self::load_sys(Some(bytes)).map_err(|e| err(Operation::MemoryMap, e))?);
        Ok(self)
    }

    /// Whether the kernel takes a per-process task iterator link.
    fn probe_link_filter(&self) -> bool {
        let Ok(p) = bpfobj::prog(&self.iter, ITER, "dump_task") else {
            return false;
        };
        let me = std::process::id();
        if self.set_config(0, false).is_err() {
            return false;
        }
        matches!(
            bpfobj::run_iter(ITER, &p, Some(me)),
            Ok(recs) if recs.iter().all(|r| matches!(r, WireRecord::Task(t) if t.tgid == me))
                && !recs.is_empty()
        )
    }

    /// Load the SEC("syscall") object if it was not tried yet.
    fn ensure_sys(&mut self) {
        if matches!(&self.sys, Err(e) if e == SYS_NOT_YET) {
            self.sys = Self::load_sys(None).map_err(|e| e.to_string());
        }
    }

    /// Whether the SEC("syscall") path is loaded (for comparisons and benches).
    pub fn has_syscall_path(&mut self) -> bool {
        self.ensure_sys();
        self.sys.is_ok()
    }

    /// `struct { u32 target_tgid; u32 filter_socks; }` in .bss.
    fn set_config(&self, tgid: u32, filter_socks: bool) -> Result<(), BpfError> {
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&tgid.to_ne_bytes());
        v[4..].copy_from_slice(&u32::from(filter_socks).to_ne_bytes());
        bpfobj::write_global(&self.iter, ITER, ".bss", &v)
    }

    fn iterate(
        &self,
        op: Operation,
        prog: &str,
        pid: i32,
        task_iter: bool,
    ) -> EngineResult<Vec<WireRecord>> {
        let pid_u = u32::try_from(pid).map_err(|_| {
            EngineError::unsupported(EngineKind::Upstream, op, format!("bad pid {pid}"))
        })?;
        // Without the kernel's link filter the program filters by tgid
        // (right when the dumper is in the initial pid namespace).
        let tgid = if task_iter && !self.link_filter {
            pid_u
        } else {
            0
        };
        if let Some((_, why)) = self.missing.iter().find(|(p, _)| p == prog) {
            return Err(EngineError::unsupported(
                EngineKind::Upstream,
                op,
                why.clone(),
            ));
        }
        self.set_config(tgid, !task_iter).map_err(|e| err(op, e))?;
        let p = bpfobj::prog(&self.iter, ITER, prog).map_err(|e| err(op, e))?;
        let filter = (task_iter && self.link_filter).then_some(pid_u);
        bpfobj::run_iter(ITER, &p, filter).map_err(|e| err(op, e))
    }

    /// The memory map read by the SEC("syscall") program (bpf_task_from_vpid +
    /// bpf_iter_task_vma_*, paths by name walk) instead of iter/task_vma.
    pub fn memory_map_syscall(&mut self, pid: i32) -> EngineResult<Vec<MappingRecord>> {
        self.ensure_sys();
        let sys = self.sys.as_ref().map_err(|why| {
            EngineError::unsupported(EngineKind::Upstream, Operation::MemoryMap, why.clone())
        })?;
        let mut ctx = bpfobj::args(pid, -1, 0);
        let recs = sys
            .run_vmas("sys_dump_vmas", &mut ctx)
            .map_err(|e| err(Operation::MemoryMap, e))?;
        Ok(recs.maps)
    }

    /// Task identity by the SEC("syscall") program.
    pub fn task_syscall(&mut self, pid: i32) -> EngineResult<TaskRecord> {
        self.ensure_sys();
        let sys = self.sys.as_ref().map_err(|why| {
            EngineError::unsupported(EngineKind::Upstream, Operation::Task, why.clone())
        })?;
        let mut ctx = bpfobj::args(pid, -1, 0);
        let recs = sys
            .run("sys_dump_task", &mut ctx)
            .map_err(|e| err(Operation::Task, e))?;
        recs.wire
            .iter()
            .find_map(|r| match r {
                WireRecord::Task(t) => Some(convert::task(t)),
                _ => None,
            })
            .ok_or_else(|| no_such(Operation::Task, pid))
    }

    /// The same sockets as [`DumpEngine::sockets`], found from the other
    /// side: iter/tcp, iter/udp and iter/unix walk the socket tables and keep
    /// the inodes of the task's socket fds. They see only the dumper's network
    /// namespace (another one is `Unsupported`, not an empty list).
    pub fn sockets_via_socket_iters(
        &mut self,
        pid: i32,
        files: &[FileRecord],
    ) -> EngineResult<Vec<SocketRecord>> {
        let inos: Vec<u64> = files
            .iter()
            .filter(|f| f.kind == FileKind::Socket)
            .map(|f| f.ino)
            .collect();
        if inos.is_empty() {
            return Ok(Vec::new());
        }
        let task = self.task(pid)?;
        let own_net = std::fs::metadata("/proc/self/ns/net")
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(0);
        if task.namespaces.net != own_net {
            return Err(EngineError::unsupported(
                EngineKind::Upstream,
                Operation::Sockets,
                format!(
                    "pid {pid} is in another network namespace (net:[{}]); the socket iterators see only the dumper's",
                    task.namespaces.net
                ),
            ));
        }
        self.fill_sock_filter(&inos)?;
        let mut out = Vec::new();
        for prog in ["dump_tcp", "dump_udp", "dump_unix"] {
            for r in self.iterate(Operation::Sockets, prog, pid, false)? {
                match r {
                    WireRecord::Inet(s) => out.push(convert::inet(&s)),
                    WireRecord::Unix(u) => out.push(convert::unix(&u)),
                    _ => {}
                }
            }
        }
        Ok(keep_listed(out, files))
    }

    fn fill_sock_filter(&self, inos: &[u64]) -> EngineResult<()> {
        let map = self
            .iter
            .maps()
            .find(|m| m.name() == "sock_inos")
            .ok_or_else(|| {
                err(
                    Operation::Sockets,
                    BpfError::NoMap {
                        object: ITER,
                        map: "sock_inos".into(),
                    },
                )
            })?;
        let old: Vec<Vec<u8>> = map.keys().collect();
        for k in old {
            let _ = map.delete(&k);
        }
        for ino in inos {
            map.update(&ino.to_ne_bytes(), &[1u8], MapFlags::ANY)
                .map_err(|source| {
                    err(
                        Operation::Sockets,
                        BpfError::Libbpf {
                            object: ITER,
                            what: "fill sock_inos".into(),
                            source,
                        },
                    )
                })?;
        }
        Ok(())
    }
}

/// Iterator programs and the BTF context type their target needs.
pub const PROG_TARGETS: &[(&str, &str)] = &[
    ("dump_task", "bpf_iter__task"),
    ("dump_file", "bpf_iter__task_file"),
    ("dump_file_socks", "bpf_iter__task_file"),
    ("dump_vma", "bpf_iter__task_vma"),
    ("dump_tcp", "bpf_iter__tcp"),
    ("dump_udp", "bpf_iter__udp"),
    ("dump_unix", "bpf_iter__unix"),
];

/// One record per socket inode among `files` (several fds may share one).
/// A hash set of the socket inodes: linear in sockets + fds (a scan of the
/// fds per socket was ~21% of the upstream dump's samples at 10k fds).
fn keep_listed(mut socks: Vec<SocketRecord>, files: &[FileRecord]) -> Vec<SocketRecord> {
    let listed: std::collections::HashSet<u64> = files
        .iter()
        .filter(|f| f.kind == FileKind::Socket)
        .map(|f| f.ino)
        .collect();
    socks.retain(|s| listed.contains(&s.ino));
    socks.sort_by_key(|s| s.ino);
    socks.dedup_by_key(|s| s.ino);
    socks
}

fn no_such(op: Operation, pid: i32) -> EngineError {
    EngineError::Io {
        engine: EngineKind::Upstream,
        pid,
        what: format!("{}: no such process", op.name()),
        source: std::io::Error::from_raw_os_error(libc::ESRCH),
    }
}

/// The iterator program behind each operation.
fn prog_for(op: Operation) -> Option<&'static str> {
    match op {
        Operation::Task => Some("dump_task"),
        Operation::Files => Some("dump_file"),
        Operation::MemoryMap => Some("dump_vma"),
        Operation::Sockets => Some("dump_file_socks"),
        Operation::Queues => None,
    }
}

impl DumpEngine for UpstreamEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Upstream
    }

    fn check(&self, op: Operation) -> Result<(), String> {
        let Some(prog) = prog_for(op) else {
            return Err(QUEUES_UNSUPPORTED.into());
        };
        match self.missing.iter().find(|(p, _)| p == prog) {
            Some((_, why)) => Err(why.clone()),
            None => Ok(()),
        }
    }

    fn task(&mut self, pid: i32) -> EngineResult<TaskRecord> {
        let recs = self.iterate(Operation::Task, "dump_task", pid, true)?;
        recs.iter()
            .find_map(|r| match r {
                WireRecord::Task(t) if t.tgid as i32 == pid || self.link_filter => {
                    Some(convert::task(t))
                }
                _ => None,
            })
            .ok_or_else(|| no_such(Operation::Task, pid))
    }

    fn files(&mut self, pid: i32) -> EngineResult<FilesDump> {
        let recs = self.iterate(Operation::Files, "dump_file", pid, true)?;
        let mut paths = convert::Paths::default();
        let files: Vec<FileRecord> = recs
            .into_iter()
            .filter_map(|r| match r {
                WireRecord::File(f) => Some(convert::file(f, &mut paths)),
                _ => None,
            })
            .collect::<Result<_, _>>()
            .map_err(|source| err(Operation::Files, wire_error("dump_file", source)))?;
        if files.is_empty() {
            // Every live process has fds or at least exists: check which.
            self.task(pid)?;
        }
        let mut pipes: Vec<PipeRecord> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in files.iter().filter(|f| f.kind == FileKind::Pipe) {
            if seen.insert(f.ino) {
                pipes.push(PipeRecord {
                    ino: f.ino,
                    data: Captured::unavailable(QUEUES_UNSUPPORTED),
                });
            }
        }
        let contents = super::unlinked::read_all(EngineKind::Upstream, pid, &files)?;
        Ok(FilesDump {
            files,
            contents,
            pipes,
        })
    }

    fn memory_map(&mut self, pid: i32) -> EngineResult<Vec<MappingRecord>> {
        let recs = self.iterate(Operation::MemoryMap, "dump_vma", pid, true)?;
        let mut paths = convert::Paths::default();
        let maps: Vec<MappingRecord> = recs
            .into_iter()
            .filter_map(|r| match r {
                WireRecord::Vma(v) => Some(convert::vma(v, self.page_size, &mut paths)),
                _ => None,
            })
            .collect::<Result<_, _>>()
            .map_err(|source| err(Operation::MemoryMap, wire_error("dump_vma", source)))?;
        if maps.is_empty() {
            self.task(pid)?;
        }
        Ok(maps)
    }

    fn sockets(&mut self, pid: i32, files: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
        if !files.iter().any(|f| f.kind == FileKind::Socket) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for r in self.iterate(Operation::Sockets, "dump_file_socks", pid, true)? {
            match r {
                WireRecord::Inet(s) => out.push(convert::inet(&s)),
                WireRecord::Unix(u) => out.push(convert::unix(&u)),
                _ => {}
            }
        }
        Ok(keep_listed(out, files))
    }

    fn queues(
        &mut self,
        _pid: i32,
        _files: &[FileRecord],
        sockets: &mut [SocketRecord],
        pipes: &mut [PipeRecord],
    ) -> EngineResult<()> {
        for s in sockets {
            s.recv_queue = Captured::unavailable(QUEUES_UNSUPPORTED);
            s.write_queue = Captured::unavailable(QUEUES_UNSUPPORTED);
        }
        for p in pipes {
            p.data = Captured::unavailable(QUEUES_UNSUPPORTED);
        }
        Ok(())
    }
}
