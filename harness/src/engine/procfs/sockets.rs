//! Sockets through a copy of the target's descriptor: getsockopt,
//! getsockname/getpeername, TCP_INFO and TCP_REPAIR, UNIX_DIAG for peers.

use super::unix_diag::{dump_unix, UnixDiag};
use super::{io_err, parse_err};
use crate::engine::EngineResult;
use crate::model::{
    family, Captured, FileKind, FileRecord, SockOptions, SocketRecord, TcpState, UdpState,
    UnixState,
};
use crate::sys;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_REPAIR: i32 = 19;
pub const TCP_REPAIR_QUEUE: i32 = 20;
pub const TCP_QUEUE_SEQ: i32 = 21;
/// Set by restore (crate::restore::tcp).
pub const TCP_REPAIR_OPTIONS: i32 = 22;
pub const TCP_REPAIR_WINDOW: i32 = 29;
pub const TCP_RECV_QUEUE: i32 = 1;
pub const TCP_SEND_QUEUE: i32 = 2;
/// Leave repair mode without sending a window probe.
pub const TCP_REPAIR_OFF_NO_WP: i32 = -1;
pub const SIOCINQ: libc::c_ulong = 0x541B;
pub const SIOCOUTQ: libc::c_ulong = 0x5411;
pub const SIOCOUTQNSD: libc::c_ulong = 0x894B;
pub const SOL_UDP: i32 = 17;
pub const UDP_CORK: i32 = 1;

/// `struct tcp_repair_window`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpRepairWindow {
    pub snd_wl1: u32,
    pub snd_wnd: u32,
    pub max_window: u32,
    pub rcv_wnd: u32,
    pub rcv_wup: u32,
}

pub fn read_sockets(pid: i32, files: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
    let socks: Vec<&FileRecord> = files
        .iter()
        .filter(|f| f.kind == FileKind::Socket)
        .collect();
    if socks.is_empty() {
        return Ok(Vec::new());
    }
    let pidfd = sys::pidfd_open(pid).map_err(io_err(pid, "pidfd_open"))?;
    let mut unix: Option<HashMap<u64, UnixDiag>> = None;
    let mut out: Vec<SocketRecord> = Vec::new();
    for f in socks {
        if out.iter().any(|s| s.ino == f.ino) {
            continue; // the same socket behind several descriptors
        }
        let what = format!("pidfd_getfd fd {}", f.fd);
        let fd = sys::pidfd_getfd(&pidfd, f.fd).map_err(io_err(pid, &what))?;
        let mut rec = read_one(pid, f, &fd)?;
        if rec.family == family::UNIX {
            if unix.is_none() {
                unix = Some(dump_unix(pid).map_err(io_err(pid, "sock_diag UNIX_DIAG dump"))?);
            }
            let d = unix
                .as_ref()
                .and_then(|m| m.get(&rec.ino))
                .copied()
                .unwrap_or_default();
            rec.state = d.state;
            rec.unix = Some(UnixState {
                peer_ino: d.peer_ino,
            });
        }
        out.push(rec);
    }
    Ok(out)
}

fn opt_bool(fd: RawFd, level: i32, name: i32) -> Option<bool> {
    sys::getsockopt_int(fd, level, name).ok().map(|v| v != 0)
}
fn opt_u32(fd: RawFd, level: i32, name: i32) -> Option<u32> {
    sys::getsockopt_int(fd, level, name).ok().map(|v| v as u32)
}

fn read_one(pid: i32, f: &FileRecord, fd: &OwnedFd) -> EngineResult<SocketRecord> {
    let raw = fd.as_raw_fd();
    let ctx = |w: &str| format!("fd {}: {w}", f.fd);
    let fam = sys::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_DOMAIN)
        .map_err(io_err(pid, &ctx("SO_DOMAIN")))? as u16;
    let ty = sys::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_TYPE)
        .map_err(io_err(pid, &ctx("SO_TYPE")))? as u16;
    let proto = sys::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_PROTOCOL)
        .map_err(io_err(pid, &ctx("SO_PROTOCOL")))? as u16;
    let local = sys::getsockname(raw).map_err(io_err(pid, &ctx("getsockname")))?;
    let remote = sys::getpeername(raw).map_err(io_err(pid, &ctx("getpeername")))?;
    let inet = fam == family::INET || fam == family::INET6;
    let is_tcp = inet && proto == libc::IPPROTO_TCP as u16;
    let is_udp = inet && proto == libc::IPPROTO_UDP as u16;
    let options = SockOptions {
        reuseaddr: opt_bool(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR),
        reuseport: opt_bool(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT),
        keepalive: opt_bool(raw, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        broadcast: opt_bool(raw, libc::SOL_SOCKET, libc::SO_BROADCAST),
        sndbuf: opt_u32(raw, libc::SOL_SOCKET, libc::SO_SNDBUF),
        rcvbuf: opt_u32(raw, libc::SOL_SOCKET, libc::SO_RCVBUF),
        priority: opt_u32(raw, libc::SOL_SOCKET, libc::SO_PRIORITY),
        nodelay: if is_tcp {
            opt_bool(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY)
        } else {
            None
        },
    };
    let mut state = if remote == crate::model::SockAddr::None {
        TCP_CLOSE
    } else {
        TCP_ESTABLISHED
    };
    let mut tcp = None;
    let mut udp = None;
    if is_tcp {
        let info: [u8; 232] = sys::getsockopt_raw(raw, libc::IPPROTO_TCP, libc::TCP_INFO)
            .map_err(io_err(pid, &ctx("TCP_INFO")))?;
        state = info[0];
        if state == TCP_ESTABLISHED {
            tcp = Some(read_tcp_repair(raw, &info).map_err(io_err(pid, &ctx("TCP_REPAIR")))?);
        }
    }
    if is_udp {
        let corked = sys::getsockopt_int(raw, SOL_UDP, UDP_CORK)
            .map_err(io_err(pid, &ctx("UDP_CORK")))?
            != 0;
        udp = Some(UdpState {
            corked,
            pending_len: None,
        });
    }
    if !inet && fam != family::UNIX {
        return Err(parse_err(
            pid,
            ctx(&format!("socket family {fam} is not supported")),
        ));
    }
    Ok(SocketRecord {
        ino: f.ino,
        family: fam,
        sock_type: ty,
        protocol: proto,
        state,
        local,
        remote,
        options,
        tcp,
        udp,
        unix: None,
        recv_queue: Captured::unavailable("socket queues are read by the queues operation"),
        write_queue: Captured::unavailable("socket queues are read by the queues operation"),
    })
}

/// Repair mode on, read, repair mode off (without a window probe).
pub struct RepairGuard(RawFd);

impl RepairGuard {
    pub fn enter(fd: RawFd) -> std::io::Result<RepairGuard> {
        sys::setsockopt_int(fd, libc::IPPROTO_TCP, TCP_REPAIR, 1)?;
        Ok(RepairGuard(fd))
    }
}

impl Drop for RepairGuard {
    fn drop(&mut self) {
        let _ = sys::setsockopt_int(self.0, libc::IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP);
    }
}

pub fn queue_seq(fd: RawFd, queue: i32) -> std::io::Result<u32> {
    sys::setsockopt_int(fd, libc::IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)?;
    Ok(sys::getsockopt_int(fd, libc::IPPROTO_TCP, TCP_QUEUE_SEQ)? as u32)
}

fn read_tcp_repair(fd: RawFd, info: &[u8; 232]) -> std::io::Result<TcpState> {
    let outq = sys::ioctl_int(fd, SIOCOUTQ)? as u32;
    let unsent = sys::ioctl_int(fd, SIOCOUTQNSD)? as u32;
    let mss = sys::getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG)? as u32;
    let _g = RepairGuard::enter(fd)?;
    let write_seq = queue_seq(fd, TCP_SEND_QUEUE)?;
    let rcv_nxt = queue_seq(fd, TCP_RECV_QUEUE)?;
    let w: TcpRepairWindow = sys::getsockopt_raw(fd, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW)?;
    let opts = info[5];
    Ok(TcpState {
        write_seq,
        rcv_nxt,
        snd_una: write_seq.wrapping_sub(outq),
        unsent_len: unsent,
        snd_wl1: w.snd_wl1,
        snd_wnd: w.snd_wnd,
        max_window: w.max_window,
        rcv_wnd: w.rcv_wnd,
        rcv_wup: w.rcv_wup,
        mss,
        snd_wscale: info[6] & 0xf,
        rcv_wscale: info[6] >> 4,
        timestamps: opts & 1 != 0,
        sack: opts & 2 != 0,
        wscale: opts & 4 != 0,
    })
}
