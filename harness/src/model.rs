//! The records every dump engine produces.
//!
//! `procfs`, `upstream` and `crib` all fill these same types, so their output
//! can be diffed field by field. Every record has a `normalize()` that removes
//! what is legitimately engine-dependent (segmenting of a byte stream into skbs,
//! kernel-internal flag bits, ordering), and [`Dump::diff`] compares two dumps
//! while skipping fields one side could not see ([`Captured::Unavailable`] or
//! `None` options).
//!
//! Conventions (engines must follow them):
//! - device numbers are split into [`DevId`] (major, minor), never a raw dev_t;
//! - socket/TCP states are the kernel `sk_state` values (`TCP_ESTABLISHED` = 1,
//!   `TCP_CLOSE` = 7, `TCP_LISTEN` = 10), also for UDP and unix sockets;
//! - file flags are the user-visible `O_*` bits of `file->f_flags`
//!   ([`OPEN_FLAGS_MASK`]); close-on-exec is the separate `cloexec` field;
//! - mapping `pgoff` is in bytes (`vm_pgoff << PAGE_SHIFT`), like /proc/PID/maps.

pub use crate::pathstr::PathStr;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Something an engine may or may not be able to see.
///
/// An engine that cannot read a value says so with a reason instead of
/// inventing an empty one: an empty queue and an unreadable queue differ.
/// The reason is most often a fixed sentence (two per socket record when
/// queues are not dumped): a `Cow`, so that costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Captured<T> {
    Data(T),
    Unavailable {
        reason: std::borrow::Cow<'static, str>,
    },
}

impl<T> Captured<T> {
    pub fn unavailable(reason: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Captured::Unavailable {
            reason: reason.into(),
        }
    }
    pub fn data(&self) -> Option<&T> {
        match self {
            Captured::Data(d) => Some(d),
            Captured::Unavailable { .. } => None,
        }
    }
}

/// A device number, split so kernel (`MAJOR<<20|MINOR`) and userspace
/// (`makedev`) encodings compare equal.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct DevId {
    pub major: u32,
    pub minor: u32,
}

impl DevId {
    /// From a userspace `st_dev`/`st_rdev` (glibc `makedev` encoding).
    pub fn from_user(dev: u64) -> DevId {
        DevId {
            major: (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32,
            minor: (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32,
        }
    }
    /// From a kernel-internal `dev_t` (`MINORBITS` = 20), as BPF reads it.
    pub fn from_kernel(dev: u32) -> DevId {
        DevId {
            major: dev >> 20,
            minor: dev & 0xf_ffff,
        }
    }
}

/// Namespace inode numbers (`/proc/PID/ns/*`, `ns_common.inum`); 0 = not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    pub pid: u64,
    pub net: u64,
    pub mnt: u64,
    pub user: u64,
    pub uts: u64,
    pub ipc: u64,
    pub cgroup: u64,
}

/// Identity of the dumped task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Pid as seen by the dumper (its own pid namespace).
    pub pid: i32,
    /// Pid inside the task's own (innermost) pid namespace.
    pub vpid: i32,
    /// Pid namespace nesting level of the task (0 = initial namespace).
    pub pidns_level: u32,
    pub comm: String,
    pub namespaces: Namespaces,
}

/// What kind of object a descriptor refers to (from `i_mode`, plus anon inodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Regular,
    Directory,
    /// A pipe or FIFO (S_IFIFO).
    Pipe,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    /// eventfd, epoll, signalfd, bpf-map, ... (`anon_inode:[name]`).
    AnonInode,
    Unknown,
}

impl FileKind {
    /// From `st_mode`/`i_mode` type bits.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & 0o170000 {
            0o100000 => FileKind::Regular,
            0o040000 => FileKind::Directory,
            0o010000 => FileKind::Pipe,
            0o140000 => FileKind::Socket,
            0o020000 => FileKind::CharDevice,
            0o060000 => FileKind::BlockDevice,
            0o120000 => FileKind::Symlink,
            _ => FileKind::Unknown,
        }
    }
}

/// The `O_*` bits of `f_flags` that are part of the user-visible state
/// (access mode, O_APPEND, O_NONBLOCK, O_DSYNC, O_DIRECT, O_LARGEFILE,
/// O_NOATIME, O_SYNC, O_PATH, O_DIRECTORY, O_NOFOLLOW). Kernel-internal bits
/// (FMODE_*, __FMODE_EXEC) and O_CLOEXEC are masked out.
pub const OPEN_FLAGS_MASK: u32 = 0o3 // O_ACCMODE
    | 0o2000 // O_APPEND
    | 0o4000 // O_NONBLOCK
    | 0o10000 // O_DSYNC
    | 0o40000 // O_DIRECT
    | 0o100000 // O_LARGEFILE
    | 0o200000 // O_DIRECTORY
    | 0o400000 // O_NOFOLLOW
    | 0o1000000 // O_NOATIME
    | 0o4000000 // __O_SYNC
    | 0o10000000; // O_PATH

/// One open descriptor of the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub fd: i32,
    /// `f_flags & OPEN_FLAGS_MASK`.
    pub flags: u32,
    pub cloexec: bool,
    /// `f_pos`.
    pub pos: u64,
    pub kind: FileKind,
    /// Path as the kernel prints it (d_path), without the " (deleted)" suffix;
    /// for sockets/pipes/anon inodes the `socket:[ino]`-style name.
    pub path: PathStr,
    /// True when the file's last link is gone (nlink == 0).
    pub unlinked: bool,
    pub ino: u64,
    /// Device of the filesystem holding the inode (`i_sb->s_dev`).
    pub dev: DevId,
    /// `i_mode` (type and permission bits).
    pub mode: u32,
    /// Size of the inode (`i_size`), for regular files.
    pub size: u64,
}

impl FileRecord {
    pub fn normalize(&mut self) {
        self.flags &= OPEN_FLAGS_MASK;
    }
}

/// Contents of a regular file that is open but unlinked: the dump saves them
/// so restore can recreate an (again unlinked) file with the same data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContents {
    pub fd: i32,
    pub data: Vec<u8>,
}

/// `vm_flags` bits with a stable meaning across kernels (include/linux/mm.h).
pub mod vm_flags {
    pub const READ: u64 = 0x1;
    pub const WRITE: u64 = 0x2;
    pub const EXEC: u64 = 0x4;
    pub const SHARED: u64 = 0x8;
    pub const MAYREAD: u64 = 0x10;
    pub const MAYWRITE: u64 = 0x20;
    pub const MAYEXEC: u64 = 0x40;
    pub const MAYSHARE: u64 = 0x80;
    pub const GROWSDOWN: u64 = 0x100;
    pub const LOCKED: u64 = 0x2000;
    pub const IO: u64 = 0x4000;
    pub const SEQ_READ: u64 = 0x8000;
    pub const RAND_READ: u64 = 0x10000;
    pub const DONTCOPY: u64 = 0x20000;
    pub const DONTEXPAND: u64 = 0x40000;
    pub const ACCOUNT: u64 = 0x100000;
    pub const NORESERVE: u64 = 0x200000;
    pub const HUGETLB: u64 = 0x400000;
    /// Bits compared between engines.
    pub const STABLE_MASK: u64 = READ
        | WRITE
        | EXEC
        | SHARED
        | MAYREAD
        | MAYWRITE
        | MAYEXEC
        | MAYSHARE
        | GROWSDOWN
        | LOCKED
        | IO
        | SEQ_READ
        | RAND_READ
        | DONTCOPY
        | DONTEXPAND
        | ACCOUNT
        | NORESERVE
        | HUGETLB;
}

/// One VMA: the /proc/PID/smaps replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRecord {
    pub start: u64,
    pub end: u64,
    /// `vm_flags & vm_flags::STABLE_MASK` (prot is READ/WRITE/EXEC, shared is SHARED).
    pub flags: u64,
    /// Offset into the backing file in bytes.
    pub pgoff: u64,
    /// Backing file path (d_path), or the pseudo name (`[heap]`, `[stack]`,
    /// `[vdso]`, ...) , or empty for anonymous memory.
    pub path: PathStr,
    pub ino: u64,
    pub dev: DevId,
}

impl MappingRecord {
    pub fn normalize(&mut self) {
        self.flags &= vm_flags::STABLE_MASK;
    }
    pub fn is_shared(&self) -> bool {
        self.flags & vm_flags::SHARED != 0
    }
}

/// A socket address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SockAddr {
    /// Unbound / unconnected.
    None,
    Inet {
        ip: IpAddr,
        port: u16,
    },
    /// `sun_path` bytes; abstract names start with a NUL byte.
    Unix {
        path: Vec<u8>,
    },
}

/// Socket options that restore replays. `None` = the engine did not read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockOptions {
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
    pub keepalive: Option<bool>,
    pub broadcast: Option<bool>,
    pub sndbuf: Option<u32>,
    pub rcvbuf: Option<u32>,
    pub priority: Option<u32>,
    /// TCP_NODELAY.
    pub nodelay: Option<bool>,
}

/// TCP sequence, window and option state (what TCP_REPAIR needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpState {
    /// Sequence number of the next byte the application would write (`write_seq`).
    pub write_seq: u32,
    /// Next sequence number expected from the peer (`rcv_nxt`).
    pub rcv_nxt: u32,
    /// Oldest unacknowledged byte (`snd_una`).
    pub snd_una: u32,
    /// Bytes of the write queue never sent (`write_seq - snd_nxt`).
    pub unsent_len: u32,
    pub snd_wl1: u32,
    pub snd_wnd: u32,
    pub max_window: u32,
    pub rcv_wnd: u32,
    pub rcv_wup: u32,
    /// Current send MSS (`mss_cache`, what TCP_MAXSEG reports outside repair
    /// mode). Derived state: it may differ after a restore.
    pub mss: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub timestamps: bool,
    pub sack: bool,
    pub wscale: bool,
}

/// UDP write-side state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpState {
    /// UDP_CORK set (or a pending MSG_MORE frame).
    pub corked: bool,
    /// Bytes appended to the pending frame (`udp_sock.len`), 0 when none;
    /// `None` when the engine cannot read it (procfs).
    pub pending_len: Option<u32>,
}

/// Unix socket linkage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixState {
    /// Inode of the peer socket, 0 when unconnected.
    pub peer_ino: u64,
}

/// One queued skb/datagram (or a byte-stream chunk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    #[serde(with = "crate::hexbytes")]
    pub data: Vec<u8>,
    /// Source address for received datagrams, when known.
    pub addr: Option<SockAddr>,
}

/// Socket families used here (AF_*).
pub mod family {
    pub const UNIX: u16 = 1;
    pub const INET: u16 = 2;
    pub const INET6: u16 = 10;
}

/// Socket types (SOCK_*).
pub mod sock_type {
    pub const STREAM: u16 = 1;
    pub const DGRAM: u16 = 2;
    pub const SEQPACKET: u16 = 5;
}

/// One socket referenced by a descriptor of the task (joined by inode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRecord {
    pub ino: u64,
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    /// `sk_state`.
    pub state: u8,
    pub local: SockAddr,
    pub remote: SockAddr,
    pub options: SockOptions,
    pub tcp: Option<TcpState>,
    pub udp: Option<UdpState>,
    pub unix: Option<UnixState>,
    /// Data waiting to be read by this socket (`sk_receive_queue`).
    pub recv_queue: Captured<Vec<Segment>>,
    /// Data written but not yet gone (`sk_write_queue`: TCP unacked+unsent,
    /// UDP pending corked frames).
    pub write_queue: Captured<Vec<Segment>>,
}

impl SocketRecord {
    pub fn is_stream(&self) -> bool {
        self.sock_type == sock_type::STREAM
    }

    pub fn normalize(&mut self) {
        let stream = self.is_stream();
        for q in [&mut self.recv_queue, &mut self.write_queue] {
            if let Captured::Data(segs) = q {
                normalize_segments(segs, stream);
            }
        }
    }
}

/// Byte streams compare as one chunk; datagrams keep their boundaries.
fn normalize_segments(segs: &mut Vec<Segment>, stream: bool) {
    if stream {
        let data: Vec<u8> = segs.iter().flat_map(|s| s.data.iter().copied()).collect();
        segs.clear();
        if !data.is_empty() {
            segs.push(Segment { data, addr: None });
        }
    }
}

/// A pipe (joined to its descriptors by inode) and its buffered bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeRecord {
    pub ino: u64,
    #[serde(with = "crate::hexbytes::captured")]
    pub data: Captured<Vec<u8>>,
}

/// The dump operations an engine can implement; engine selection is per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Task identity and namespaces (always run).
    Task,
    /// Open files (and pipes).
    Files,
    /// The memory map.
    MemoryMap,
    /// Socket identity, addresses, options, TCP/UDP/unix state.
    Sockets,
    /// Socket receive/write queues and pipe buffers.
    Queues,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Task,
        Operation::Files,
        Operation::MemoryMap,
        Operation::Sockets,
        Operation::Queues,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Operation::Task => "task",
            Operation::Files => "files",
            Operation::MemoryMap => "mm",
            Operation::Sockets => "sockets",
            Operation::Queues => "queues",
        }
    }
    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// Which engine produced which part of a dump, and what it could not see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpInfo {
    /// (operation, engine name) pairs.
    pub engines: Vec<(Operation, String)>,
    /// Plain-language limits met while dumping (e.g. "procfs cannot see the
    /// write queue of corked UDP socket 1234").
    pub notes: Vec<String>,
}

/// Everything dumped from one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    pub info: DumpInfo,
    pub task: TaskRecord,
    pub files: Vec<FileRecord>,
    pub contents: Vec<FileContents>,
    pub pipes: Vec<PipeRecord>,
    pub mappings: Vec<MappingRecord>,
    pub sockets: Vec<SocketRecord>,
}

impl Dump {
    /// Canonical form: normalized records in a fixed order.
    pub fn normalize(&mut self) {
        self.files.iter_mut().for_each(FileRecord::normalize);
        self.files.sort_by_key(|f| f.fd);
        self.contents.sort_by_key(|c| c.fd);
        self.pipes.sort_by_key(|p| p.ino);
        // The vsyscall page is a gate area procfs appends, not a VMA of the mm.
        self.mappings.retain(|m| m.path != "[vsyscall]");
        self.mappings.iter_mut().for_each(MappingRecord::normalize);
        self.mappings.sort_by_key(|m| m.start);
        self.sockets.iter_mut().for_each(SocketRecord::normalize);
        self.sockets.sort_by_key(|s| s.ino);
    }

    pub fn file(&self, fd: i32) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.fd == fd)
    }
    pub fn socket(&self, ino: u64) -> Option<&SocketRecord> {
        self.sockets.iter().find(|s| s.ino == ino)
    }
    pub fn pipe(&self, ino: u64) -> Option<&PipeRecord> {
        self.pipes.iter().find(|p| p.ino == ino)
    }
}

pub use crate::diff::diff_dumps;
