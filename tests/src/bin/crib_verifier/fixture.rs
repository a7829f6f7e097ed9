//! The sockets the test context points at, and checking what restore
//! programs queued.

use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Payload queued on both queues of `fd` (programs compare its prefix).
pub const PAYLOAD: &[u8] = b"crib-verifier";
/// What restore programs queue on `rfd`, and from where.
pub const RESTORED: &[u8] = b"crib-restored";
pub const RESTORED_FROM: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 4242);

/// `struct crib_test_ctx` of `progs/common.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TestCtx {
    pub pid: i32,
    pub fd: i32,
    pub rfd: i32,
    pub port: i32,
    pub pfd: i32,
    pub _pad: i32,
}

impl TestCtx {
    pub fn bytes(&self) -> Vec<u8> {
        [self.pid, self.fd, self.rfd, self.port, self.pfd, self._pad]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect()
    }
}

pub struct Fixture {
    /// Bound UDP socket: one datagram received, one corked (UDP_CORK).
    pub sock: UdpSocket,
    /// Empty UDP socket restore programs queue on.
    pub restore: UdpSocket,
    _sender: UdpSocket,
    /// A pipe holding PAYLOAD (read end, write end): pipe kfuncs read it
    /// without consuming it.
    pipe: (OwnedFd, OwnedFd),
}

impl Fixture {
    pub fn new() -> Result<Fixture> {
        loopback_up()?;
        let lo = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
        let sock = UdpSocket::bind(lo).context("binding a UDP socket on 127.0.0.1")?;
        let restore = UdpSocket::bind(lo).context("binding the restore socket")?;
        restore.set_nonblocking(true)?;
        let sender = UdpSocket::bind(lo).context("binding the sender socket")?;
        let to = sock.local_addr()?;
        sender
            .send_to(PAYLOAD, to)
            .context("sending the received datagram")?;
        // Wait until it is on the receive queue (loopback is synchronous,
        // but be sure): peek without taking it.
        let mut buf = [0u8; 64];
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        let (n, _) = sock
            .peek_from(&mut buf)
            .context("peeking the received datagram")?;
        if &buf[..n] != PAYLOAD {
            bail!("fixture: unexpected datagram on the test socket");
        }
        cork(&sock)?;
        sock.send_to(PAYLOAD, sender.local_addr()?)
            .context("queueing the corked datagram")?;
        let pipe = pipe_with(PAYLOAD)?;
        Ok(Fixture {
            sock,
            restore,
            _sender: sender,
            pipe,
        })
    }

    pub fn ctx(&self) -> Result<TestCtx> {
        Ok(TestCtx {
            pid: std::process::id() as i32,
            fd: self.sock.as_raw_fd(),
            rfd: self.restore.as_raw_fd(),
            port: i32::from(self.sock.local_addr()?.port()),
            pfd: self.pipe.0.as_raw_fd(),
            _pad: 0,
        })
    }

    /// The pipe still holds PAYLOAD, untouched by the programs that read it.
    pub fn check_pipe(&self) -> Result<()> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer we pass.
        let rc = unsafe { libc::ioctl(self.pipe.0.as_raw_fd(), libc::FIONREAD, &mut n) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("FIONREAD on the test pipe");
        }
        if n as usize != PAYLOAD.len() {
            bail!(
                "the test pipe holds {n} bytes after the run, not {}: a program consumed it",
                PAYLOAD.len()
            );
        }
        Ok(())
    }

    /// Take every datagram off the restore socket; each must be exactly
    /// what restore programs queue. Returns how many there were.
    pub fn drain_restored(&self) -> Result<usize> {
        let mut n = 0;
        let mut buf = [0u8; 256];
        loop {
            match self.restore.recv_from(&mut buf) {
                Ok((len, from)) => {
                    if &buf[..len] != RESTORED {
                        bail!(
                            "restored datagram {n}: payload {:?}, expected {:?}",
                            String::from_utf8_lossy(&buf[..len]),
                            String::from_utf8_lossy(RESTORED)
                        );
                    }
                    if from != std::net::SocketAddr::V4(RESTORED_FROM) {
                        bail!("restored datagram {n}: source {from}, expected {RESTORED_FROM}");
                    }
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(n),
                Err(e) => return Err(e).context("reading the restore socket"),
            }
        }
    }
}

/// A pipe with `data` written into it.
fn pipe_with(data: &[u8]) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: both are new descriptors, owned from here on.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: writes data.len() bytes from a live slice.
    let n = unsafe { libc::write(w.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if n != data.len() as isize {
        return Err(std::io::Error::last_os_error()).context("writing the test pipe");
    }
    Ok((r, w))
}

fn cork(sock: &UdpSocket) -> Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: valid fd, option value of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_UDP,
            libc::UDP_CORK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("setsockopt(UDP_CORK)");
    }
    Ok(())
}

/// Bring `lo` up (a fresh VM has it down).
fn loopback_up() -> Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("socket(AF_INET)");
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if rc == 0 && (ifr.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short) == 0 {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(err).context("bringing lo up");
        }
    }
    Ok(())
}
