//! Decoder of the CRIB wire format (`bpf/include/crib/records.h`).
//!
//! BPF programs emit fixed-layout little-endian records, each starting with
//! `struct crib_rec_hdr { u16 type; u16 version; u32 len; }`. Iterators write
//! them back to back ([`decode_stream`]); ring-buffer programs write one per
//! sample ([`decode_sample`], which allows reservation slack after `len`).
//!
//! Every read is bounds-checked. Layouts are append-only: a record whose
//! `version` is newer than ours is decoded by its known prefix, with the
//! variable part (path, payload) taken from the record's end. A record of a
//! type we do not know is returned as [`WireRecord::Unknown`], never guessed.
//!
//! The `*_with` decoders hand each record to a [`Sink`]; file and VMA records
//! (the bulk of a dump) arrive with their paths borrowed from the sample, so
//! an engine converts them without an allocation per record.

/// Size of `struct crib_rec_hdr`.
pub const HDR_LEN: usize = 8;

/// Record type numbers (`enum crib_rec_type`).
pub mod rec_type {
    pub const TASK: u16 = 1;
    pub const FILE: u16 = 2;
    pub const VMA: u16 = 3;
    pub const INET: u16 = 4;
    pub const UNIX: u16 = 5;
    pub const SKB: u16 = 6;
    pub const END: u16 = 7;
    pub const ERROR: u16 = 8;
    /// Several records in one ring sample (not a record of its own).
    pub const BATCH: u16 = 9;
}

/// Fixed sizes of version 1 of each record (the `_Static_assert`s in records.h).
pub mod fixed_len {
    pub const TASK: usize = 112;
    pub const FILE: usize = 72;
    pub const VMA: usize = 64;
    pub const INET: usize = 160;
    pub const UNIX: usize = 40;
    pub const SKB: usize = 72;
    pub const END: usize = 24;
    pub const ERROR: usize = 24;
    /// Version 2 of END (adds `expected`), what the programs write now.
    pub const END_V2: usize = 32;
}

/// `crib_rec_inet.valid` bits.
pub const INET_TCP: u32 = 1 << 0;
pub const INET_UDP: u32 = 1 << 1;
/// `crib_rec_inet.opts` bits.
pub mod sockopt {
    pub const REUSEADDR: u32 = 1 << 0;
    pub const REUSEPORT: u32 = 1 << 1;
    pub const KEEPALIVE: u32 = 1 << 2;
    pub const BROADCAST: u32 = 1 << 3;
    pub const NODELAY: u32 = 1 << 4;
}
/// `crib_rec_inet.tcp_opts` bits.
pub mod tcpopt {
    pub const TIMESTAMPS: u8 = 1 << 0;
    pub const SACK: u8 = 1 << 1;
    pub const WSCALE: u8 = 1 << 2;
}
/// `crib_rec_vma.special`.
pub mod vma_special {
    pub const NONE: u32 = 0;
    pub const HEAP: u32 = 1;
    pub const STACK: u32 = 2;
    pub const NAMED: u32 = 3;
}
/// `crib_rec_skb.queue` / `flags`.
pub const QUEUE_WRITE: u16 = 0;
pub const QUEUE_RECEIVE: u16 = 1;
/// A pipe's buffered bytes, in chunks (`sock_ino` is the pipe's inode).
pub const QUEUE_PIPE: u16 = 2;
pub const SKB_FIRST: u16 = 1 << 0;
pub const SKB_LAST: u16 = 1 << 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("record at byte {offset}: truncated header ({have} of 8 bytes)")]
    TruncatedHeader { offset: usize, have: usize },
    #[error("record at byte {offset} (type {rtype}): length {len} but only {have} bytes left")]
    Truncated {
        offset: usize,
        rtype: u16,
        len: u32,
        have: usize,
    },
    #[error("record at byte {offset} (type {rtype}, {name}): length {len} is shorter than its fixed part ({need} bytes)")]
    TooShort {
        offset: usize,
        rtype: u16,
        name: &'static str,
        len: u32,
        need: usize,
    },
    #[error("record at byte {offset} (type {rtype}, {name}): variable part of {var} bytes does not fit in length {len}")]
    BadVarLen {
        offset: usize,
        rtype: u16,
        name: &'static str,
        var: u64,
        len: u32,
    },
    #[error("record at byte {offset} (type {rtype}): version 0 is invalid")]
    BadVersion { offset: usize, rtype: u16 },
    #[error("batch at byte {offset}: {what}")]
    BadBatch { offset: usize, what: &'static str },
    #[error("{name} record at byte {offset}: path_ref {value:#x}: {what}")]
    BadPathRef {
        offset: usize,
        name: &'static str,
        value: u32,
        what: &'static str,
    },
    #[error("{name} record: path slot {slot} named before any record of the run set it")]
    UnsetPathSlot { name: &'static str, slot: u16 },
}

/// How a FILE or VMA record's path relates to the run's path slots
/// (`path_ref`, version 2; `CRIB_PATH_*` in bpf/include/crib/records.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathRef {
    /// The path is the record's bytes, nothing more (and every v1 record).
    #[default]
    None,
    /// The record's bytes, and that slot's path from now on in this run.
    Set(u16),
    /// No bytes: the path an earlier record of the run set for that slot.
    Same(u16),
}

pub mod path_ref {
    pub const SLOT_MASK: u32 = 0xffff;
    pub const SET: u32 = 1 << 16;
    pub const SAME: u32 = 1 << 17;
}

impl PathRef {
    /// The `path_ref` field of a FILE or VMA record of `version`: v1
    /// writers left it zero and meant nothing by it.
    fn read(f: &mut Fields<'_>, version: u16, path_len: u32, at: At) -> Result<PathRef, WireError> {
        let value = f.u32();
        if version < 2 {
            return Ok(PathRef::None);
        }
        Self::decode(value, path_len, at)
    }

    fn decode(value: u32, path_len: u32, at: At) -> Result<PathRef, WireError> {
        let bad = |what| WireError::BadPathRef {
            offset: at.offset,
            name: at.name,
            value,
            what,
        };
        let slot = (value & path_ref::SLOT_MASK) as u16;
        match value & !path_ref::SLOT_MASK {
            0 if value == 0 => Ok(PathRef::None),
            path_ref::SET => Ok(PathRef::Set(slot)),
            path_ref::SAME if path_len == 0 => Ok(PathRef::Same(slot)),
            path_ref::SAME => Err(bad("a SAME record carries path bytes")),
            _ => Err(bad("unknown bits")),
        }
    }

    pub fn encode(self) -> u32 {
        match self {
            PathRef::None => 0,
            PathRef::Set(n) => path_ref::SET | u32::from(n),
            PathRef::Same(n) => path_ref::SAME | u32::from(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub tgid: u32,
    pub pid: u32,
    pub ppid: u32,
    pub ns_tgid: u32,
    pub ns_level: u32,
    pub uid: u32,
    pub gid: u32,
    /// pid, net, mnt, uts, ipc, user, cgroup (`enum crib_ns`).
    pub ns_ino: [u64; 7],
    pub comm: String,
}

/// `P` holds the path: `Vec<u8>` owned, `&[u8]` borrowed from the sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File<P = Vec<u8>> {
    pub fd: i32,
    pub flags: u32,
    pub pos: i64,
    pub ino: u64,
    pub size: u64,
    pub dev: u32,
    pub mode: u32,
    pub mnt_id: u32,
    pub fmode: u32,
    pub nlink: u32,
    pub cloexec: bool,
    pub path: P,
    pub path_ref: PathRef,
}

/// `P` holds the path, as in [`File`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vma<P = Vec<u8>> {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub vm_flags: u64,
    pub ino: u64,
    pub dev: u32,
    pub special: u32,
    pub path: P,
    pub path_ref: PathRef,
}

impl File<&[u8]> {
    /// The record with its own copy of the path.
    pub fn into_owned(self) -> File {
        File {
            fd: self.fd,
            flags: self.flags,
            pos: self.pos,
            ino: self.ino,
            size: self.size,
            dev: self.dev,
            mode: self.mode,
            mnt_id: self.mnt_id,
            fmode: self.fmode,
            nlink: self.nlink,
            cloexec: self.cloexec,
            path: self.path.to_vec(),
            path_ref: self.path_ref,
        }
    }
}

impl Vma<&[u8]> {
    /// The record with its own copy of the path.
    pub fn into_owned(self) -> Vma {
        Vma {
            start: self.start,
            end: self.end,
            pgoff: self.pgoff,
            vm_flags: self.vm_flags,
            ino: self.ino,
            dev: self.dev,
            special: self.special,
            path: self.path.to_vec(),
            path_ref: self.path_ref,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inet {
    pub ino: u64,
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub state: u8,
    pub shutdown: u8,
    pub sport: u16,
    pub dport: u16,
    pub bound_dev_if: u32,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub rcvbuf: u32,
    pub sndbuf: u32,
    pub mark: u32,
    pub opts: u32,
    pub priority: u32,
    pub rqueue_bytes: u32,
    pub wqueue_bytes: u32,
    pub valid: u32,
    pub snd_nxt: u32,
    pub snd_una: u32,
    pub rcv_nxt: u32,
    pub write_seq: u32,
    pub copied_seq: u32,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub max_window: u32,
    pub mss_cache: u32,
    pub snd_wl1: u32,
    pub rcv_wup: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub tcp_opts: u8,
    pub udp_pending: u32,
    pub udp_corkflag: u32,
    pub udp_len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unix {
    pub ino: u64,
    pub peer_ino: u64,
    pub sock_type: u16,
    pub state: u8,
    pub shutdown: u8,
    pub rqueue_len: u32,
    pub path: Vec<u8>,
    pub peer_path: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skb {
    pub sock_ino: u64,
    pub fd: i32,
    pub queue: u16,
    pub flags: u16,
    pub index: u32,
    pub frame_len: u32,
    pub offset: u32,
    pub tstamp_ns: u64,
    pub addr: [u8; 16],
    pub port: u16,
    pub family: u16,
    pub mark: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub prog: u32,
    pub error: i32,
    pub records: u32,
    pub dropped: u32,
    /// v2: what the kernel holds to check the walk against (VMA programs:
    /// `mm->map_count`); 0 = not counted, and in a v1 record.
    pub expected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRec {
    pub prog: u32,
    pub err: i32,
    pub arg: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireRecord {
    Task(Task),
    File(File),
    Vma(Vma),
    Inet(Box<Inet>),
    Unix(Unix),
    Skb(Skb),
    End(End),
    Error(ErrorRec),
    /// A type this decoder does not know (a newer program): reported, skipped.
    Unknown {
        rtype: u16,
        version: u16,
        len: u32,
    },
}

/// Bounds-checked little-endian reads inside one record's fixed part.
struct Fields<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// `b` is at least the fixed length (checked by the caller), so the
    /// reads below cannot run past it; `take` still checks, never panics.
    fn new(b: &'a [u8]) -> Self {
        Fields { b, pos: HDR_LEN }
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = self.b.get(self.pos..self.pos + N) {
            out.copy_from_slice(s);
        }
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn skip(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Context for error messages about one record.
#[derive(Clone, Copy)]
struct At {
    offset: usize,
    rtype: u16,
    name: &'static str,
    len: u32,
}

impl At {
    fn too_short(self, need: usize) -> WireError {
        WireError::TooShort {
            offset: self.offset,
            rtype: self.rtype,
            name: self.name,
            len: self.len,
            need,
        }
    }
    /// The last `var` bytes of `rec`, which must not overlap the fixed part.
    fn tail(self, rec: &[u8], fixed: usize, var: u64) -> Result<&[u8], WireError> {
        let bad = || WireError::BadVarLen {
            offset: self.offset,
            rtype: self.rtype,
            name: self.name,
            var,
            len: self.len,
        };
        let var = usize::try_from(var).map_err(|_| bad())?;
        let start = rec.len().checked_sub(var).ok_or_else(bad)?;
        if start < fixed {
            return Err(bad());
        }
        Ok(&rec[start..])
    }
}

fn name_of(rtype: u16) -> &'static str {
    match rtype {
        rec_type::TASK => "task",
        rec_type::FILE => "file",
        rec_type::VMA => "vma",
        rec_type::INET => "inet",
        rec_type::UNIX => "unix",
        rec_type::SKB => "skb",
        rec_type::END => "end",
        rec_type::ERROR => "error",
        _ => "unknown",
    }
}

fn fixed_of(rtype: u16) -> Option<usize> {
    Some(match rtype {
        rec_type::TASK => fixed_len::TASK,
        rec_type::FILE => fixed_len::FILE,
        rec_type::VMA => fixed_len::VMA,
        rec_type::INET => fixed_len::INET,
        rec_type::UNIX => fixed_len::UNIX,
        rec_type::SKB => fixed_len::SKB,
        rec_type::END => fixed_len::END,
        rec_type::ERROR => fixed_len::ERROR,
        _ => return None,
    })
}

/// Where decoded records go. File and VMA records borrow their paths from
/// the buffer being decoded; every other record arrives owned.
pub trait Sink {
    /// A file record; an error (a path slot the run never set) ends the
    /// decoding.
    fn file(&mut self, f: File<&[u8]>) -> Result<(), WireError>;
    fn vma(&mut self, v: Vma<&[u8]>) -> Result<(), WireError>;
    fn record(&mut self, r: WireRecord);
}

/// Owned records as they are on the wire: path slots left unresolved
/// (the converter resolves them, [`crate::engine::convert::Paths`]).
impl Sink for Vec<WireRecord> {
    fn file(&mut self, f: File<&[u8]>) -> Result<(), WireError> {
        self.push(WireRecord::File(f.into_owned()));
        Ok(())
    }
    fn vma(&mut self, v: Vma<&[u8]>) -> Result<(), WireError> {
        self.push(WireRecord::Vma(v.into_owned()));
        Ok(())
    }
    fn record(&mut self, r: WireRecord) {
        self.push(r);
    }
}

/// Records written back to back (iterator output). The whole buffer must be
/// consumed: trailing bytes that are not a full record are an error.
pub fn decode_stream(buf: &[u8]) -> Result<Vec<WireRecord>, WireError> {
    let mut out = Vec::new();
    decode_stream_with(buf, &mut out)?;
    Ok(out)
}

/// [`decode_stream`] into a sink.
pub fn decode_stream_with(buf: &[u8], sink: &mut impl Sink) -> Result<(), WireError> {
    let mut off = 0;
    while off < buf.len() {
        off += decode_at(buf, off, sink)?;
    }
    Ok(())
}

/// One ring-buffer sample: one record; bytes after `len` are slack.
pub fn decode_sample(buf: &[u8]) -> Result<WireRecord, WireError> {
    let mut one = Vec::with_capacity(1);
    decode_at(buf, 0, &mut one)?;
    // decode_at gives every record it accepts to the sink
    one.pop().ok_or(WireError::TruncatedHeader {
        offset: 0,
        have: buf.len(),
    })
}

/// One ring-buffer sample into `out`: a record, or the records of a
/// CRIB_REC_BATCH (back to back at 8-byte aligned offsets after its header).
pub fn decode_sample_into(buf: &[u8], out: &mut Vec<WireRecord>) -> Result<(), WireError> {
    decode_sample_with(buf, out)
}

/// [`decode_sample_into`] into a sink.
pub fn decode_sample_with(buf: &[u8], sink: &mut impl Sink) -> Result<(), WireError> {
    if buf.len() < HDR_LEN || u16::from_le_bytes([buf[0], buf[1]]) != rec_type::BATCH {
        decode_at(buf, 0, sink)?;
        return Ok(());
    }
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if len < HDR_LEN || len > buf.len() {
        return Err(WireError::BadBatch {
            offset: 0,
            what: "length outside the sample",
        });
    }
    let body = &buf[HDR_LEN..len];
    let mut off = 0;
    while off < body.len() {
        if body.get(off..off + 2) == Some(&rec_type::BATCH.to_le_bytes()[..]) {
            return Err(WireError::BadBatch {
                offset: HDR_LEN + off,
                what: "a batch inside a batch",
            });
        }
        let n = decode_at(body, off, sink)?;
        off += (n + 7) & !7;
    }
    Ok(())
}

/// Decode the record at `buf[off..]` into `sink`; returns its length.
fn decode_at(buf: &[u8], off: usize, sink: &mut impl Sink) -> Result<usize, WireError> {
    let rest = &buf[off.min(buf.len())..];
    if rest.len() < HDR_LEN {
        return Err(WireError::TruncatedHeader {
            offset: off,
            have: rest.len(),
        });
    }
    let rtype = u16::from_le_bytes([rest[0], rest[1]]);
    let version = u16::from_le_bytes([rest[2], rest[3]]);
    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let ulen = len as usize;
    if ulen > rest.len() {
        return Err(WireError::Truncated {
            offset: off,
            rtype,
            len,
            have: rest.len(),
        });
    }
    if ulen < HDR_LEN {
        return Err(WireError::TooShort {
            offset: off,
            rtype,
            name: name_of(rtype),
            len,
            need: HDR_LEN,
        });
    }
    let rec = &rest[..ulen];
    let Some(fixed) = fixed_of(rtype) else {
        sink.record(WireRecord::Unknown {
            rtype,
            version,
            len,
        });
        return Ok(ulen);
    };
    if version == 0 {
        return Err(WireError::BadVersion { offset: off, rtype });
    }
    let at = At {
        offset: off,
        rtype,
        name: name_of(rtype),
        len,
    };
    if ulen < fixed {
        return Err(at.too_short(fixed));
    }
    let mut f = Fields::new(rec);
    let r = match rtype {
        rec_type::TASK => WireRecord::Task(task(&mut f)),
        rec_type::FILE => {
            sink.file(file(&mut f, PathRec { at, rec, version })?)?;
            return Ok(ulen);
        }
        rec_type::VMA => {
            sink.vma(vma(&mut f, PathRec { at, rec, version })?)?;
            return Ok(ulen);
        }
        rec_type::INET => WireRecord::Inet(Box::new(inet(&mut f))),
        rec_type::UNIX => WireRecord::Unix(unix(&mut f, at, rec)?),
        rec_type::SKB => WireRecord::Skb(skb(&mut f, at, rec)?),
        rec_type::END => WireRecord::End(End {
            prog: f.u32(),
            error: f.i32(),
            records: f.u32(),
            dropped: f.u32(),
            // past a v1 record's end `take` reads zeros: "not counted"
            expected: f.u32(),
        }),
        _ => WireRecord::Error(ErrorRec {
            prog: f.u32(),
            err: f.i32(),
            arg: f.u64(),
        }),
    };
    sink.record(r);
    Ok(ulen)
}

fn task(f: &mut Fields<'_>) -> Task {
    let tgid = f.u32();
    let pid = f.u32();
    let ppid = f.u32();
    let ns_tgid = f.u32();
    let ns_level = f.u32();
    let uid = f.u32();
    let gid = f.u32();
    f.skip(4);
    let mut ns_ino = [0u64; 7];
    for n in &mut ns_ino {
        *n = f.u64();
    }
    let comm: [u8; 16] = f.take();
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    Task {
        tgid,
        pid,
        ppid,
        ns_tgid,
        ns_level,
        uid,
        gid,
        ns_ino,
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    }
}

/// A record with a path: where it is, its bytes and its version.
#[derive(Clone, Copy)]
struct PathRec<'r> {
    at: At,
    rec: &'r [u8],
    version: u16,
}

fn file<'r>(f: &mut Fields<'_>, r: PathRec<'r>) -> Result<File<&'r [u8]>, WireError> {
    let PathRec { at, rec, version } = r;
    let fd = f.i32();
    let flags = f.u32();
    let pos = f.i64();
    let ino = f.u64();
    let size = f.u64();
    let dev = f.u32();
    let mode = f.u32();
    let mnt_id = f.u32();
    let fmode = f.u32();
    let nlink = f.u32();
    let cloexec = f.u32() != 0;
    let path_len = f.u32();
    let path_ref = PathRef::read(f, version, path_len, at)?;
    let path = at.tail(rec, fixed_len::FILE, path_len.into())?;
    Ok(File {
        fd,
        flags,
        pos,
        ino,
        size,
        dev,
        mode,
        mnt_id,
        fmode,
        nlink,
        cloexec,
        path,
        path_ref,
    })
}

fn vma<'r>(f: &mut Fields<'_>, r: PathRec<'r>) -> Result<Vma<&'r [u8]>, WireError> {
    let PathRec { at, rec, version } = r;
    let start = f.u64();
    let end = f.u64();
    let pgoff = f.u64();
    let vm_flags = f.u64();
    let ino = f.u64();
    let dev = f.u32();
    let special = f.u32();
    let path_len = f.u32();
    let path_ref = PathRef::read(f, version, path_len, at)?;
    let path = at.tail(rec, fixed_len::VMA, path_len.into())?;
    Ok(Vma {
        start,
        end,
        pgoff,
        vm_flags,
        ino,
        dev,
        special,
        path,
        path_ref,
    })
}

fn inet(f: &mut Fields<'_>) -> Inet {
    let ino = f.u64();
    let family = f.u16();
    let sock_type = f.u16();
    let protocol = f.u16();
    let state = f.u8();
    let shutdown = f.u8();
    let sport = f.u16();
    let dport = f.u16();
    let bound_dev_if = f.u32();
    let saddr = f.take();
    let daddr = f.take();
    let rcvbuf = f.u32();
    let sndbuf = f.u32();
    let mark = f.u32();
    let opts = f.u32();
    let priority = f.u32();
    let rqueue_bytes = f.u32();
    let wqueue_bytes = f.u32();
    let valid = f.u32();
    let snd_nxt = f.u32();
    let snd_una = f.u32();
    let rcv_nxt = f.u32();
    let write_seq = f.u32();
    let copied_seq = f.u32();
    let snd_wnd = f.u32();
    let rcv_wnd = f.u32();
    let max_window = f.u32();
    let mss_cache = f.u32();
    let snd_wl1 = f.u32();
    let rcv_wup = f.u32();
    let snd_wscale = f.u8();
    let rcv_wscale = f.u8();
    let tcp_opts = f.u8();
    f.skip(1);
    let udp_pending = f.u32();
    let udp_corkflag = f.u32();
    let udp_len = f.u32();
    Inet {
        ino,
        family,
        sock_type,
        protocol,
        state,
        shutdown,
        sport,
        dport,
        bound_dev_if,
        saddr,
        daddr,
        rcvbuf,
        sndbuf,
        mark,
        opts,
        priority,
        rqueue_bytes,
        wqueue_bytes,
        valid,
        snd_nxt,
        snd_una,
        rcv_nxt,
        write_seq,
        copied_seq,
        snd_wnd,
        rcv_wnd,
        max_window,
        mss_cache,
        snd_wl1,
        rcv_wup,
        snd_wscale,
        rcv_wscale,
        tcp_opts,
        udp_pending,
        udp_corkflag,
        udp_len,
    }
}

fn unix(f: &mut Fields<'_>, at: At, rec: &[u8]) -> Result<Unix, WireError> {
    let ino = f.u64();
    let peer_ino = f.u64();
    let sock_type = f.u16();
    let state = f.u8();
    let shutdown = f.u8();
    let rqueue_len = f.u32();
    let path_len = f.u32();
    let peer_path_len = f.u32();
    let both = at.tail(
        rec,
        fixed_len::UNIX,
        u64::from(path_len) + u64::from(peer_path_len),
    )?;
    let (path, peer_path) = both.split_at(path_len as usize);
    Ok(Unix {
        ino,
        peer_ino,
        sock_type,
        state,
        shutdown,
        rqueue_len,
        path: path.to_vec(),
        peer_path: peer_path.to_vec(),
    })
}

fn skb(f: &mut Fields<'_>, at: At, rec: &[u8]) -> Result<Skb, WireError> {
    let sock_ino = f.u64();
    let fd = f.i32();
    let queue = f.u16();
    let flags = f.u16();
    let index = f.u32();
    let frame_len = f.u32();
    let offset = f.u32();
    let data_len = f.u32();
    let tstamp_ns = f.u64();
    let addr = f.take();
    let port = f.u16();
    let family = f.u16();
    let mark = f.u32();
    let data = at.tail(rec, fixed_len::SKB, data_len.into())?.to_vec();
    Ok(Skb {
        sock_ino,
        fd,
        queue,
        flags,
        index,
        frame_len,
        offset,
        tstamp_ns,
        addr,
        port,
        family,
        mark,
        data,
    })
}

/// Encoders for tests and tools: the exact C layout, so decode(encode(x)) == x.
pub mod encode {
    use super::*;

    fn hdr(out: &mut Vec<u8>, rtype: u16, len: usize) {
        hdr_v(out, rtype, 1, len);
    }

    fn hdr_v(out: &mut Vec<u8>, rtype: u16, version: u16, len: usize) {
        out.extend_from_slice(&rtype.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }

    pub fn task(t: &Task) -> Vec<u8> {
        let mut o = Vec::with_capacity(fixed_len::TASK);
        hdr(&mut o, rec_type::TASK, fixed_len::TASK);
        for v in [
            t.tgid, t.pid, t.ppid, t.ns_tgid, t.ns_level, t.uid, t.gid, 0,
        ] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        for n in t.ns_ino {
            o.extend_from_slice(&n.to_le_bytes());
        }
        let mut comm = [0u8; 16];
        let b = t.comm.as_bytes();
        let n = b.len().min(15);
        comm[..n].copy_from_slice(&b[..n]);
        o.extend_from_slice(&comm);
        o
    }

    pub fn file(x: &File) -> Vec<u8> {
        let len = fixed_len::FILE + x.path.len();
        let mut o = Vec::with_capacity(len);
        // v2 only when there is a path slot to say anything about
        let version = if x.path_ref == PathRef::None { 1 } else { 2 };
        hdr_v(&mut o, rec_type::FILE, version, len);
        o.extend_from_slice(&x.fd.to_le_bytes());
        o.extend_from_slice(&x.flags.to_le_bytes());
        o.extend_from_slice(&x.pos.to_le_bytes());
        o.extend_from_slice(&x.ino.to_le_bytes());
        o.extend_from_slice(&x.size.to_le_bytes());
        for v in [
            x.dev,
            x.mode,
            x.mnt_id,
            x.fmode,
            x.nlink,
            u32::from(x.cloexec),
        ] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&(x.path.len() as u32).to_le_bytes());
        o.extend_from_slice(&x.path_ref.encode().to_le_bytes());
        o.extend_from_slice(&x.path);
        o
    }

    pub fn vma(x: &Vma) -> Vec<u8> {
        let len = fixed_len::VMA + x.path.len();
        let mut o = Vec::with_capacity(len);
        let version = if x.path_ref == PathRef::None { 1 } else { 2 };
        hdr_v(&mut o, rec_type::VMA, version, len);
        for v in [x.start, x.end, x.pgoff, x.vm_flags, x.ino] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        for v in [x.dev, x.special, x.path.len() as u32, x.path_ref.encode()] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&x.path);
        o
    }

    pub fn unix(x: &Unix) -> Vec<u8> {
        let len = fixed_len::UNIX + x.path.len() + x.peer_path.len();
        let mut o = Vec::with_capacity(len);
        hdr(&mut o, rec_type::UNIX, len);
        o.extend_from_slice(&x.ino.to_le_bytes());
        o.extend_from_slice(&x.peer_ino.to_le_bytes());
        o.extend_from_slice(&x.sock_type.to_le_bytes());
        o.push(x.state);
        o.push(x.shutdown);
        for v in [x.rqueue_len, x.path.len() as u32, x.peer_path.len() as u32] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&x.path);
        o.extend_from_slice(&x.peer_path);
        o
    }

    pub fn skb(x: &Skb) -> Vec<u8> {
        let len = fixed_len::SKB + x.data.len();
        let mut o = Vec::with_capacity(len);
        hdr(&mut o, rec_type::SKB, len);
        o.extend_from_slice(&x.sock_ino.to_le_bytes());
        o.extend_from_slice(&x.fd.to_le_bytes());
        o.extend_from_slice(&x.queue.to_le_bytes());
        o.extend_from_slice(&x.flags.to_le_bytes());
        for v in [x.index, x.frame_len, x.offset, x.data.len() as u32] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&x.tstamp_ns.to_le_bytes());
        o.extend_from_slice(&x.addr);
        o.extend_from_slice(&x.port.to_le_bytes());
        o.extend_from_slice(&x.family.to_le_bytes());
        o.extend_from_slice(&x.mark.to_le_bytes());
        o.extend_from_slice(&x.data);
        o
    }

    pub fn end(x: &End) -> Vec<u8> {
        let mut o = Vec::with_capacity(fixed_len::END_V2);
        hdr_v(&mut o, rec_type::END, 2, fixed_len::END_V2);
        o.extend_from_slice(&x.prog.to_le_bytes());
        o.extend_from_slice(&x.error.to_le_bytes());
        o.extend_from_slice(&x.records.to_le_bytes());
        o.extend_from_slice(&x.dropped.to_le_bytes());
        o.extend_from_slice(&x.expected.to_le_bytes());
        o.extend_from_slice(&0u32.to_le_bytes());
        o
    }
}
