//! Thin safe wrappers over the syscalls the procfs engine and restore use.
//!
//! Every wrapper returns `io::Result` and owns what it returns (`OwnedFd`).

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::model::SockAddr;

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_fd(r: libc::c_long) -> io::Result<OwnedFd> {
    let fd = cvt(r)? as RawFd;
    // SAFETY: the kernel just returned this new descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    cvt_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// Duplicate descriptor `fd` of the process behind `pidfd` into ours
/// (Linux >= 5.6, needs ptrace access: we are root).
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    cvt_fd(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

pub fn getsockopt_raw<T: Copy>(fd: RawFd, level: i32, name: i32) -> io::Result<T> {
    let mut v = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: v has room for len bytes; the kernel writes at most len.
    let r = unsafe { libc::getsockopt(fd, level, name, v.as_mut_ptr().cast(), &mut len) };
    cvt(r as libc::c_long)?;
    // SAFETY: zero-initialised and T is plain data (Copy, from C).
    Ok(unsafe { v.assume_init() })
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    getsockopt_raw::<libc::c_int>(fd, level, name)
}

pub fn setsockopt_raw<T: Copy>(fd: RawFd, level: i32, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: v points to size_of::<T>() readable bytes.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    cvt(r as libc::c_long).map(drop)
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, v: i32) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &v)
}

pub fn ioctl_int(fd: RawFd, req: libc::c_ulong) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: the requests used here (SIOCINQ/SIOCOUTQ/...) write one int.
    let r = unsafe { libc::ioctl(fd, req as _, &mut v) };
    cvt(r as libc::c_long)?;
    Ok(v)
}

/// Decode a sockaddr_storage of `len` bytes.
pub fn decode_sockaddr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> SockAddr {
    let len = len as usize;
    match ss.ss_family as i32 {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: family and length say this is a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            SockAddr::Inet {
                ip: IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                port: u16::from_be(sin.sin_port),
            }
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: family and length say this is a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            SockAddr::Inet {
                ip: IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                port: u16::from_be(sin6.sin6_port),
            }
        }
        libc::AF_UNIX => {
            let off = size_of::<libc::sa_family_t>();
            if len <= off {
                return SockAddr::None;
            }
            // SAFETY: sockaddr_storage is larger than sockaddr_un.
            let sun = unsafe { &*(ss as *const _ as *const libc::sockaddr_un) };
            let n = (len - off).min(sun.sun_path.len());
            let mut path: Vec<u8> = sun.sun_path[..n].iter().map(|&c| c as u8).collect();
            // Pathname sockets carry a trailing NUL; abstract ones start with NUL.
            if path.first() != Some(&0) {
                while path.last() == Some(&0) {
                    path.pop();
                }
            }
            if path.is_empty() {
                SockAddr::None
            } else {
                SockAddr::Unix { path }
            }
        }
        _ => SockAddr::None,
    }
}

/// Encode an address for bind/connect/sendto.
pub fn encode_sockaddr(a: &SockAddr) -> Option<(libc::sockaddr_storage, libc::socklen_t)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SockAddr::None => return None,
        SockAddr::Inet { ip, port } => match SocketAddr::new(*ip, *port) {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large enough for sockaddr_in.
                let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: sockaddr_storage is large enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                size_of::<libc::sockaddr_in6>()
            }
        },
        SockAddr::Unix { path } => {
            // SAFETY: sockaddr_storage is large enough for sockaddr_un.
            let sun = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_un) };
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            if path.len() >= sun.sun_path.len() {
                return None;
            }
            for (d, s) in sun.sun_path.iter_mut().zip(path) {
                *d = *s as libc::c_char;
            }
            size_of::<libc::sa_family_t>() + path.len() + usize::from(path.first() != Some(&0))
        }
    };
    Some((ss, len as libc::socklen_t))
}

pub fn getsockname(fd: RawFd) -> io::Result<SockAddr> {
    // SAFETY: zeroed storage, length passed in/out.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss has len bytes.
    let r = unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) };
    cvt(r as libc::c_long)?;
    Ok(decode_sockaddr(&ss, len))
}

/// Peer address; `SockAddr::None` when not connected.
pub fn getpeername(fd: RawFd) -> io::Result<SockAddr> {
    // SAFETY: zeroed storage, length passed in/out.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss has len bytes.
    let r = unsafe { libc::getpeername(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOTCONN) {
            Ok(SockAddr::None)
        } else {
            Err(e)
        };
    }
    Ok(decode_sockaddr(&ss, len))
}

/// recvfrom with flags; returns (bytes, full datagram length, source address).
pub fn recvfrom(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, SockAddr)> {
    // SAFETY: zeroed storage, length passed in/out.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: buf and ss are valid for their lengths.
    let r = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            &mut ss as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    let n = cvt(r as libc::c_long)? as usize;
    Ok((n, decode_sockaddr(&ss, len)))
}

pub fn send(fd: RawFd, data: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: data is valid for its length.
    let r = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), flags) };
    Ok(cvt(r as libc::c_long)? as usize)
}

pub fn sendto(fd: RawFd, data: &[u8], to: &SockAddr) -> io::Result<usize> {
    let Some((ss, len)) = encode_sockaddr(to) else {
        return send(fd, data, 0);
    };
    // SAFETY: data and ss are valid for their lengths.
    let r = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            0,
            &ss as *const _ as *const libc::sockaddr,
            len,
        )
    };
    Ok(cvt(r as libc::c_long)? as usize)
}

pub fn bind(fd: RawFd, a: &SockAddr) -> io::Result<()> {
    let (ss, len) = encode_sockaddr(a)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unencodable address"))?;
    // SAFETY: ss is valid for len bytes.
    let r = unsafe { libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) };
    cvt(r as libc::c_long).map(drop)
}

pub fn connect(fd: RawFd, a: &SockAddr) -> io::Result<()> {
    let (ss, len) = encode_sockaddr(a)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unencodable address"))?;
    // SAFETY: ss is valid for len bytes.
    let r = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) };
    cvt(r as libc::c_long).map(drop)
}

pub fn socket(family: i32, ty: i32, proto: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    cvt_fd(unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) } as libc::c_long)
}

pub fn socketpair(family: i32, ty: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe { libc::socketpair(family, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    cvt(r as libc::c_long)?;
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    cvt(r as libc::c_long)?;
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn fcntl(fd: RawFd, cmd: i32, arg: libc::c_long) -> io::Result<i32> {
    // SAFETY: integer-argument fcntl commands only.
    let r = unsafe { libc::fcntl(fd, cmd, arg) };
    Ok(cvt(r as libc::c_long)? as i32)
}

/// Duplicate without consuming: tee(2) from pipe `src` into pipe `dst`.
pub fn tee(src: RawFd, dst: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall with descriptors and integers.
    let r = unsafe { libc::tee(src, dst, len, libc::SPLICE_F_NONBLOCK) };
    Ok(cvt(r as libc::c_long)? as usize)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for its length.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    Ok(cvt(r as libc::c_long)? as usize)
}

pub fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is valid for its length.
        let r = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        let n = cvt(r as libc::c_long)? as usize;
        data = &data[n..];
    }
    Ok(())
}

pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall; `new` is replaced atomically.
    let r = unsafe { libc::dup3(old, new, 0) };
    cvt(r as libc::c_long).map(drop)
}

pub fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// For a process that dumps again and again (`crib serve`, the benchmark):
/// keep freed heap memory for the next dump instead of handing it back to
/// the kernel. With glibc's defaults a dump of 10 000 records grows the heap
/// by megabytes and trims it when the records are dropped, so every dump
/// faults in and zeroes fresh pages (and an allocation above the mmap
/// threshold is a new mapping each time). Applies to every engine of the
/// process alike.
pub fn keep_freed_heap() {
    // Free memory at the heap's top is trimmed only above 256 MiB: far
    // above a dump's working set, far below the machine.
    const TRIM_ABOVE: libc::c_int = 256 << 20;
    // Blocks below 32 MiB (glibc's maximum) come from the heap, not a
    // mapping of their own each time.
    const MMAP_ABOVE: libc::c_int = 32 << 20;
    // SAFETY: mallopt only changes allocator tunables; no memory is touched.
    // A refused setting leaves glibc's default: slower, never wrong.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_ABOVE);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_ABOVE);
    }
}
