//! Queued data: pipes by tee(2), unix/UDP receive queues by MSG_PEEK with
//! SO_PEEK_OFF, TCP queues in repair mode. UDP write queues are invisible
//! here: a corked socket with pending data gets `Captured::Unavailable`.

use super::sockets::{queue_seq, RepairGuard, SIOCINQ, SIOCOUTQ, TCP_RECV_QUEUE, TCP_SEND_QUEUE};
use super::{io_err, parse_err};
use crate::engine::EngineResult;
use crate::model::{family, Captured, FileKind, FileRecord, PipeRecord, Segment, SocketRecord};
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

const SO_PEEK_OFF: i32 = 42;
const MAX_DGRAM: usize = 256 * 1024;

pub fn read_queues(
    pid: i32,
    files: &[FileRecord],
    sockets: &mut [SocketRecord],
    pipes: &mut [PipeRecord],
) -> EngineResult<()> {
    // first fd of each pipe and socket inode (the dump's files are in fd order)
    let mut first_fd: std::collections::BTreeMap<(bool, u64), &FileRecord> = Default::default();
    for f in files {
        if matches!(f.kind, FileKind::Pipe | FileKind::Socket) {
            first_fd
                .entry((f.kind == FileKind::Pipe, f.ino))
                .or_insert(f);
        }
    }
    for p in pipes.iter_mut() {
        let Some(f) = first_fd.get(&(true, p.ino)) else {
            continue;
        };
        let link = format!("/proc/{pid}/fd/{}", f.fd);
        p.data = Captured::Data(peek_pipe(&link).map_err(io_err(pid, &format!("{link}: tee")))?);
    }
    if sockets.is_empty() {
        return Ok(());
    }
    let pidfd = sys::pidfd_open(pid).map_err(io_err(pid, "pidfd_open"))?;
    for s in sockets.iter_mut() {
        let Some(f) = first_fd.get(&(false, s.ino)) else {
            return Err(parse_err(
                pid,
                format!("socket ino {} has no descriptor", s.ino),
            ));
        };
        let fd = sys::pidfd_getfd(&pidfd, f.fd)
            .map_err(io_err(pid, &format!("pidfd_getfd fd {}", f.fd)))?;
        let ctx = format!("fd {}: reading queues", f.fd);
        read_socket_queues(s, &fd).map_err(io_err(pid, &ctx))?;
    }
    Ok(())
}

fn read_socket_queues(s: &mut SocketRecord, fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    if s.tcp.is_some() {
        let _g = RepairGuard::enter(raw)?;
        let inq = sys::ioctl_int(raw, SIOCINQ)? as usize;
        let outq = sys::ioctl_int(raw, SIOCOUTQ)? as usize;
        queue_seq(raw, TCP_RECV_QUEUE)?;
        s.recv_queue = Captured::Data(stream_segment(peek_exact(raw, inq)?));
        queue_seq(raw, TCP_SEND_QUEUE)?;
        s.write_queue = Captured::Data(stream_segment(peek_exact(raw, outq)?));
        return Ok(());
    }
    if s.protocol == libc::IPPROTO_TCP as u16 {
        // Listening or closed TCP: nothing queued that restore could replay.
        s.recv_queue = Captured::Data(Vec::new());
        s.write_queue = Captured::Data(Vec::new());
        return Ok(());
    }
    s.recv_queue = Captured::Data(peek_all(raw, s.is_stream())?);
    s.write_queue = match &s.udp {
        Some(u) if u.corked => {
            let pending = sys::ioctl_int(raw, SIOCOUTQ)?;
            if pending == 0 {
                Captured::Data(Vec::new())
            } else {
                Captured::unavailable(format!(
                    "procfs cannot see the write queue of a corked UDP socket \
                     ({pending} bytes of skb memory pending; needs the crib engine)"
                ))
            }
        }
        // Unix sockets queue on the receiver; uncorked UDP sends at once.
        _ if s.family == family::UNIX || s.udp.is_some() => Captured::Data(Vec::new()),
        _ => Captured::unavailable("write queue of this socket type is not read by procfs"),
    };
    Ok(())
}

fn stream_segment(data: Vec<u8>) -> Vec<Segment> {
    if data.is_empty() {
        Vec::new()
    } else {
        vec![Segment { data, addr: None }]
    }
}

fn peek_exact(fd: RawFd, len: usize) -> io::Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; len];
    let (n, _) = sys::recvfrom(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT)?;
    if n != len {
        return Err(io::Error::other(format!(
            "peeked {n} of {len} queued bytes"
        )));
    }
    Ok(buf)
}

/// Every queued datagram (or the whole stream) without consuming it.
fn peek_all(fd: RawFd, stream: bool) -> io::Result<Vec<Segment>> {
    let old = sys::getsockopt_int(fd, libc::SOL_SOCKET, SO_PEEK_OFF)?;
    sys::setsockopt_int(fd, libc::SOL_SOCKET, SO_PEEK_OFF, 0)?;
    let res = peek_loop(fd, stream);
    sys::setsockopt_int(fd, libc::SOL_SOCKET, SO_PEEK_OFF, old)?;
    res
}

fn peek_loop(fd: RawFd, stream: bool) -> io::Result<Vec<Segment>> {
    let mut out: Vec<Segment> = Vec::new();
    let mut buf = vec![0u8; MAX_DGRAM];
    loop {
        match sys::recvfrom(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Ok((0, _)) if stream => break,
            Ok((n, addr)) => {
                let addr = (!stream && addr != crate::model::SockAddr::None).then_some(addr);
                out.push(Segment {
                    data: buf[..n].to_vec(),
                    addr,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if stream {
        let data: Vec<u8> = out.into_iter().flat_map(|s| s.data).collect();
        return Ok(stream_segment(data));
    }
    Ok(out)
}

/// Buffered bytes of a pipe, duplicated with tee(2) (nothing is consumed).
fn peek_pipe(link: &str) -> io::Result<Vec<u8>> {
    let path = sys::cstring(link)?;
    // SAFETY: valid C string; the result is checked and owned below.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: new descriptor, owned here.
    let src = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let size = sys::fcntl(src.as_raw_fd(), libc::F_GETPIPE_SZ, 0)?;
    let (r, w) = sys::pipe()?;
    sys::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_long)?;
    sys::fcntl(
        r.as_raw_fd(),
        libc::F_SETFL,
        libc::O_NONBLOCK as libc::c_long,
    )?;
    let n = match sys::tee(src.as_raw_fd(), w.as_raw_fd(), size as usize) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = sys::read(r.as_raw_fd(), &mut out[got..])?;
        if k == 0 {
            break;
        }
        got += k;
    }
    out.truncate(got);
    Ok(out)
}
