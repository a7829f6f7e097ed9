//! A prepared process for `cargo xtask bench dump`: it opens `--fds N`
//! descriptors (regular files, pipes, unix socket pairs), creates `--maps N`
//! mappings that cannot merge (alternating protections, distinct files) and
//! `--sockets M` groups of loopback sockets with queued data (a TCP
//! established pair, a UDP pair, a unix stream pair and a unix datagram
//! pair, data written and left unread), prints one `ready` line and then
//! holds still until its standard input closes.
//!
//! It dies with its parent (PR_SET_PDEATHSIG) so a crashed benchmark never
//! leaves it behind.
//!
//! `--udp-queued N --criu-target PIDFILE` instead makes a process for
//! `criu dump`/`criu restore` (`crib-bench plugin`): N UDP sockets, each
//! with one datagram waiting, in its own session with no terminal; it
//! writes its pid to PIDFILE and sleeps until killed.

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::os::fd::RawFd;
use std::process::ExitCode;

struct Shape {
    fds: usize,
    maps: usize,
    sockets: usize,
    data: usize,
    dir: std::path::PathBuf,
    udp_queued: usize,
    criu_target: Option<std::path::PathBuf>,
}

const USAGE: &str =
    "usage: crib-bench-target --dir DIR [--fds N] [--maps N] [--sockets M] [--data BYTES]";

fn parse_args() -> Result<Shape, String> {
    let mut s = Shape {
        fds: 100,
        maps: 100,
        sockets: 4,
        data: 4096,
        dir: std::path::PathBuf::new(),
        udp_queued: 0,
        criu_target: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let num = || {
            val.parse::<usize>()
                .map_err(|_| format!("{flag} {val:?}: expected a number"))
        };
        match flag.as_str() {
            "--fds" => s.fds = num()?,
            "--maps" => s.maps = num()?,
            "--sockets" => s.sockets = num()?,
            "--data" => s.data = num()?,
            "--dir" => s.dir = val.into(),
            "--udp-queued" => s.udp_queued = num()?,
            "--criu-target" => s.criu_target = Some(val.into()),
            _ => return Err(format!("unknown argument {flag:?}; {USAGE}")),
        }
    }
    if s.dir.as_os_str().is_empty() && s.criu_target.is_none() {
        return Err(format!("--dir is required; {USAGE}"));
    }
    Ok(s)
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn check(rc: libc::c_int, what: &str) -> Result<libc::c_int, String> {
    if rc < 0 {
        Err(os_err(what))
    } else {
        Ok(rc)
    }
}

/// Room for every descriptor we open plus the sockets and some slack.
fn raise_nofile(need: usize) -> Result<(), String> {
    let want = (need + 256) as libc::rlim_t;
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        check(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), "getrlimit")?;
        if r.rlim_cur >= want {
            return Ok(());
        }
        r.rlim_cur = want;
        r.rlim_max = r.rlim_max.max(want);
        check(
            libc::setrlimit(libc::RLIMIT_NOFILE, &r),
            "setrlimit(RLIMIT_NOFILE) (needs root or a high hard limit)",
        )?;
    }
    Ok(())
}

const PAGE: usize = 4096;
/// Distinct backing files (reused round-robin for fds and file mappings).
const FILES: usize = 64;

fn make_files(dir: &std::path::Path) -> Result<Vec<CString>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for i in 0..FILES {
        let p = dir.join(format!("f{i:03}"));
        std::fs::write(&p, vec![b'a' + (i % 26) as u8; 2 * PAGE])
            .map_err(|e| format!("{}: {e}", p.display()))?;
        let c = CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: path has a NUL byte", p.display()))?;
        paths.push(c);
    }
    Ok(paths)
}

/// `n` descriptors: 60% regular files, 20% pipe ends, 20% unix socketpair ends.
fn open_fds(n: usize, files: &[CString]) -> Result<Vec<RawFd>, String> {
    let mut fds = Vec::with_capacity(n);
    let mut i = 0usize;
    while fds.len() < n {
        let left = n - fds.len();
        match i % 5 {
            3 if left >= 2 => {
                let mut p = [0; 2];
                // SAFETY: pipe2 writes two ints into p.
                check(unsafe { libc::pipe2(p.as_mut_ptr(), 0) }, "pipe2")?;
                fds.extend(p);
            }
            4 if left >= 2 => {
                let mut p = [0; 2];
                // SAFETY: socketpair writes two ints into p.
                check(
                    unsafe {
                        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, p.as_mut_ptr())
                    },
                    "socketpair",
                )?;
                fds.extend(p);
            }
            _ => {
                let path = &files[i % files.len()];
                let flags = if i % 2 == 0 {
                    libc::O_RDONLY
                } else {
                    libc::O_RDWR | libc::O_APPEND
                };
                // SAFETY: path is a valid NUL-terminated string.
                let fd = check(
                    unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) },
                    "open",
                )?;
                fds.push(fd);
            }
        }
        i += 1;
    }
    Ok(fds)
}

/// `n` VMAs that the kernel cannot merge: half one-page anonymous mappings
/// of alternating protection inside one region, half private file mappings
/// from different files and offsets.
fn make_maps(n: usize, files: &[CString]) -> Result<(), String> {
    let anon = n / 2;
    if anon > 0 {
        let len = anon * PAGE;
        // SAFETY: fresh anonymous mapping, never unmapped (the process holds it).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_err("mmap anonymous"));
        }
        for k in (1..anon).step_by(2) {
            // SAFETY: page k lies inside the mapping made above.
            let p = unsafe { base.cast::<u8>().add(k * PAGE) }.cast();
            check(
                unsafe { libc::mprotect(p, PAGE, libc::PROT_READ) },
                "mprotect",
            )?;
        }
    }
    let mut fds = Vec::new();
    for f in files {
        // SAFETY: valid NUL-terminated path.
        fds.push(check(
            unsafe { libc::open(f.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) },
            "open",
        )?);
    }
    for k in 0..(n - anon) {
        let prot = if k % 2 == 0 {
            libc::PROT_READ
        } else {
            libc::PROT_READ | libc::PROT_EXEC
        };
        // SAFETY: a fresh private read-only file mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                prot,
                libc::MAP_PRIVATE,
                fds[k % fds.len()],
                ((k / fds.len()) % 2 * PAGE) as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap file (is vm.max_map_count large enough?)"));
        }
    }
    for fd in fds {
        // SAFETY: fd was opened above and is ours.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

fn write_all(fd: RawFd, data: &[u8], what: &str) -> Result<(), String> {
    // SAFETY: data is a valid buffer of data.len() bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 || n as usize != data.len() {
        return Err(os_err(what));
    }
    Ok(())
}

fn loopback_sockaddr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn bound_port(fd: RawFd) -> Result<u16, String> {
    let mut a = loopback_sockaddr(0);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a is a sockaddr_in and len its size.
    check(
        unsafe { libc::getsockname(fd, (&mut a as *mut libc::sockaddr_in).cast(), &mut len) },
        "getsockname",
    )?;
    Ok(u16::from_be(a.sin_port))
}

fn inet_socket(ty: libc::c_int, port: u16) -> Result<(RawFd, u16), String> {
    // SAFETY: plain socket/bind calls on a local sockaddr.
    let fd = check(unsafe { libc::socket(libc::AF_INET, ty, 0) }, "socket")?;
    let a = loopback_sockaddr(port);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    check(
        unsafe { libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), len) },
        "bind 127.0.0.1",
    )?;
    Ok((fd, bound_port(fd)?))
}

fn connect_to(fd: RawFd, port: u16) -> Result<(), String> {
    let a = loopback_sockaddr(port);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a is a valid sockaddr_in.
    check(
        unsafe { libc::connect(fd, (&a as *const libc::sockaddr_in).cast(), len) },
        "connect",
    )?;
    Ok(())
}

/// One group: TCP established pair, UDP pair, unix stream and dgram pairs,
/// each with `data` bytes queued (both directions for the stream pairs).
fn make_socket_group(data: &[u8]) -> Result<(), String> {
    // TCP over loopback.
    let (lst, port) = inet_socket(libc::SOCK_STREAM, 0)?;
    // SAFETY: listen/accept/close on descriptors we own.
    check(unsafe { libc::listen(lst, 1) }, "listen")?;
    let (cli, _) = inet_socket(libc::SOCK_STREAM, 0)?;
    connect_to(cli, port)?;
    let srv = check(
        unsafe { libc::accept(lst, std::ptr::null_mut(), std::ptr::null_mut()) },
        "accept",
    )?;
    unsafe { libc::close(lst) };
    write_all(cli, data, "tcp write")?;
    write_all(srv, data, "tcp write")?;
    // UDP: a datagram waiting in each receive queue.
    let (u1, p1) = inet_socket(libc::SOCK_DGRAM, 0)?;
    let (u2, p2) = inet_socket(libc::SOCK_DGRAM, 0)?;
    connect_to(u1, p2)?;
    connect_to(u2, p1)?;
    let dgram = &data[..data.len().min(1400)];
    write_all(u1, dgram, "udp send")?;
    write_all(u2, dgram, "udp send")?;
    // Unix pairs.
    for ty in [libc::SOCK_STREAM, libc::SOCK_DGRAM] {
        let mut p = [0; 2];
        // SAFETY: socketpair writes two ints into p.
        check(
            unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, p.as_mut_ptr()) },
            "socketpair",
        )?;
        write_all(p[0], dgram, "unix write")?;
        write_all(p[1], dgram, "unix write")?;
    }
    Ok(())
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

fn count_lines(path: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn prepare(s: &Shape) -> Result<(), String> {
    // SAFETY: prctl with constant arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) },
        "prctl",
    )?;
    raise_nofile(s.fds + 8 * s.sockets + FILES)?;
    let files = make_files(&s.dir)?;
    open_fds(s.fds, &files)?;
    make_maps(s.maps, &files)?;
    let data = vec![b'q'; s.data.max(1)];
    for _ in 0..s.sockets {
        make_socket_group(&data)?;
    }
    Ok(())
}

/// `n` loopback UDP sockets, each with one datagram from one sender.
fn make_udp_queued(n: usize) -> Result<(), String> {
    let sender = udp_loopback()?;
    for i in 0..n {
        let r = udp_loopback()?;
        let (addr, len) = local_addr(r)?;
        let msg = format!("datagram for socket {i}");
        // SAFETY: a valid buffer and address.
        let sent = unsafe {
            libc::sendto(
                sender,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                len,
            )
        };
        if sent < 0 {
            return Err(os_err("sendto"));
        }
    }
    Ok(())
}

fn udp_loopback() -> Result<RawFd, String> {
    // SAFETY: plain socket calls on a fresh descriptor and a local address.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket")?;
        let a = libc::sockaddr_in {
            sin_family: libc::AF_INET as _,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        check(
            libc::bind(
                fd,
                (&a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            ),
            "bind",
        )?;
        Ok(fd)
    }
}

fn local_addr(fd: RawFd) -> Result<(libc::sockaddr_in, libc::socklen_t), String> {
    // SAFETY: an all-zero sockaddr_in is valid; getsockname fills it.
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a and len are valid for the call.
    check(
        unsafe { libc::getsockname(fd, (&mut a as *mut libc::sockaddr_in).cast(), &mut len) },
        "getsockname",
    )?;
    Ok((a, len))
}

/// The `criu dump` target: sockets, a session of its own, a pidfile, sleep.
fn criu_target(s: &Shape, pidfile: &std::path::Path) -> ExitCode {
    let r = raise_nofile(2 * s.udp_queued + 16).and_then(|()| make_udp_queued(s.udp_queued));
    if let Err(e) = r {
        eprintln!("crib-bench-target: {e}");
        return ExitCode::FAILURE;
    }
    // SAFETY: setsid in a process that is not a group leader (spawned).
    unsafe { libc::setsid() };
    if let Err(e) = std::fs::write(pidfile, std::process::id().to_string()) {
        eprintln!("crib-bench-target: {}: {e}", pidfile.display());
        return ExitCode::FAILURE;
    }
    loop {
        // SAFETY: pause() only waits for a signal.
        unsafe { libc::pause() };
    }
}

fn main() -> ExitCode {
    let shape = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("crib-bench-target: {e}");
            return ExitCode::from(2);
        }
    };
    // Only what we open: an inherited descriptor (the VM runner's serial
    // port is fd 3 in the guest) is state `criu dump` refuses to dump.
    // SAFETY: close_range on descriptors this process does not use.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if let Some(pidfile) = shape.criu_target.clone() {
        return criu_target(&shape, &pidfile);
    }
    if let Err(e) = prepare(&shape) {
        eprintln!("crib-bench-target: {e}");
        let _ = std::fs::remove_dir_all(&shape.dir);
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ready pid={} fds={} maps={}",
        std::process::id(),
        count_dir("/proc/self/fd").saturating_sub(1),
        count_lines("/proc/self/maps"),
    );
    let _ = out.flush();
    // Hold still until the benchmark closes our stdin.
    let mut line = String::new();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map(|n| n > 0)
        .unwrap_or(false)
    {
        line.clear();
    }
    let _ = std::fs::remove_dir_all(&shape.dir);
    ExitCode::SUCCESS
}
