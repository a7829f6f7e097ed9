//! Wire records (what BPF wrote) to model records (what every engine returns),
//! following the conventions documented in `model.rs`.

use super::wire::{self, WireError};
use crate::model::{
    family, vm_flags, Captured, DevId, FileKind, FileRecord, MappingRecord, Namespaces, SockAddr,
    SockOptions, SocketRecord, TaskRecord, TcpState, UdpState, UnixState, OPEN_FLAGS_MASK,
};
use crate::pathstr::{PathInterner, PathStr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const DELETED: &str = " (deleted)";
const TCP_ESTABLISHED: u8 = 1;

pub fn task(t: &wire::Task) -> TaskRecord {
    let n = &t.ns_ino;
    TaskRecord {
        pid: t.tgid as i32,
        vpid: t.ns_tgid as i32,
        pidns_level: t.ns_level,
        comm: t.comm.clone(),
        namespaces: Namespaces {
            pid: n[0],
            net: n[1],
            mnt: n[2],
            uts: n[3],
            ipc: n[4],
            user: n[5],
            cgroup: n[6],
        },
    }
}

/// The decoded path bytes, shared with the records of this dump that name
/// the same file, without d_path's " (deleted)" mark when `strip` (the
/// model keeps that in `unlinked`).
fn path_of(paths: &mut PathInterner, p: &[u8], strip: bool) -> PathStr {
    let p = match p.strip_suffix(DELETED.as_bytes()) {
        Some(kept) if strip => kept,
        _ => p,
    };
    paths.get(p)
}

/// The paths of one program run: its path slots ([`wire::PathRef`]: a
/// record names the path an earlier record of the run carried) and the
/// interner that makes equal paths one string.
#[derive(Default)]
pub struct Paths {
    interner: PathInterner,
    slots: Vec<Option<PathStr>>,
}

impl Paths {
    fn resolve(
        &mut self,
        bytes: &[u8],
        r: wire::PathRef,
        strip: bool,
        name: &'static str,
    ) -> Result<PathStr, WireError> {
        match r {
            wire::PathRef::None => Ok(path_of(&mut self.interner, bytes, strip)),
            wire::PathRef::Set(n) => {
                let p = path_of(&mut self.interner, bytes, strip);
                let i = usize::from(n);
                if self.slots.len() <= i {
                    self.slots.resize(i + 1, None);
                }
                self.slots[i] = Some(p.clone());
                Ok(p)
            }
            wire::PathRef::Same(n) => self
                .slots
                .get(usize::from(n))
                .and_then(Clone::clone)
                .ok_or(WireError::UnsetPathSlot { name, slot: n }),
        }
    }
}

pub fn file<P: AsRef<[u8]>>(f: wire::File<P>, paths: &mut Paths) -> Result<FileRecord, WireError> {
    let unlinked = f.nlink == 0;
    // d_path marks unlinked files; the model keeps that in `unlinked`.
    let path = paths.resolve(f.path.as_ref(), f.path_ref, unlinked, "file")?;
    let mut kind = FileKind::from_mode(f.mode);
    if kind == FileKind::Unknown && path.starts_with("anon_inode:") {
        kind = FileKind::AnonInode;
    }
    Ok(FileRecord {
        fd: f.fd,
        flags: f.flags & OPEN_FLAGS_MASK,
        cloexec: f.cloexec,
        pos: f.pos as u64,
        kind,
        path,
        unlinked,
        ino: f.ino,
        dev: DevId::from_kernel(f.dev),
        mode: f.mode,
        size: f.size,
    })
}

pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

pub fn vma<P: AsRef<[u8]>>(
    v: wire::Vma<P>,
    page_size: u64,
    paths: &mut Paths,
) -> Result<MappingRecord, WireError> {
    let path = match v.special {
        wire::vma_special::HEAP => PathStr::from("[heap]"),
        wire::vma_special::STACK => PathStr::from("[stack]"),
        // like procfs (and FileRecord): the path without d_path's mark
        _ => paths.resolve(v.path.as_ref(), v.path_ref, true, "vma")?,
    };
    Ok(MappingRecord {
        start: v.start,
        end: v.end,
        flags: v.vm_flags & vm_flags::STABLE_MASK,
        // /proc/PID/maps shows an offset only for file-backed vmas.
        pgoff: if v.ino != 0 {
            v.pgoff.wrapping_mul(page_size)
        } else {
            0
        },
        path,
        ino: v.ino,
        dev: DevId::from_kernel(v.dev),
    })
}

fn inet_addr(fam: u16, raw: &[u8; 16], port: u16) -> SockAddr {
    let ip = if fam == family::INET6 {
        IpAddr::V6(Ipv6Addr::from(*raw))
    } else {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    };
    if port == 0 && ip.is_unspecified() {
        SockAddr::None
    } else {
        SockAddr::Inet { ip, port }
    }
}

fn unix_addr(path: &[u8]) -> SockAddr {
    if path.is_empty() {
        SockAddr::None
    } else {
        SockAddr::Unix {
            path: path.to_vec(),
        }
    }
}

/// Queues are filled by `DumpEngine::queues`; until then they are unread.
fn unread() -> Captured<Vec<crate::model::Segment>> {
    Captured::unavailable("queues not dumped")
}

pub fn inet(s: &wire::Inet) -> SocketRecord {
    use wire::{sockopt, tcpopt};
    let is_tcp = s.valid & wire::INET_TCP != 0;
    let bit = |b: u32| Some(s.opts & b != 0);
    SocketRecord {
        ino: s.ino,
        family: s.family,
        sock_type: s.sock_type,
        protocol: s.protocol,
        state: s.state,
        local: inet_addr(s.family, &s.saddr, s.sport),
        remote: inet_addr(s.family, &s.daddr, s.dport),
        options: SockOptions {
            reuseaddr: bit(sockopt::REUSEADDR),
            reuseport: bit(sockopt::REUSEPORT),
            keepalive: bit(sockopt::KEEPALIVE),
            broadcast: bit(sockopt::BROADCAST),
            sndbuf: Some(s.sndbuf),
            rcvbuf: Some(s.rcvbuf),
            priority: Some(s.priority),
            nodelay: is_tcp.then_some(s.opts & sockopt::NODELAY != 0),
        },
        // like procfs: sequence state only for established connections
        // (what TCP_REPAIR can restore; a listener has none)
        tcp: (is_tcp && s.state == TCP_ESTABLISHED).then(|| TcpState {
            write_seq: s.write_seq,
            rcv_nxt: s.rcv_nxt,
            snd_una: s.snd_una,
            unsent_len: s.write_seq.wrapping_sub(s.snd_nxt),
            snd_wl1: s.snd_wl1,
            snd_wnd: s.snd_wnd,
            max_window: s.max_window,
            rcv_wnd: s.rcv_wnd,
            rcv_wup: s.rcv_wup,
            mss: s.mss_cache,
            snd_wscale: s.snd_wscale,
            rcv_wscale: s.rcv_wscale,
            timestamps: s.tcp_opts & tcpopt::TIMESTAMPS != 0,
            sack: s.tcp_opts & tcpopt::SACK != 0,
            wscale: s.tcp_opts & tcpopt::WSCALE != 0,
        }),
        udp: (s.valid & wire::INET_UDP != 0).then_some(UdpState {
            corked: s.udp_corkflag != 0 || s.udp_pending != 0,
            pending_len: Some(s.udp_len),
        }),
        unix: None,
        recv_queue: unread(),
        write_queue: unread(),
    }
}

pub fn unix(u: &wire::Unix) -> SocketRecord {
    SocketRecord {
        ino: u.ino,
        family: family::UNIX,
        sock_type: u.sock_type,
        protocol: 0,
        state: u.state,
        local: unix_addr(&u.path),
        remote: unix_addr(&u.peer_path),
        options: SockOptions::default(),
        tcp: None,
        udp: None,
        unix: Some(UnixState {
            peer_ino: u.peer_ino,
        }),
        recv_queue: unread(),
        write_queue: unread(),
    }
}
