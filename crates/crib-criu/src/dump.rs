//! Dump side: read a UDP socket's queues through the crib engine's
//! programs (loaded once at plugin init), by the descriptor CRIU holds.

use crate::image::{self, SocketQueues};
use crib_harness::engine::crib::CribEngine;
use crib_harness::model::Segment;
use std::os::fd::RawFd;
use std::path::PathBuf;

pub struct Dumper {
    engine: CribEngine,
    dir: PathBuf,
    /// Sockets this dump carries (the inventory is told once).
    pub carried: usize,
}

fn getsockopt(fd: RawFd, level: i32, opt: i32) -> Result<i32, String> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: v and len are valid for the call.
    let rc = unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut i32).cast(), &mut len) };
    if rc != 0 {
        return Err(format!(
            "getsockopt({level}, {opt}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(v)
}

fn bytes(q: &[Segment]) -> usize {
    q.iter().map(|s| s.data.len()).sum()
}

impl Dumper {
    /// Load the crib engine's programs (`Err`: the kernel has no CRIB
    /// kfuncs, or they did not load; the plugin then declines).
    pub fn open(dir: PathBuf) -> Result<Dumper, String> {
        let engine = CribEngine::open_socket_reader().map_err(|e| e.to_string())?;
        Ok(Dumper {
            engine,
            dir,
            carried: 0,
        })
    }

    /// Read socket `fd` (CRIU's descriptor of it) with image id `id`.
    /// `Ok(None)`: nothing to carry (not UDP, or queues empty and not
    /// corked): CRIU dumps it as it always has.
    pub fn socket(&mut self, fd: RawFd, id: u32) -> Result<Option<SocketQueues>, String> {
        let family = getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
        let sotype = getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
        let protocol = getsockopt(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
        let udp = protocol == libc::IPPROTO_UDP || protocol == libc::IPPROTO_UDPLITE;
        if sotype != libc::SOCK_DGRAM || !udp || !matches!(family, libc::AF_INET | libc::AF_INET6) {
            return Ok(None);
        }
        // UDP_CORK is a SOL_UDP option for UDP-lite too.
        let corked = getsockopt(fd, libc::SOL_UDP, libc::UDP_CORK)? != 0;
        let pid = std::process::id() as i32;
        let read = |receive: bool| {
            self.engine
                .socket_queue(pid, fd, receive, false)
                .map_err(|e| {
                    format!(
                        "socket {id}: {} queue: {e}",
                        if receive { "receive" } else { "write" }
                    )
                })
        };
        let receive = read(true)?;
        let write = read(false)?;
        if !corked && receive.is_empty() && write.is_empty() {
            return Ok(None);
        }
        // The tree is frozen, but a sender outside it is not: a queue that
        // changed while it was read is an error, not a silently stale image.
        let again = read(true)?;
        if again.len() != receive.len() || bytes(&again) != bytes(&receive) {
            return Err(format!(
                "socket {id}: receive queue changed while it was dumped ({} datagrams / {} bytes, then {} / {}): stop the sender or lock the network",
                receive.len(),
                bytes(&receive),
                again.len(),
                bytes(&again)
            ));
        }
        let q = SocketQueues {
            id,
            family: family as u16,
            protocol: protocol as u16,
            corked,
            receive,
            write,
        };
        image::write(&self.dir, &q).map_err(|e| e.to_string())?;
        self.carried += 1;
        Ok(Some(q))
    }
}
