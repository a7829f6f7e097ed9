//! Restore side. At plugin init (in the CRIU process) the images of every
//! carried socket are read and the restore program is loaded once; its
//! descriptors go to CRIU's fdstore, because the hook runs in the restored
//! task, which has closed what it inherited from CRIU. The hook then puts
//! the received datagrams back with `bpf_crib_udp_queue_rcv` (senders and
//! boundaries kept) and replays a corked write queue under UDP_CORK.

use crate::criu;
use crate::image::{self, SocketQueues};
use crib_harness::engine::crib::{CribRestorer, RawRestorer, RestoreDatagram};
use crib_harness::model::{Segment, SockAddr};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::path::Path;

pub struct Restorer {
    images: BTreeMap<u32, SocketQueues>,
    /// fdstore ids of the restore program, its data map and its ring.
    fdstore: [i32; 3],
}

/// Every `crib-udp-<id>.img` of `dir`, decoded (a damaged one is an error).
pub fn read_images(dir: &Path) -> Result<BTreeMap<u32, SocketQueues>, String> {
    let mut out = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = image::id_of(&name) {
            out.insert(id, image::read(dir, id).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

impl Restorer {
    /// Read the images and load the restore program (`Err`: the restore
    /// cannot give these sockets their queues back, so it must fail).
    pub fn open(dir: &Path) -> Result<Restorer, String> {
        let images = read_images(dir)?;
        let r = CribRestorer::open().map_err(|e| {
            format!("the dump carries UDP queues of {} socket(s), but this kernel cannot restore them: {e}", images.len())
        })?;
        let fds = r.raw_fds().map_err(|e| e.to_string())?;
        let mut ids = [0i32; 3];
        for (i, fd) in fds.iter().enumerate() {
            ids[i] = criu::fdstore_add(*fd).ok_or("fdstore_add failed (not inside CRIU?)")?;
        }
        // The fdstore holds its own references: `r` may go.
        drop(r);
        Ok(Restorer {
            images,
            fdstore: ids,
        })
    }

    pub fn sockets(&self) -> usize {
        self.images.len()
    }

    /// Give restored socket `fd` (image id `id`) its queues back.
    pub fn socket(&self, fd: RawFd, id: u32) -> Result<(usize, usize), String> {
        let q = self.images.get(&id).ok_or_else(|| {
            format!(
                "socket {id} was dumped by the crib plugin but {} is not in the image directory",
                image::file_name(id)
            )
        })?;
        if !q.receive.is_empty() {
            let mut fds = Vec::with_capacity(3);
            for sid in self.fdstore {
                fds.push(criu::fdstore_get(sid).ok_or("fdstore_get failed")?);
            }
            let fds: [std::os::fd::OwnedFd; 3] = fds
                .try_into()
                .map_err(|_| "fdstore: three descriptors expected".to_string())?;
            // Dropped (and its descriptors closed) before the task resumes.
            let raw = RawRestorer::from_fds(fds).map_err(|e| e.to_string())?;
            let pid = std::process::id() as i32;
            for (i, seg) in q.receive.iter().enumerate() {
                let source = match &seg.addr {
                    Some(SockAddr::Inet { ip, port }) => (*ip, *port),
                    other => {
                        return Err(format!(
                            "socket {id}: received datagram {i} has no sender address ({other:?})"
                        ))
                    }
                };
                let d = RestoreDatagram {
                    data: &seg.data,
                    source,
                    tstamp_ns: 0,
                    mark: 0,
                    ifindex: 0,
                    tos: 0,
                };
                raw.udp_queue_rcv(pid, fd, &d).map_err(|e| {
                    format!(
                        "socket {id}: received datagram {i} ({} bytes): {e}",
                        seg.data.len()
                    )
                })?;
            }
        }
        replay_write(fd, id, q)?;
        Ok((q.receive.len(), q.write.len()))
    }
}

fn sockaddr(a: &SockAddr) -> Option<(libc::sockaddr_storage, libc::socklen_t)> {
    let SockAddr::Inet { ip, port } = a else {
        return None;
    };
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match ip {
        std::net::IpAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as _,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::IpAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as _,
                sin6_port: port.to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    Some((ss, len as libc::socklen_t))
}

fn send(fd: RawFd, seg: &Segment, flags: i32) -> std::io::Result<()> {
    let to = seg.addr.as_ref().and_then(sockaddr);
    let (p, len) = match &to {
        Some((ss, len)) => ((ss as *const libc::sockaddr_storage).cast(), *len),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the buffer and the optional address are valid for the call.
    let n = unsafe { libc::sendto(fd, seg.data.as_ptr().cast(), seg.data.len(), flags, p, len) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n as usize != seg.data.len() {
        return Err(std::io::Error::other(format!(
            "sent {n} of {} bytes",
            seg.data.len()
        )));
    }
    Ok(())
}

/// The pending frame goes back under UDP_CORK (or MSG_MORE, when that is
/// what held it), so that the datagram leaves only when the program
/// uncorks, with the same contents and destination.
fn replay_write(fd: RawFd, id: u32, q: &SocketQueues) -> Result<(), String> {
    if q.corked {
        let one: i32 = 1;
        // SAFETY: an int option.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_UDP,
                libc::UDP_CORK,
                (&one as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!(
                "socket {id}: UDP_CORK: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let flags = if q.corked { 0 } else { libc::MSG_MORE };
    // A connected socket sends to its peer; an unconnected one to the
    // destination the pending frame had.
    let connected = {
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: ss and len are valid for the call.
        unsafe {
            libc::getpeername(
                fd,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            ) == 0
        }
    };
    for (i, seg) in q.write.iter().enumerate() {
        let seg = if connected {
            Segment {
                data: seg.data.clone(),
                addr: None,
            }
        } else {
            seg.clone()
        };
        send(fd, &seg, flags).map_err(|e| format!("socket {id}: pending frame {i}: {e}"))?;
    }
    Ok(())
}
