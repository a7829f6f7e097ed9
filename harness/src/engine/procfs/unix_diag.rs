//! UNIX_DIAG over NETLINK_SOCK_DIAG: state, peer inode and queue lengths of
//! unix sockets (what /proc/net/unix does not show).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnixDiag {
    pub state: u8,
    pub peer_ino: u64,
    /// For listeners the accept backlog, else bytes/skbs queued to read.
    pub rqueue: u32,
}

/// Every unix socket in the network namespace of `pid` (the netlink socket is
/// opened from a thread that joined that namespace).
pub fn dump_unix(pid: i32) -> io::Result<HashMap<u64, UnixDiag>> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this thread only, with a namespace fd we own.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                return Err(io::Error::last_os_error());
            }
            dump_here()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("unix_diag thread panicked")))
    })
}

fn dump_here() -> io::Result<HashMap<u64, UnixDiag>> {
    // SAFETY: plain socket syscall.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: new descriptor, owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    // nlmsghdr (16) + unix_diag_req (24)
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.push(libc::AF_UNIX as u8); // sdiag_family
    req.push(0); // sdiag_protocol
    req.extend_from_slice(&0u16.to_ne_bytes()); // pad
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // all states
    req.extend_from_slice(&0u32.to_ne_bytes()); // ino
    req.extend_from_slice(&(UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN).to_ne_bytes());
    req.extend_from_slice(&[0xff; 8]); // cookie: none
    crate::sys::send(sock.as_raw_fd(), &req, 0)?;

    let mut out = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = crate::sys::read(sock.as_raw_fd(), &mut buf)?;
        if n == 0 {
            return Err(io::Error::other("sock_diag: netlink socket closed"));
        }
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < 16 || off + len > n {
                return Err(io::Error::other("sock_diag: malformed netlink message"));
            }
            match ty as i32 {
                libc::NLMSG_DONE => return Ok(out),
                libc::NLMSG_ERROR => {
                    let errno = buf
                        .get(off + 16..off + 20)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                _ => {
                    if let Some((ino, d)) = parse_msg(&buf[off + 16..off + len]) {
                        out.insert(ino, d);
                    }
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// unix_diag_msg (16 bytes) followed by rtattrs.
fn parse_msg(m: &[u8]) -> Option<(u64, UnixDiag)> {
    let u32_at = |o: usize| {
        m.get(o..o + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let state = *m.get(2)?;
    let ino = u64::from(u32_at(4)?);
    let mut d = UnixDiag {
        state,
        ..Default::default()
    };
    let mut off = 16;
    while off + 4 <= m.len() {
        let alen = u16::from_ne_bytes([m[off], m[off + 1]]) as usize;
        let aty = u16::from_ne_bytes([m[off + 2], m[off + 3]]);
        if alen < 4 || off + alen > m.len() {
            break;
        }
        match aty {
            UNIX_DIAG_PEER => d.peer_ino = u64::from(u32_at(off + 4)?),
            UNIX_DIAG_RQLEN => d.rqueue = u32_at(off + 4)?,
            _ => {}
        }
        off += (alen + 3) & !3;
    }
    Some((ino, d))
}
