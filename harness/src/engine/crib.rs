//! The `crib` engine: `SEC("crib")` programs (`bpf/crib_dump.bpf.c`) using the
//! CRIB kfuncs, run with BPF_PROG_RUN, results through a ring buffer. Needs
//! the patched kernel; elsewhere [`CribEngine::open`] fails with
//! "crib kfuncs not present in this kernel".
//!
//! The programs are loaded as BPF_PROG_TYPE_CRIB (libbpf does not know the
//! section, so the type is set by number) and, if the kernel refuses that, as
//! BPF_PROG_TYPE_SYSCALL, for which the CRIB kfuncs are registered too.
//! [`CribRestorer`] is the restore side (UDP receive queue).

use super::bpfobj::{self, objects, BpfError, RbObject};
use super::progload::{self, Rejected};
use super::wire::{self, WireRecord};
use super::{
    convert, DumpEngine, EngineError, EngineKind, EngineResult, FilesDump, KernelFeatures,
};
use crate::model::{
    Captured, FileKind, FileRecord, MappingRecord, Operation, PipeRecord, Segment, SockAddr,
    SocketRecord, TaskRecord,
};
use libbpf_rs::{MapCore, MapFlags};

mod queues;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const DUMP: &str = "crib_dump";
const RESTORE: &str = "crib_restore";

pub use super::progload::{BPF_PROG_TYPE_CRIB, BPF_PROG_TYPE_SYSCALL};

/// The message for kernels without the CRIB kfuncs.
pub const NO_KFUNCS: &str = "crib kfuncs not present in this kernel";

const PIPES_UNSUPPORTED: &str =
    "this kernel lacks bpf_crib_pipe_read (series patch 0009): no CRIB kfunc reads pipe buffers";
const TCP_IN_FLIGHT: &str = "sent-but-unacknowledged TCP data sits in the retransmit queue, \
     which the CRIB skb iterator does not walk";

/// The program type the objects were loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedAs {
    Crib,
    Syscall,
}

fn err(op: Operation, e: impl std::fmt::Display) -> EngineError {
    EngineError::unsupported(EngineKind::Crib, op, e.to_string())
}

/// The program of `crib_dump` behind each operation (sockets come from
/// the files pass).
fn prog_for(op: Operation) -> &'static str {
    match op {
        Operation::Task => "crib_dump_task",
        Operation::Files | Operation::Sockets => "crib_dump_files",
        Operation::MemoryMap => "crib_dump_vmas",
        Operation::Queues => "crib_dump_queues",
    }
}

/// Every program of `crib_dump` (`crib_dump_queue` reads one socket queue:
/// the CRIU plugin's way, see [`CribEngine::open_socket_reader`]).
const DUMP_PROGRAMS: [&str; 5] = [
    "crib_dump_task",
    "crib_dump_files",
    "crib_dump_vmas",
    "crib_dump_queues",
    "crib_dump_queue",
];

/// Which CRIB kfuncs the running kernel lacks (empty = all there).
pub fn missing_kfuncs(f: &KernelFeatures) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (have, name) in [
        (f.task_from_vpid, "bpf_task_from_vpid"),
        (f.crib_file_from_fd, "bpf_crib_file_from_fd"),
        (f.crib_file_iter, "bpf_iter_crib_file_new"),
        (f.crib_sock_from_file, "bpf_crib_sock_from_file"),
        (f.crib_skb_iter, "bpf_iter_crib_skb_new"),
        (f.task_vma_iter_kfunc, "bpf_iter_task_vma_new"),
    ] {
        if !have {
            v.push(name);
        }
    }
    v
}

/// Open + load `name` with every program set to `prog_type`, sleepable.
pub fn load_as(
    name: &'static str,
    bytes: Option<&'static [u8]>,
    prog_type: u32,
) -> Result<RbObject, BpfError> {
    load_with_ring(name, bytes, prog_type, None).map(|(o, _)| o)
}

/// [`load_as`] with the `crib_rb` ring sized to `ring` bytes (default: the
/// object's 4 MiB), program by program: the programs the kernel refuses
/// are left out and returned with the verifier's reason.
pub fn load_with_ring(
    name: &'static str,
    bytes: Option<&'static [u8]>,
    prog_type: u32,
    ring: Option<u32>,
) -> Result<(RbObject, Vec<Rejected>), BpfError> {
    load_some(name, bytes, prog_type, ring, &[])
}

fn load_some(
    name: &'static str,
    bytes: Option<&'static [u8]>,
    prog_type: u32,
    ring: Option<u32>,
    need: &[&str],
) -> Result<(RbObject, Vec<Rejected>), BpfError> {
    // crib_frame_buf is indexed by CPU (see crib_dump.bpf.c).
    // SAFETY: plain query of /sys/devices/system/cpu/possible.
    let cpus = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    let open = || -> Result<libbpf_rs::OpenObject, BpfError> {
        let mut open = bpfobj::open(name, bytes)?;
        if let Some(b) = ring {
            bpfobj::size_ring(name, &mut open, b)?;
        }
        progload::set_crib_type(name, &mut open, prog_type, true)?;
        if !need.is_empty() {
            for mut p in open.progs_mut() {
                if !need.contains(&&*p.name().to_string_lossy()) {
                    p.set_autoload(false);
                }
            }
        }
        if cpus > 0 {
            for mut m in open.maps_mut() {
                if m.name() == "crib_frame_buf" {
                    m.set_max_entries(cpus as u32)
                        .map_err(|source| BpfError::Libbpf {
                            object: name,
                            what: "size crib_frame_buf".into(),
                            source,
                        })?;
                }
            }
        }
        Ok(open)
    };
    let t = progload::load_tolerant(name, &open)?;
    Ok((RbObject::new(name, t.obj)?, t.rejected))
}

type LoadedObject = (RbObject, LoadedAs, Vec<Rejected>);

/// Load as BPF_PROG_TYPE_CRIB, else as BPF_PROG_TYPE_SYSCALL; only the
/// programs named in `need` (all when empty).
fn load_crib_object(
    name: &'static str,
    bytes: Option<&'static [u8]>,
    ring: Option<u32>,
    need: &[&str],
) -> Result<LoadedObject, String> {
    match load_some(name, bytes, BPF_PROG_TYPE_CRIB, ring, need) {
        Ok((o, r)) => Ok((o, LoadedAs::Crib, r)),
        Err(crib_err) => match load_some(name, bytes, BPF_PROG_TYPE_SYSCALL, ring, need) {
            Ok((o, r)) => Ok((o, LoadedAs::Syscall, r)),
            Err(sys_err) => Err(format!(
                "as BPF_PROG_TYPE_CRIB: {crib_err}; as BPF_PROG_TYPE_SYSCALL: {sys_err}"
            )),
        },
    }
}

fn require_kfuncs(op: Operation, f: &KernelFeatures) -> EngineResult<()> {
    let missing = missing_kfuncs(f);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(EngineError::unsupported(
            EngineKind::Crib,
            op,
            format!("{NO_KFUNCS} (missing from its BTF: {})", missing.join(", ")),
        ))
    }
}

pub struct CribEngine {
    dump: RbObject,
    loaded_as: LoadedAs,
    /// Programs this kernel's verifier refused (their operations are
    /// unsupported, the others run).
    rejected: Vec<Rejected>,
    /// Sockets read by the last `files` pass (same program), by pid.
    sockets_of: Option<(i32, Vec<SocketRecord>)>,
    /// Dump generation of `crib_dump_queues` (its in-kernel "seen" map).
    generation: u32,
    /// The kernel has `bpf_crib_pipe_read` (else pipes stay unread).
    pipe_read: bool,
}

impl CribEngine {
    pub fn open() -> EngineResult<Self> {
        Self::open_with_ring(None)
    }

    /// [`CribEngine::open`] with a `ring`-byte ring buffer (tests: a small
    /// ring makes the files and VMA dumps run in resumed batches).
    pub fn open_with_ring(ring: Option<u32>) -> EngineResult<Self> {
        Self::open_for(&Operation::ALL, ring)
    }

    /// Load only the programs `ops` need (the task program always).
    pub fn open_for(ops: &[Operation], ring: Option<u32>) -> EngineResult<Self> {
        Self::open_for_kernel(ops, ring, &KernelFeatures::detect())
    }

    /// [`CribEngine::open_for`] with the running kernel's features already
    /// read (an `auto` dump read them to plan; reading is a pass over BTF).
    pub fn open_for_kernel(
        ops: &[Operation],
        ring: Option<u32>,
        features: &KernelFeatures,
    ) -> EngineResult<Self> {
        let need: Vec<&str> = std::iter::once("crib_dump_task")
            .chain(ops.iter().map(|&op| prog_for(op)))
            .collect();
        Self::open_programs(&need, ring, features)
    }

    /// Only what [`CribEngine::socket_queue`] needs (one socket queue per
    /// run, on a descriptor of any process): the CRIU plugin's engine.
    pub fn open_socket_reader() -> EngineResult<Self> {
        Self::open_programs(&["crib_dump_queue"], None, &KernelFeatures::detect())
    }

    fn open_programs(
        need: &[&str],
        ring: Option<u32>,
        features: &KernelFeatures,
    ) -> EngineResult<Self> {
        require_kfuncs(Operation::Task, features)?;
        let (dump, loaded_as, mut rejected) =
            load_crib_object(DUMP, objects::CRIB_DUMP, ring, need)
                .map_err(|e| err(Operation::Task, e))?;
        for p in DUMP_PROGRAMS {
            if !need.contains(&p) {
                rejected.push(Rejected {
                    prog: p.into(),
                    reason: "not loaded for this dump".into(),
                });
            }
        }
        Ok(CribEngine {
            dump,
            loaded_as,
            rejected,
            sockets_of: None,
            generation: 0,
            pipe_read: features.crib_pipe_read,
        })
    }

    pub fn loaded_as(&self) -> LoadedAs {
        self.loaded_as
    }

    fn run(
        &self,
        op: Operation,
        prog: &str,
        pid: i32,
        fd: i32,
        queue: u32,
    ) -> EngineResult<bpfobj::Records> {
        if let Some(why) = progload::refusal(&self.rejected, prog) {
            return Err(err(op, why));
        }
        let mut ctx = bpfobj::args(pid, fd, queue);
        let res = match prog {
            "crib_dump_files" => self
                .dump
                .run_resumable(prog, &mut ctx, bpfobj::resume_files),
            "crib_dump_vmas" => self.dump.run_vmas(prog, &mut ctx),
            _ => self.dump.run(prog, &mut ctx),
        };
        res.map_err(|e| run_error(op, pid, e))
    }

    /// The receive (`receive = true`) or write queue of socket `fd` of
    /// process `pid` (pid in the caller's pid namespace): one segment per
    /// frame, datagrams with their addresses. The CRIU plugin reads the
    /// sockets CRIU holds this way (`pid` = CRIU itself).
    pub fn socket_queue(
        &self,
        pid: i32,
        fd: i32,
        receive: bool,
        stream: bool,
    ) -> EngineResult<Vec<Segment>> {
        let q = if receive {
            wire::QUEUE_RECEIVE
        } else {
            wire::QUEUE_WRITE
        };
        self.read_queue(pid, fd, q, stream)
    }

    fn read_queue(
        &self,
        pid: i32,
        fd: i32,
        queue: u16,
        stream: bool,
    ) -> EngineResult<Vec<Segment>> {
        let recs = self.run(
            Operation::Queues,
            "crib_dump_queue",
            pid,
            fd,
            u32::from(queue),
        )?;
        frames_to_segments(&recs.wire, stream)
            .map_err(|e| err(Operation::Queues, format!("fd {fd}: {e}")))
    }
}

/// Reassemble SKB chunk records into one segment per frame, checking that
/// every frame arrived whole.
pub fn frames_to_segments(recs: &[WireRecord], stream: bool) -> Result<Vec<Segment>, String> {
    let mut frames: BTreeMap<u32, (u32, Vec<u8>, Option<SockAddr>)> = BTreeMap::new();
    for r in recs {
        let WireRecord::Skb(s) = r else { continue };
        let entry = frames
            .entry(s.index)
            .or_insert_with(|| (s.frame_len, Vec::new(), source_addr(s)));
        if s.offset as usize != entry.1.len() {
            return Err(format!(
                "frame {}: chunk at offset {} after {} bytes",
                s.index,
                s.offset,
                entry.1.len()
            ));
        }
        entry.1.extend_from_slice(&s.data);
    }
    let mut out = Vec::with_capacity(frames.len());
    for (index, (frame_len, data, addr)) in frames {
        if data.len() != frame_len as usize {
            return Err(format!(
                "frame {index}: {} of {frame_len} bytes read",
                data.len()
            ));
        }
        out.push(Segment {
            data,
            addr: if stream { None } else { addr },
        });
    }
    Ok(out)
}

fn source_addr(s: &wire::Skb) -> Option<SockAddr> {
    let ip = match s.family {
        2 => IpAddr::V4(Ipv4Addr::new(s.addr[0], s.addr[1], s.addr[2], s.addr[3])),
        10 => IpAddr::V6(Ipv6Addr::from(s.addr)),
        _ => return None,
    };
    Some(SockAddr::Inet { ip, port: s.port })
}

impl DumpEngine for CribEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Crib
    }

    fn check(&self, op: Operation) -> Result<(), String> {
        progload::refusal(&self.rejected, prog_for(op)).map_or(Ok(()), Err)
    }

    fn task(&mut self, pid: i32) -> EngineResult<TaskRecord> {
        let recs = self.run(Operation::Task, "crib_dump_task", pid, -1, 0)?;
        recs.wire
            .iter()
            .find_map(|r| match r {
                WireRecord::Task(t) => Some(convert::task(t)),
                _ => None,
            })
            .ok_or_else(|| err(Operation::Task, "no task record in a complete dump"))
    }

    fn files(&mut self, pid: i32) -> EngineResult<FilesDump> {
        let recs = self.run(Operation::Files, "crib_dump_files", pid, -1, 0)?;
        let files = recs.files;
        let mut socks = Vec::new();
        for r in recs.wire {
            match r {
                WireRecord::Inet(s) => socks.push(convert::inet(&s)),
                WireRecord::Unix(u) => socks.push(convert::unix(&u)),
                _ => {}
            }
        }
        socks.sort_by_key(|s| s.ino);
        socks.dedup_by_key(|s| s.ino);
        self.sockets_of = Some((pid, socks));
        let mut pipes: Vec<PipeRecord> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in files.iter().filter(|f| f.kind == FileKind::Pipe) {
            if seen.insert(f.ino) {
                pipes.push(PipeRecord {
                    ino: f.ino,
                    data: Captured::unavailable(if self.pipe_read {
                        "pipe buffers are read by the queues operation"
                    } else {
                        PIPES_UNSUPPORTED
                    }),
                });
            }
        }
        let contents = super::unlinked::read_all(EngineKind::Crib, pid, &files)?;
        Ok(FilesDump {
            files,
            contents,
            pipes,
        })
    }

    fn memory_map(&mut self, pid: i32) -> EngineResult<Vec<MappingRecord>> {
        let recs = self.run(Operation::MemoryMap, "crib_dump_vmas", pid, -1, 0)?;
        Ok(recs.maps)
    }

    fn sockets(&mut self, pid: i32, files: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
        let cached = matches!(&self.sockets_of, Some((p, _)) if *p == pid);
        if !cached {
            self.files(pid)?;
        }
        let wanted: std::collections::BTreeSet<u64> = files
            .iter()
            .filter(|f| f.kind == FileKind::Socket)
            .map(|f| f.ino)
            .collect();
        let all = self.sockets_of.take().map(|(_, s)| s).unwrap_or_default();
        Ok(all
            .into_iter()
            .filter(|s| wanted.contains(&s.ino))
            .collect())
    }

    fn queues(
        &mut self,
        pid: i32,
        files: &[FileRecord],
        sockets: &mut [SocketRecord],
        pipes: &mut [PipeRecord],
    ) -> EngineResult<()> {
        let set = self.all_queues(pid)?;
        let socket_inos: std::collections::BTreeSet<u64> = files
            .iter()
            .filter(|f| f.kind == FileKind::Socket)
            .map(|f| f.ino)
            .collect();
        for s in sockets.iter_mut() {
            if !socket_inos.contains(&s.ino) {
                let why = format!("no fd of pid {pid} refers to socket {}", s.ino);
                s.recv_queue = Captured::unavailable(why.clone());
                s.write_queue = Captured::unavailable(why);
                continue;
            }
            if let Some(e) = set.error(s.ino) {
                let why = format!("reading a queue: {}", std::io::Error::from_raw_os_error(-e));
                s.recv_queue = Captured::unavailable(why.clone());
                s.write_queue = Captured::unavailable(why);
                continue;
            }
            let stream = s.is_stream();
            let socket = |q| {
                set.socket(s.ino, q, stream)
                    .map_err(|e| err(Operation::Queues, format!("socket {}: {e}", s.ino)))
            };
            s.recv_queue = Captured::Data(socket(wire::QUEUE_RECEIVE)?);
            let in_flight = s
                .tcp
                .as_ref()
                .map(|t| {
                    t.write_seq
                        .wrapping_sub(t.unsent_len)
                        .wrapping_sub(t.snd_una)
                })
                .unwrap_or(0);
            s.write_queue = if in_flight != 0 {
                Captured::unavailable(format!("{TCP_IN_FLIGHT} ({in_flight} bytes in flight)"))
            } else {
                Captured::Data(socket(wire::QUEUE_WRITE)?)
            };
        }
        for p in pipes.iter_mut() {
            p.data = if !self.pipe_read {
                Captured::unavailable(PIPES_UNSUPPORTED)
            } else if let Some(e) = set.error(p.ino) {
                Captured::unavailable(format!(
                    "bpf_crib_pipe_read: {}",
                    std::io::Error::from_raw_os_error(-e)
                ))
            } else {
                Captured::Data(
                    set.pipe(p.ino)
                        .map_err(|e| err(Operation::Queues, format!("pipe {}: {e}", p.ino)))?,
                )
            };
        }
        Ok(())
    }
}

impl CribEngine {
    /// Run `crib_dump_queues` over every fd of `pid`, batch after batch.
    fn all_queues(&mut self, pid: i32) -> EngineResult<queues::QueueSet> {
        const PROG: &str = "crib_dump_queues";
        let mut set = queues::QueueSet::default();
        let mut start = 0;
        loop {
            // a new generation per batch: the fd a batch stopped in is read
            // again whole, though the kernel's "seen" map has its inode
            self.generation = self.generation.wrapping_add(1).max(1);
            let mut ctx = bpfobj::args(pid, start, 0);
            ctx[12..16].copy_from_slice(&self.generation.to_le_bytes());
            let batch = self.run_batch(Operation::Queues, PROG, pid, &mut ctx)?;
            if !batch.more {
                set.add(batch.records.wire, None);
                return Ok(set);
            }
            match queues::resume_fd(&batch.records.wire) {
                Some(fd) if fd > start => {
                    set.add(batch.records.wire, Some(fd));
                    start = fd;
                }
                // stopped in the fd it started at: that fd alone overfills the ring
                Some(fd) => {
                    return Err(err(
                        Operation::Queues,
                        format!(
                            "fd {fd} of pid {pid}: its queued data does not fit the ring buffer"
                        ),
                    ))
                }
                None => {
                    return Err(err(
                        Operation::Queues,
                        format!("{PROG} stopped early without a resume point"),
                    ))
                }
            }
        }
    }

    fn run_batch(
        &self,
        op: Operation,
        prog: &str,
        pid: i32,
        ctx: &mut [u8],
    ) -> EngineResult<bpfobj::Batch> {
        if let Some(why) = progload::refusal(&self.rejected, prog) {
            return Err(err(op, why));
        }
        self.dump
            .run_batch(prog, ctx)
            .map_err(|e| run_error(op, pid, e))
    }
}

fn run_error(op: Operation, pid: i32, e: BpfError) -> EngineError {
    match e {
        BpfError::Run { ref what, .. } if what.contains("No such process") => EngineError::Io {
            engine: EngineKind::Crib,
            pid,
            what: format!("{}: no such process", op.name()),
            source: std::io::Error::from_raw_os_error(libc::ESRCH),
        },
        e => err(op, e),
    }
}

/// One datagram to put back on a UDP socket's receive queue.
#[derive(Debug, Clone)]
pub struct RestoreDatagram<'a> {
    pub data: &'a [u8],
    /// Source address and port (its family must match the socket's).
    pub source: (IpAddr, u16),
    /// Receive time, CLOCK_REALTIME ns; 0 = now.
    pub tstamp_ns: u64,
    pub mark: u32,
    /// Receiving interface and IP TOS (`bpf_crib_skb_info` v2). A kernel that
    /// only knows v1 refuses non-zero values ("Operation not supported").
    pub ifindex: u32,
    pub tos: u32,
}

/// The restore side: `bpf_crib_udp_queue_rcv` through `bpf/crib_restore.bpf.c`.
/// Loaded once, used for every datagram.
pub struct CribRestorer {
    obj: RbObject,
    loaded_as: LoadedAs,
}

/// Largest payload the restore program takes (its map value, less one).
pub const RESTORE_DATA_MAX: usize = 65535;

impl CribRestorer {
    pub fn open() -> EngineResult<Self> {
        let f = KernelFeatures::detect();
        if !f.crib_restore || !f.crib_file_from_fd || !f.task_from_vpid {
            return Err(EngineError::unsupported(
                EngineKind::Crib,
                Operation::Queues,
                format!("{NO_KFUNCS} (bpf_crib_udp_queue_rcv)"),
            ));
        }
        let (obj, loaded_as, _) = load_crib_object(RESTORE, objects::CRIB_RESTORE, None, &[])
            .map_err(|e| err(Operation::Queues, e))?;
        Ok(CribRestorer { obj, loaded_as })
    }

    pub fn loaded_as(&self) -> LoadedAs {
        self.loaded_as
    }

    /// Queue `d` on the receive queue of UDP socket `fd` of process `pid`
    /// (pid in the caller's pid namespace).
    pub fn udp_queue_rcv(&self, pid: i32, fd: i32, d: &RestoreDatagram<'_>) -> EngineResult<()> {
        if d.data.len() > RESTORE_DATA_MAX {
            return Err(err(
                Operation::Queues,
                format!(
                    "datagram of {} bytes exceeds {RESTORE_DATA_MAX}",
                    d.data.len()
                ),
            ));
        }
        let map = self
            .obj
            .obj
            .maps()
            .find(|m| m.name() == "crib_restore_data")
            .ok_or_else(|| err(Operation::Queues, "crib_restore_data map missing"))?;
        let mut value = vec![0u8; map.value_size() as usize];
        value[..d.data.len()].copy_from_slice(d.data);
        map.update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| err(Operation::Queues, format!("crib_restore_data: {e}")))?;
        let mut ctx = restore_args(pid, fd, d);
        self.obj
            .run("crib_restore_udp_rcv", &mut ctx)
            .map(|_| ())
            .map_err(|e| err(Operation::Queues, format!("pid {pid} fd {fd}: {e}")))
    }
}

impl CribRestorer {
    /// The descriptors of the loaded program, its data map and its ring
    /// buffer: what [`RawRestorer`] needs in another process (the CRIU
    /// plugin passes them to the restored tasks through CRIU's fdstore).
    pub fn raw_fds(&self) -> EngineResult<[std::os::fd::RawFd; 3]> {
        use std::os::fd::{AsFd, AsRawFd};
        let o = &self.obj.obj;
        let prog = o
            .progs()
            .find(|p| p.name() == "crib_restore_udp_rcv")
            .ok_or_else(|| err(Operation::Queues, "crib_restore_udp_rcv missing"))?
            .as_fd()
            .as_raw_fd();
        let map = |name: &str| {
            o.maps()
                .find(|m| m.name() == name)
                .map(|m| m.as_fd().as_raw_fd())
                .ok_or_else(|| err(Operation::Queues, format!("{name} map missing")))
        };
        Ok([prog, map("crib_restore_data")?, map("crib_rb")?])
    }
}

/// [`CribRestorer::udp_queue_rcv`] on descriptors of a restorer loaded by
/// another process ([`CribRestorer::raw_fds`]), with the raw BPF syscalls.
pub struct RawRestorer {
    prog: std::os::fd::OwnedFd,
    data: std::os::fd::OwnedFd,
    rb: *mut libbpf_sys::ring_buffer,
    value_size: usize,
}

extern "C" fn drop_sample(
    _ctx: *mut std::ffi::c_void,
    _data: *mut std::ffi::c_void,
    _len: u64,
) -> i32 {
    0
}

impl RawRestorer {
    /// Take ownership of `[prog, data map, ring buffer map]`.
    pub fn from_fds(fds: [std::os::fd::OwnedFd; 3]) -> EngineResult<RawRestorer> {
        use std::os::fd::AsRawFd;
        let [prog, data, rb_map] = fds;
        let mut info = libbpf_sys::bpf_map_info::default();
        let mut len = std::mem::size_of::<libbpf_sys::bpf_map_info>() as u32;
        // SAFETY: info and len outlive the call; the fd is a map's.
        let rc =
            unsafe { libbpf_sys::bpf_map_get_info_by_fd(data.as_raw_fd(), &mut info, &mut len) };
        if rc != 0 {
            return Err(err(Operation::Queues, format!("data map info: error {rc}")));
        }
        // SAFETY: a valid ring buffer map fd; the callback drops samples (the
        // program's verdict is its return value; the ring only needs draining).
        let rb = unsafe {
            libbpf_sys::ring_buffer__new(
                rb_map.as_raw_fd(),
                Some(drop_sample),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        if rb.is_null() {
            return Err(err(Operation::Queues, "ring buffer on the passed fd"));
        }
        drop(rb_map); // ring_buffer__new mapped it; the mapping keeps it alive
        Ok(RawRestorer {
            prog,
            data,
            rb,
            value_size: info.value_size as usize,
        })
    }

    /// Queue `d` on the receive queue of UDP socket `fd` of `pid`; `Err`
    /// carries the kfunc's refusal (-E2BIG, a wrong family, ...).
    pub fn udp_queue_rcv(&self, pid: i32, fd: i32, d: &RestoreDatagram<'_>) -> Result<(), String> {
        use std::os::fd::AsRawFd;
        if d.data.len() >= self.value_size {
            return Err(format!(
                "{} bytes: more than the restore program takes ({})",
                d.data.len(),
                self.value_size.saturating_sub(1)
            ));
        }
        let mut value = vec![0u8; self.value_size];
        value[..d.data.len()].copy_from_slice(d.data);
        let key = 0u32;
        // SAFETY: key and value are of the map's sizes and outlive the call.
        let rc = unsafe {
            libbpf_sys::bpf_map_update_elem(
                self.data.as_raw_fd(),
                (&key as *const u32).cast(),
                value.as_ptr().cast(),
                0,
            )
        };
        if rc != 0 {
            return Err(format!("writing the datagram to the data map: error {rc}"));
        }
        let mut ctx = restore_args(pid, fd, d);
        let mut opts = libbpf_sys::bpf_test_run_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
            ctx_in: ctx.as_mut_ptr().cast(),
            ctx_size_in: ctx.len() as u32,
            ..Default::default()
        };
        // SAFETY: opts points at ctx, which outlives the call.
        let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(self.prog.as_raw_fd(), &mut opts) };
        // SAFETY: rb is the ring buffer made in from_fds.
        unsafe { libbpf_sys::ring_buffer__consume(self.rb) };
        if rc != 0 {
            return Err(format!("BPF_PROG_RUN: error {rc}"));
        }
        let ret = opts.retval as i32;
        if ret < 0 {
            return Err(format!(
                "bpf_crib_udp_queue_rcv refused it: {}",
                std::io::Error::from_raw_os_error(-ret)
            ));
        }
        Ok(())
    }
}

impl Drop for RawRestorer {
    fn drop(&mut self) {
        // SAFETY: made by ring_buffer__new, freed once.
        unsafe { libbpf_sys::ring_buffer__free(self.rb) };
    }
}

/// `struct crib_restore_args` (records.h).
pub fn restore_args(pid: i32, fd: i32, d: &RestoreDatagram<'_>) -> [u8; 56] {
    let mut a = [0u8; 56];
    a[0..4].copy_from_slice(&pid.to_le_bytes());
    a[4..8].copy_from_slice(&fd.to_le_bytes());
    a[8..12].copy_from_slice(&(d.data.len() as u32).to_le_bytes());
    a[16..24].copy_from_slice(&d.tstamp_ns.to_le_bytes());
    let family: u16 = match d.source.0 {
        IpAddr::V4(v4) => {
            a[24..28].copy_from_slice(&v4.octets());
            2
        }
        IpAddr::V6(v6) => {
            a[24..40].copy_from_slice(&v6.octets());
            10
        }
    };
    a[40..42].copy_from_slice(&d.source.1.to_le_bytes());
    a[42..44].copy_from_slice(&family.to_le_bytes());
    a[44..48].copy_from_slice(&d.mark.to_le_bytes());
    a[48..52].copy_from_slice(&d.ifindex.to_le_bytes());
    a[52..56].copy_from_slice(&d.tos.to_le_bytes());
    a
}

/// Size of `struct bpf_crib_skb_info` in the running kernel's BTF (40 = v1,
/// 48 = v2), `None` without the type.
pub fn kernel_skb_info_size() -> Option<usize> {
    use libbpf_rs::btf::{types::Struct, Btf, HasSize};
    let btf = Btf::from_vmlinux().ok()?;
    let s = btf.type_by_name::<Struct<'_>>("bpf_crib_skb_info")?;
    Some(s.size())
}
