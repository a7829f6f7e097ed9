//! A live child process with a known set of files, mappings and sockets, for
//! engine tests. Forked from the test; the child only makes raw syscalls on
//! memory prepared before the fork (no allocation after fork in a threaded
//! test binary), reports ready through a pipe, then sleeps until killed.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

/// fd numbers the child arranges (dup2'ed to fixed numbers).
pub mod fd {
    pub const FILE_RW: i32 = 100;
    pub const FILE_RO_CLOEXEC: i32 = 101;
    pub const FILE_UNLINKED: i32 = 102;
    pub const PIPE_R: i32 = 103;
    pub const PIPE_W: i32 = 104;
    pub const UNIX_STREAM_A: i32 = 105;
    pub const UNIX_STREAM_B: i32 = 106;
    pub const UNIX_DGRAM_A: i32 = 107;
    pub const UNIX_DGRAM_B: i32 = 108;
    pub const TCP_LISTEN: i32 = 109;
    pub const TCP_CLIENT: i32 = 110;
    pub const TCP_SERVER: i32 = 111;
    pub const UDP_CONNECTED: i32 = 112;
    pub const UDP_CORKED: i32 = 113;
    pub const UDP_RECV: i32 = 114;
    pub const UDP6_RECV: i32 = 115;
    pub const UDP6_SEND: i32 = 116;
}

/// Payloads the child leaves in queues.
pub const PIPE_DATA: &[u8] = b"pipe!";
pub const UNIX_STREAM_DATA: &[u8] = b"unix stream bytes";
pub const UNIX_DGRAM_DATA: &[u8] = b"unix datagram";
pub const TCP_DATA: &[u8] = b"tcp unread data";
pub const UDP_CORK_DATA: &[u8] = b"corked udp payload, pending";
pub const UDP_RECV_DATA: &[u8] = b"udp datagram waiting";
pub const UDP6_DATA: &[u8] = b"an IPv6 datagram";
pub const FILE_POS: i64 = 7;

pub struct LiveChild {
    pub pid: i32,
    pub dir: tempfile::TempDir,
    pub file_path: PathBuf,
    pub unlinked_path: PathBuf,
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        // SAFETY: plain syscalls on our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

fn cstr(p: &std::path::Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("temp path has no NUL")
}

/// Fork the child and wait (at most 10 s) until its state is in place.
pub fn spawn() -> LiveChild {
    let dir = tempfile::tempdir().expect("tempdir");
    let file_path = dir.path().join("data.bin");
    let ro_path = dir.path().join("ro.txt");
    let unlinked_path = dir.path().join("gone.txt");
    std::fs::write(&file_path, vec![0xabu8; 3 * 4096]).expect("write data file");
    std::fs::write(&ro_path, b"read only").expect("write ro file");
    std::fs::write(&unlinked_path, b"unlinked but open").expect("write unlinked");
    let (c_file, c_ro, c_gone) = (cstr(&file_path), cstr(&ro_path), cstr(&unlinked_path));

    // SAFETY: raw syscalls on prepared memory; never returns.
    let pid = fork_ready(|ready| unsafe { child_main(&c_file, &c_ro, &c_gone, ready) });
    let child = LiveChild {
        pid,
        dir,
        file_path,
        unlinked_path,
    };
    std::thread::sleep(Duration::from_millis(20));
    child
}

/// Fork a child that runs `child(ready_fd)` (async-signal-safe syscalls
/// on memory prepared before the fork; it never returns) and wait until it
/// reports ready on that fd.
///
/// The child's stdin, stdout and stderr are an empty file of its own: the
/// test binary's are the runner's log, which other tests write to while
/// two engines dump the child one after the other (its size and offset
/// then differ between the two dumps).
fn fork_ready(child: impl FnOnce(i32)) -> i32 {
    // target/tmp, else (a guest where the workspace is read-only) /tmp.
    let open = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(p)
    };
    let near = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-child-stdio");
    let far = std::env::temp_dir().join("crib-live-child-stdio");
    let stdio = open(&near)
        .or_else(|_| open(&far))
        .unwrap_or_else(|e| panic!("{} and {}: {e}", near.display(), far.display()));
    let stdio_fd = stdio.as_raw_fd();
    // std opens with O_CLOEXEC; the child dups it before anything execs.
    let mut ready = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(
        unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    // SAFETY: the child only calls async-signal-safe syscalls, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: dup2 on fds this process owns; async-signal-safe.
        unsafe {
            for fd in 0..3 {
                libc::dup2(stdio_fd, fd);
            }
        }
        child(ready[1]);
        // SAFETY: only if `child` returned, which it must not.
        unsafe { libc::_exit(1) }
    }
    drop(stdio);
    // SAFETY: closing our copy of the write end; ready[0] is owned from here.
    unsafe { libc::close(ready[1]) };
    let r = unsafe { OwnedFd::from_raw_fd(ready[0]) };
    wait_ready(&r);
    pid
}

unsafe fn die(ready: i32, what: u8) -> ! {
    unsafe {
        let b = [what];
        libc::write(ready, b.as_ptr().cast(), 1);
        libc::_exit(1)
    }
}

unsafe fn check(ok: bool, ready: i32, what: u8) {
    if !ok {
        unsafe { die(ready, what) }
    }
}

unsafe fn place(fd: i32, at: i32, ready: i32) {
    unsafe {
        check(fd >= 0, ready, b'o');
        check(libc::dup2(fd, at) == at, ready, b'd');
        libc::close(fd);
    }
}

unsafe fn loopback(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    }
}

unsafe fn loopback6(port: u16) -> libc::sockaddr_in6 {
    unsafe {
        let mut a: libc::sockaddr_in6 = std::mem::zeroed();
        a.sin6_family = libc::AF_INET6 as u16;
        a.sin6_port = port.to_be();
        a.sin6_addr.s6_addr[15] = 1;
        a
    }
}

unsafe fn bound_port6(fd: i32) -> u16 {
    unsafe {
        let mut a: libc::sockaddr_in6 = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        libc::getsockname(fd, (&raw mut a).cast(), &mut len);
        u16::from_be(a.sin6_port)
    }
}

unsafe fn bound_port(fd: i32) -> u16 {
    unsafe {
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        libc::getsockname(fd, (&raw mut a).cast(), &mut len);
        u16::from_be(a.sin_port)
    }
}

unsafe fn child_main(file: &CString, ro: &CString, gone: &CString, ready: i32) -> ! {
    unsafe {
        // Only our own fds: drop what the test binary had open (other
        // tests' BPF objects, temp files) so the fd set is deterministic.
        const READY: i32 = 200;
        if libc::dup2(ready, READY) != READY {
            libc::_exit(2);
        }
        libc::close_range(3, (READY - 1) as u32, 0);
        libc::close_range((READY + 1) as u32, u32::MAX, 0);
        let ready = READY;
        let sin_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // files
        let f = libc::open(file.as_ptr(), libc::O_RDWR);
        place(f, fd::FILE_RW, ready);
        check(
            libc::lseek(fd::FILE_RW, FILE_POS, libc::SEEK_SET) == FILE_POS,
            ready,
            b's',
        );
        place(
            libc::open(ro.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
            fd::FILE_RO_CLOEXEC,
            ready,
        );
        // dup2 drops O_CLOEXEC: set it again on the new fd
        libc::fcntl(fd::FILE_RO_CLOEXEC, libc::F_SETFD, libc::FD_CLOEXEC);
        place(
            libc::open(gone.as_ptr(), libc::O_RDONLY),
            fd::FILE_UNLINKED,
            ready,
        );
        check(libc::unlink(gone.as_ptr()) == 0, ready, b'u');
        // pipe with data
        let mut p = [0i32; 2];
        check(libc::pipe(p.as_mut_ptr()) == 0, ready, b'p');
        place(p[0], fd::PIPE_R, ready);
        place(p[1], fd::PIPE_W, ready);
        libc::write(fd::PIPE_W, PIPE_DATA.as_ptr().cast(), PIPE_DATA.len());
        // unix pairs with queued data
        let mut sp = [0i32; 2];
        check(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sp.as_mut_ptr()) == 0,
            ready,
            b'x',
        );
        place(sp[0], fd::UNIX_STREAM_A, ready);
        place(sp[1], fd::UNIX_STREAM_B, ready);
        libc::write(
            fd::UNIX_STREAM_A,
            UNIX_STREAM_DATA.as_ptr().cast(),
            UNIX_STREAM_DATA.len(),
        );
        check(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sp.as_mut_ptr()) == 0,
            ready,
            b'y',
        );
        place(sp[0], fd::UNIX_DGRAM_A, ready);
        place(sp[1], fd::UNIX_DGRAM_B, ready);
        libc::write(
            fd::UNIX_DGRAM_A,
            UNIX_DGRAM_DATA.as_ptr().cast(),
            UNIX_DGRAM_DATA.len(),
        );
        // TCP established pair on loopback, unread data on the server side
        place(
            libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0),
            fd::TCP_LISTEN,
            ready,
        );
        let any = loopback(0);
        check(
            libc::bind(fd::TCP_LISTEN, (&raw const any).cast(), sin_len) == 0,
            ready,
            b'b',
        );
        check(libc::listen(fd::TCP_LISTEN, 4) == 0, ready, b'l');
        let to = loopback(bound_port(fd::TCP_LISTEN));
        place(
            libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0),
            fd::TCP_CLIENT,
            ready,
        );
        check(
            libc::connect(fd::TCP_CLIENT, (&raw const to).cast(), sin_len) == 0,
            ready,
            b'c',
        );
        place(
            libc::accept(fd::TCP_LISTEN, std::ptr::null_mut(), std::ptr::null_mut()),
            fd::TCP_SERVER,
            ready,
        );
        libc::write(fd::TCP_CLIENT, TCP_DATA.as_ptr().cast(), TCP_DATA.len());
        // UDP: a receiver with one datagram queued, a connected sender, a corked one
        place(
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
            fd::UDP_RECV,
            ready,
        );
        check(
            libc::bind(fd::UDP_RECV, (&raw const any).cast(), sin_len) == 0,
            ready,
            b'B',
        );
        let rto = loopback(bound_port(fd::UDP_RECV));
        place(
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
            fd::UDP_CONNECTED,
            ready,
        );
        check(
            libc::connect(fd::UDP_CONNECTED, (&raw const rto).cast(), sin_len) == 0,
            ready,
            b'C',
        );
        libc::send(
            fd::UDP_CONNECTED,
            UDP_RECV_DATA.as_ptr().cast(),
            UDP_RECV_DATA.len(),
            0,
        );
        place(
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
            fd::UDP_CORKED,
            ready,
        );
        check(
            libc::connect(fd::UDP_CORKED, (&raw const rto).cast(), sin_len) == 0,
            ready,
            b'K',
        );
        let one: i32 = 1;
        check(
            libc::setsockopt(
                fd::UDP_CORKED,
                libc::SOL_UDP,
                libc::UDP_CORK,
                (&raw const one).cast(),
                4,
            ) == 0,
            ready,
            b'k',
        );
        libc::send(
            fd::UDP_CORKED,
            UDP_CORK_DATA.as_ptr().cast(),
            UDP_CORK_DATA.len(),
            0,
        );
        // IPv6: a datagram waiting on [::1] (IPv6 needed: '6' if absent)
        let sin6_len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        place(
            libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0),
            fd::UDP6_RECV,
            ready,
        );
        let any6 = loopback6(0);
        check(
            libc::bind(fd::UDP6_RECV, (&raw const any6).cast(), sin6_len) == 0,
            ready,
            b'6',
        );
        let to6 = loopback6(bound_port6(fd::UDP6_RECV));
        place(
            libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0),
            fd::UDP6_SEND,
            ready,
        );
        check(
            libc::connect(fd::UDP6_SEND, (&raw const to6).cast(), sin6_len) == 0,
            ready,
            b'7',
        );
        libc::send(fd::UDP6_SEND, UDP6_DATA.as_ptr().cast(), UDP6_DATA.len(), 0);
        // mappings: anon private, anon shared, file shared, file private read-only
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let m1 = libc::mmap(
            std::ptr::null_mut(),
            3 * 4096,
            rw,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        check(m1 != libc::MAP_FAILED, ready, b'1');
        *(m1 as *mut u8) = 1;
        let m2 = libc::mmap(
            std::ptr::null_mut(),
            2 * 4096,
            rw,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        check(m2 != libc::MAP_FAILED, ready, b'2');
        let m3 = libc::mmap(
            std::ptr::null_mut(),
            2 * 4096,
            rw,
            libc::MAP_SHARED,
            fd::FILE_RW,
            4096,
        );
        check(m3 != libc::MAP_FAILED, ready, b'3');
        let m4 = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            fd::FILE_RW,
            0,
        );
        check(m4 != libc::MAP_FAILED, ready, b'4');
        let r = [b'R'];
        libc::write(ready, r.as_ptr().cast(), 1);
        loop {
            libc::pause();
        }
    }
}

/// Distinct files of [`spawn_sharing`]: more than the crib programs' path
/// cache has slots (256), so slots are shared and overwritten.
pub const SHARED_FILES: usize = 300;
/// Descriptors per file, and file mappings of each of the first
/// [`SHARED_MAPPED`] files (private, every other one executable so that
/// neighbours never merge).
pub const FDS_PER_FILE: usize = 2;
pub const MAPS_PER_FILE: usize = 3;
pub const SHARED_MAPPED: usize = 40;

/// A child whose descriptors and mappings share files, as a library or a
/// data file is shared: each of [`SHARED_FILES`] files open
/// [`FDS_PER_FILE`] times, a hard link to file 0 open under its own name
/// (same inode, another dentry: another path), and [`MAPS_PER_FILE`]
/// mappings of each of the first [`SHARED_MAPPED`] files.
pub fn spawn_sharing() -> LiveChild {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for i in 0..SHARED_FILES {
        let p = dir.path().join(format!("shared-{i:03}"));
        std::fs::write(&p, vec![i as u8; 2 * 4096]).expect("write shared file");
        paths.push(cstr(&p));
    }
    let link = dir.path().join("hardlink-to-000");
    std::fs::hard_link(dir.path().join("shared-000"), &link).expect("hard link");
    let c_link = cstr(&link);
    // SAFETY: raw syscalls on memory prepared before the fork.
    let pid = fork_ready(|ready| unsafe { sharing_main(&paths, &c_link, ready) });
    LiveChild {
        pid,
        file_path: link,
        unlinked_path: PathBuf::new(),
        dir,
    }
}

/// A child whose mm is written to without pause: one page between two
/// PROT_NONE guard pages (so its VMA never merges and the map keeps its
/// VMA count) has its protection flipped by mprotect in a loop, each call
/// taking the mm's write lock and write-locking that VMA. The child and
/// the page's address.
pub fn spawn_toggling() -> (LiveChild, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    // SAFETY: an anonymous mapping in our own address space, inherited by
    // the child; the parent unmaps its copy after the fork.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            3 * 4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap");
    let page = base as usize + 4096;
    // SAFETY: raw syscalls on the mapping above; never returns.
    let pid = fork_ready(|ready| unsafe { toggling_main(page, ready) });
    // SAFETY: the parent's copy of the mapping, no longer used here.
    unsafe { libc::munmap(base, 3 * 4096) };
    let child = LiveChild {
        pid,
        file_path: PathBuf::new(),
        unlinked_path: PathBuf::new(),
        dir,
    };
    (child, page as u64)
}

unsafe fn toggling_main(page: usize, ready: i32) -> ! {
    unsafe {
        let p = page as *mut libc::c_void;
        check(libc::mprotect(p, 4096, libc::PROT_READ) == 0, ready, b'p');
        let b = [b'R'];
        libc::write(ready, b.as_ptr().cast(), 1);
        loop {
            libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_WRITE);
            libc::mprotect(p, 4096, libc::PROT_READ);
        }
    }
}

/// Wait (at most 10 s) for the child's status byte: `R` = ready.
fn wait_ready(r: &OwnedFd) {
    let mut pfd = libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on the stack.
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "child did not get ready within 10 s");
    let mut b = [0u8; 1];
    // SAFETY: reading one byte into a stack buffer.
    let got = unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
    assert!(
        got == 1 && b[0] == b'R',
        "child failed while setting up (status byte {:?})",
        b[0]
    );
}

unsafe fn sharing_main(paths: &[CString], link: &CString, ready: i32) -> ! {
    unsafe {
        for round in 0..FDS_PER_FILE {
            for p in paths {
                let flags = if round % 2 == 0 {
                    libc::O_RDONLY
                } else {
                    libc::O_RDWR
                };
                check(libc::open(p.as_ptr(), flags) >= 0, ready, b'o');
            }
        }
        check(libc::open(link.as_ptr(), libc::O_RDONLY) >= 0, ready, b'l');
        for (i, p) in paths.iter().take(SHARED_MAPPED).enumerate() {
            let fd = libc::open(p.as_ptr(), libc::O_RDONLY);
            check(fd >= 0, ready, b'm');
            for k in 0..MAPS_PER_FILE {
                let prot = if (i * MAPS_PER_FILE + k) % 2 == 0 {
                    libc::PROT_READ
                } else {
                    libc::PROT_READ | libc::PROT_EXEC
                };
                let off = (k % 2 * 4096) as libc::off_t;
                let m = libc::mmap(std::ptr::null_mut(), 4096, prot, libc::MAP_PRIVATE, fd, off);
                check(m != libc::MAP_FAILED, ready, b'M');
            }
            libc::close(fd);
        }
        let b = [b'R'];
        libc::write(ready, b.as_ptr().cast(), 1);
        loop {
            libc::pause();
        }
    }
}
