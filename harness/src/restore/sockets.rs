//! Sockets: unix pairs, UDP (incl. corked write queues), TCP (listen, repair).

use super::{Placed, RestoreError};
use crate::engine::procfs::sockets::{
    TcpRepairWindow, SOL_UDP, TCP_QUEUE_SEQ, TCP_RECV_QUEUE, TCP_REPAIR, TCP_REPAIR_OPTIONS,
    TCP_REPAIR_QUEUE, TCP_REPAIR_WINDOW, TCP_SEND_QUEUE, UDP_CORK,
};
use crate::model::{family, Captured, Dump, FileKind, FileRecord, Segment, SockAddr, SocketRecord};
use crate::sys;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

const TCP_LISTEN: u8 = 10;
const TCP_ESTABLISHED: u8 = 1;

/// A TCP socket still in repair mode, with the unsent bytes to write after.
pub struct PendingTcp {
    unsent: Vec<u8>,
    /// First descriptor number of the socket (it lives there after placement).
    target: i32,
}

type R<T> = Result<T, RestoreError>;

fn queue<'a>(f: &FileRecord, s: &'a SocketRecord, which: &str) -> R<&'a Vec<Segment>> {
    let q = if which == "receive" {
        &s.recv_queue
    } else {
        &s.write_queue
    };
    match q {
        Captured::Data(v) => Ok(v),
        Captured::Unavailable { reason } => Err(RestoreError::obj(
            f,
            format!("the image has no {which} queue for this socket: {reason}"),
        )),
    }
}

pub fn restore_sockets(
    d: &Dump,
    files: &[&FileRecord],
    placed: &mut Vec<Placed>,
) -> R<Vec<PendingTcp>> {
    let mut made: Vec<(u64, OwnedFd)> = Vec::new();
    let mut pending = Vec::new();
    let mut udp: Vec<(&FileRecord, &SocketRecord, RawFd)> = Vec::new();
    for f in files.iter().filter(|f| f.kind == FileKind::Socket) {
        if made.iter().any(|(ino, _)| *ino == f.ino) {
            continue;
        }
        let s = d
            .socket(f.ino)
            .ok_or_else(|| RestoreError::obj(f, "no socket record in the image"))?;
        match s.family {
            family::UNIX => restore_unix(d, files, f, s, &mut made)?,
            family::INET | family::INET6 if s.protocol == libc::IPPROTO_UDP as u16 => {
                let fd = make_udp(f, s)?;
                udp.push((f, s, fd.as_raw_fd()));
                made.push((s.ino, fd));
            }
            family::INET | family::INET6 if s.protocol == libc::IPPROTO_TCP as u16 => {
                let (fd, p) = make_tcp(f, s)?;
                if let Some(mut p) = p {
                    p.target = f.fd;
                    pending.push(p);
                }
                made.push((s.ino, fd));
            }
            _ => {
                return Err(RestoreError::obj(
                    f,
                    format!(
                        "family {} protocol {} is not restorable",
                        s.family, s.protocol
                    ),
                ))
            }
        }
    }
    replay_udp(&udp)?;
    // Every descriptor of a socket gets a copy of the one object.
    for f in files.iter().filter(|f| f.kind == FileKind::Socket) {
        let Some((_, fd)) = made.iter().find(|(ino, _)| *ino == f.ino) else {
            continue;
        };
        let fd = fd
            .try_clone()
            .map_err(|e| RestoreError::obj(f, format!("dup: {e}")))?;
        set_nonblock(&fd, f)?;
        placed.push(Placed {
            target: f.fd,
            fd,
            cloexec: f.cloexec,
        });
    }
    Ok(pending)
}

/// Pending TCP fds were recorded before placement; after it they live at
/// their target numbers.
pub fn finish_tcp(pending: Vec<PendingTcp>) -> R<()> {
    for p in pending {
        let fd = p.target;
        sys::setsockopt_int(fd, libc::IPPROTO_TCP, TCP_REPAIR, 0)
            .map_err(RestoreError::sys(format!("fd {fd}: leave TCP_REPAIR")))?;
        if !p.unsent.is_empty() {
            sys::send(fd, &p.unsent, libc::MSG_DONTWAIT)
                .map_err(RestoreError::sys(format!("fd {fd}: send unsent data")))?;
        }
    }
    Ok(())
}

/// O_NONBLOCK is a property of the open file, not of the socket.
fn set_nonblock(fd: &OwnedFd, f: &FileRecord) -> R<()> {
    let raw = fd.as_raw_fd();
    let fl = sys::fcntl(raw, libc::F_GETFL, 0)
        .map_err(|e| RestoreError::obj(f, format!("F_GETFL: {e}")))?;
    let fl = if f.flags & libc::O_NONBLOCK as u32 != 0 {
        fl | libc::O_NONBLOCK
    } else {
        fl & !libc::O_NONBLOCK
    };
    sys::fcntl(raw, libc::F_SETFL, fl as libc::c_long)
        .map_err(|e| RestoreError::obj(f, format!("F_SETFL: {e}")))?;
    Ok(())
}

fn set_common_options(fd: RawFd, f: &FileRecord, s: &SocketRecord) -> R<()> {
    let o = &s.options;
    let sol = libc::SOL_SOCKET;
    for (v, name, opt) in [
        (o.reuseaddr, "SO_REUSEADDR", libc::SO_REUSEADDR),
        (o.reuseport, "SO_REUSEPORT", libc::SO_REUSEPORT),
        (o.keepalive, "SO_KEEPALIVE", libc::SO_KEEPALIVE),
        (o.broadcast, "SO_BROADCAST", libc::SO_BROADCAST),
    ] {
        if let Some(v) = v {
            sys::setsockopt_int(fd, sol, opt, i32::from(v))
                .map_err(|e| RestoreError::obj(f, format!("{name}: {e}")))?;
        }
    }
    if let Some(p) = o.priority {
        sys::setsockopt_int(fd, sol, libc::SO_PRIORITY, p as i32)
            .map_err(|e| RestoreError::obj(f, format!("SO_PRIORITY: {e}")))?;
    }
    Ok(())
}

fn restore_unix(
    d: &Dump,
    files: &[&FileRecord],
    f: &FileRecord,
    s: &SocketRecord,
    made: &mut Vec<(u64, OwnedFd)>,
) -> R<()> {
    if s.local != SockAddr::None {
        return Err(RestoreError::obj(
            f,
            "bound (named) unix sockets are not restorable yet",
        ));
    }
    let peer_ino = s.unix.as_ref().map(|u| u.peer_ino).unwrap_or(0);
    let ty = i32::from(s.sock_type);
    if peer_ino == 0 {
        let fd = sys::socket(libc::AF_UNIX, ty, 0)
            .map_err(|e| RestoreError::obj(f, format!("socket: {e}")))?;
        made.push((s.ino, fd));
        return Ok(());
    }
    let peer = d
        .socket(peer_ino)
        .filter(|_| {
            files
                .iter()
                .any(|pf| pf.kind == FileKind::Socket && pf.ino == peer_ino)
        })
        .ok_or_else(|| {
            RestoreError::obj(
                f,
                format!("peer socket ino {peer_ino} is not open in the task"),
            )
        })?;
    let (a, b) = sys::socketpair(libc::AF_UNIX, ty)
        .map_err(|e| RestoreError::obj(f, format!("socketpair: {e}")))?;
    // Data queued for `s` was written by its peer, and the other way round.
    for (rec, writer) in [(s, &b), (peer, &a)] {
        for seg in queue(f, rec, "receive")? {
            sys::send(writer.as_raw_fd(), &seg.data, libc::MSG_DONTWAIT).map_err(|e| {
                RestoreError::obj(f, format!("refill queue of ino {}: {e}", rec.ino))
            })?;
        }
    }
    made.push((s.ino, a));
    made.push((peer.ino, b));
    Ok(())
}

fn af(s: &SocketRecord) -> i32 {
    if s.family == family::INET6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    }
}

fn bound(a: &SockAddr) -> bool {
    matches!(a, SockAddr::Inet { port, .. } if *port != 0)
}

fn make_udp(f: &FileRecord, s: &SocketRecord) -> R<OwnedFd> {
    let fd = sys::socket(af(s), libc::SOCK_DGRAM, libc::IPPROTO_UDP)
        .map_err(|e| RestoreError::obj(f, format!("socket: {e}")))?;
    let raw = fd.as_raw_fd();
    set_common_options(raw, f, s)?;
    // Receive-queue replay binds helpers to the senders' addresses, which
    // may be other restored sockets: share ports until replay is done.
    sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
        .map_err(|e| RestoreError::obj(f, format!("SO_REUSEADDR: {e}")))?;
    if bound(&s.local) {
        sys::bind(raw, &s.local)
            .map_err(|e| RestoreError::obj(f, format!("bind {:?}: {e}", s.local)))?;
    }
    if s.remote != SockAddr::None {
        sys::connect(raw, &s.remote)
            .map_err(|e| RestoreError::obj(f, format!("connect {:?}: {e}", s.remote)))?;
    }
    Ok(fd)
}

/// Where a datagram sent "to" a socket bound to `a` arrives.
fn reachable(a: &SockAddr) -> SockAddr {
    match a {
        SockAddr::Inet { ip, port } if ip.is_unspecified() => SockAddr::Inet {
            ip: match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
            port: *port,
        },
        other => other.clone(),
    }
}

/// On the patched kernel, `bpf_crib_udp_queue_rcv` puts a datagram straight
/// on a receive queue with its original source (any address, not only a
/// local one this process could bind).
fn kfunc_replay(
    restorer: &Option<crate::engine::crib::CribRestorer>,
    fd: RawFd,
    seg: &Segment,
) -> Option<Result<(), String>> {
    let r = restorer.as_ref()?;
    let Some(SockAddr::Inet { ip, port }) = &seg.addr else {
        return None;
    };
    let d = crate::engine::crib::RestoreDatagram {
        data: &seg.data,
        source: (*ip, *port),
        tstamp_ns: 0,
        mark: 0,
        ifindex: 0,
        tos: 0,
    };
    Some(
        r.udp_queue_rcv(std::process::id() as i32, fd, &d)
            .map_err(|e| e.to_string()),
    )
}

fn replay_udp(udp: &[(&FileRecord, &SocketRecord, RawFd)]) -> R<()> {
    let any_queued = udp
        .iter()
        .any(|(_, s, _)| s.recv_queue.data().is_some_and(|q| !q.is_empty()));
    let restorer = if any_queued {
        crate::engine::crib::CribRestorer::open().ok()
    } else {
        None
    };
    for &(f, s, fd) in udp {
        let rq = queue(f, s, "receive")?;
        for seg in rq {
            match kfunc_replay(&restorer, fd, seg) {
                Some(Ok(())) => continue,
                Some(Err(e)) => {
                    return Err(RestoreError::obj(f, format!("bpf_crib_udp_queue_rcv: {e}")))
                }
                None => {}
            }
            let src = seg.addr.clone().unwrap_or(SockAddr::None);
            let helper = sys::socket(af(s), libc::SOCK_DGRAM, libc::IPPROTO_UDP)
                .map_err(|e| RestoreError::obj(f, format!("helper socket: {e}")))?;
            let h = helper.as_raw_fd();
            let _ = sys::setsockopt_int(h, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
            if bound(&src) {
                sys::bind(h, &src).map_err(|e| {
                    RestoreError::obj(f, format!("bind helper to sender {src:?}: {e}"))
                })?;
            }
            sys::sendto(h, &seg.data, &reachable(&s.local))
                .map_err(|e| RestoreError::obj(f, format!("replay datagram: {e}")))?;
        }
        wait_queued(fd, rq.len());
    }
    for &(f, s, fd) in udp {
        let reuse = i32::from(s.options.reuseaddr.unwrap_or(false));
        sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, reuse)
            .map_err(|e| RestoreError::obj(f, format!("SO_REUSEADDR: {e}")))?;
        let Some(u) = &s.udp else { continue };
        if !u.corked {
            continue;
        }
        let wq = queue(f, s, "write")?;
        sys::setsockopt_int(fd, SOL_UDP, UDP_CORK, 1)
            .map_err(|e| RestoreError::obj(f, format!("UDP_CORK: {e}")))?;
        for seg in wq {
            let to = seg.addr.clone().unwrap_or(SockAddr::None);
            let to = if s.remote != SockAddr::None {
                SockAddr::None
            } else {
                to
            };
            sys::sendto(fd, &seg.data, &to)
                .map_err(|e| RestoreError::obj(f, format!("replay corked frame: {e}")))?;
        }
    }
    Ok(())
}

/// Loopback delivery is synchronous in practice; poll briefly to be sure the
/// replayed datagrams are queued before the command runs.
fn wait_queued(fd: RawFd, n: usize) {
    if n == 0 {
        return;
    }
    for _ in 0..100 {
        if sys::ioctl_int(fd, crate::engine::procfs::sockets::SIOCINQ).unwrap_or(0) > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `struct tcp_repair_opt`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RepairOpt {
    code: u32,
    val: u32,
}

fn make_tcp(f: &FileRecord, s: &SocketRecord) -> R<(OwnedFd, Option<PendingTcp>)> {
    let fd = sys::socket(af(s), libc::SOCK_STREAM, libc::IPPROTO_TCP)
        .map_err(|e| RestoreError::obj(f, format!("socket: {e}")))?;
    let raw = fd.as_raw_fd();
    let e = |what: &str| {
        let what = what.to_string();
        move |err: std::io::Error| RestoreError::obj(f, format!("{what}: {err}"))
    };
    let tcpopt = |name, v: i32| sys::setsockopt_int(raw, libc::IPPROTO_TCP, name, v);
    match (s.state, &s.tcp) {
        (TCP_LISTEN, _) => {
            set_common_options(raw, f, s)?;
            sys::setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
                .map_err(e("SO_REUSEADDR"))?;
            sys::bind(raw, &s.local).map_err(e("bind"))?;
            // SAFETY: listen on our socket.
            if unsafe { libc::listen(raw, 128) } < 0 {
                return Err(e("listen")(std::io::Error::last_os_error()));
            }
            Ok((fd, None))
        }
        (TCP_ESTABLISHED, Some(t)) => {
            let rq: Vec<u8> = queue(f, s, "receive")?
                .iter()
                .flat_map(|g| g.data.clone())
                .collect();
            let wq: Vec<u8> = queue(f, s, "write")?
                .iter()
                .flat_map(|g| g.data.clone())
                .collect();
            let unsent = (t.unsent_len as usize).min(wq.len());
            let sent = wq.len() - unsent;
            // Options first: SO_REUSEADDR would reset the forced port reuse
            // that entering repair mode sets.
            set_common_options(raw, f, s)?;
            tcpopt(TCP_REPAIR, 1).map_err(e("TCP_REPAIR"))?;
            tcpopt(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE).map_err(e("TCP_REPAIR_QUEUE"))?;
            tcpopt(
                TCP_QUEUE_SEQ,
                t.rcv_nxt.wrapping_sub(rq.len() as u32) as i32,
            )
            .map_err(e("TCP_QUEUE_SEQ recv"))?;
            tcpopt(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE).map_err(e("TCP_REPAIR_QUEUE"))?;
            tcpopt(
                TCP_QUEUE_SEQ,
                t.write_seq.wrapping_sub(wq.len() as u32) as i32,
            )
            .map_err(e("TCP_QUEUE_SEQ send"))?;
            sys::bind(raw, &s.local).map_err(e("bind"))?;
            // The repair connect sizes segments from the MSS clamp it finds
            // (536 by default): give it the dumped MSS, or the restored
            // connection would send 524-byte segments.
            if t.mss >= 88 {
                tcpopt(libc::TCP_MAXSEG, t.mss.min(32767) as i32).map_err(e("TCP_MAXSEG"))?;
            }
            sys::connect(raw, &s.remote).map_err(e("repair connect"))?;
            let mut opts = vec![RepairOpt {
                code: 2,
                val: t.mss,
            }];
            if t.wscale {
                opts.push(RepairOpt {
                    code: 3,
                    val: u32::from(t.snd_wscale) | (u32::from(t.rcv_wscale) << 16),
                });
            }
            if t.sack {
                opts.push(RepairOpt { code: 4, val: 0 });
            }
            if t.timestamps {
                opts.push(RepairOpt { code: 8, val: 0 });
            }
            // SAFETY: opts is a contiguous array of repr(C) tcp_repair_opt.
            let r = unsafe {
                libc::setsockopt(
                    raw,
                    libc::IPPROTO_TCP,
                    TCP_REPAIR_OPTIONS,
                    opts.as_ptr().cast(),
                    (opts.len() * std::mem::size_of::<RepairOpt>()) as libc::socklen_t,
                )
            };
            if r < 0 {
                return Err(e("TCP_REPAIR_OPTIONS")(std::io::Error::last_os_error()));
            }
            if !rq.is_empty() {
                tcpopt(TCP_REPAIR_QUEUE, TCP_RECV_QUEUE).map_err(e("TCP_REPAIR_QUEUE"))?;
                send_all(raw, &rq).map_err(e("refill receive queue"))?;
            }
            if sent > 0 {
                tcpopt(TCP_REPAIR_QUEUE, TCP_SEND_QUEUE).map_err(e("TCP_REPAIR_QUEUE"))?;
                send_all(raw, &wq[..sent]).map_err(e("refill send queue"))?;
            }
            // After the refills: the kernel checks rcv_wup against rcv_nxt.
            let win = TcpRepairWindow {
                snd_wl1: t.snd_wl1,
                snd_wnd: t.snd_wnd,
                max_window: t.max_window,
                rcv_wnd: t.rcv_wnd,
                rcv_wup: t.rcv_wup,
            };
            sys::setsockopt_raw(raw, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW, &win)
                .map_err(e("TCP_REPAIR_WINDOW"))?;
            Ok((
                fd,
                Some(PendingTcp {
                    unsent: wq[sent..].to_vec(),
                    target: f.fd,
                }),
            ))
        }
        // Never connected nor bound: a fresh socket is the same thing.
        (_, _) if !bound(&s.local) => {
            set_common_options(raw, f, s)?;
            Ok((fd, None))
        }
        (st, _) => Err(RestoreError::obj(
            f,
            format!("TCP state {st} is not restorable"),
        )),
    }
}

fn send_all(fd: RawFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = sys::send(fd, data, 0)?;
        data = &data[n..];
    }
    Ok(())
}
