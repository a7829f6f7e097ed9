//! The `upstream` engine on the host kernel, against the `procfs` engine on a
//! live child with a known set of fds, mappings and sockets (differential),
//! and its two memory-map readers (iter/task_vma vs SEC("syscall")) against
//! each other. Needs root and a kernel with BPF iterators (the host lane).

mod common;

use common::fd;
use crib_harness::diff::diff_dumps;
use crib_harness::dump::{dump, DumpRequest};
use crib_harness::engine::upstream::{UpstreamEngine, QUEUES_UNSUPPORTED};
use crib_harness::engine::{DumpEngine, EngineChoice, EngineKind, KernelFeatures};
use crib_harness::model::{Captured, FileKind, SockAddr};

fn upstream() -> UpstreamEngine {
    match UpstreamEngine::open() {
        Ok(e) => e,
        Err(e) => panic!("the upstream engine must load on the host lane: {e}"),
    }
}

fn dump_with(pid: i32, kind: EngineKind) -> crib_harness::model::Dump {
    dump(&DumpRequest::all(pid, EngineChoice::Fixed(kind)))
        .unwrap_or_else(|e| panic!("{kind} dump of pid {pid}: {e}"))
}

#[test]
fn upstream_equals_procfs_on_a_live_child() {
    let child = common::spawn();
    let up = dump_with(child.pid, EngineKind::Upstream);
    let mut pf = dump_with(child.pid, EngineKind::Procfs);
    // /proc/PID/maps lists the vsyscall gate page, which is not a vma of the
    // task's mm (the same page for every x86-64 process, nothing to restore);
    // the vma iterators, like the kernel's own mm walk, do not see it.
    pf.mappings.retain(|m| m.path != "[vsyscall]");
    let diffs = diff_dumps(&up, &pf);
    assert!(
        diffs.is_empty(),
        "upstream != procfs:\n{}",
        diffs.join("\n")
    );
    // The comparison must have had something to compare.
    assert!(up.files.len() >= 15, "files: {:?}", up.files);
    assert_eq!(up.sockets.len(), 12, "sockets: {:?}", up.sockets);
    assert!(up.mappings.len() >= 10);
}

#[test]
fn upstream_sees_the_known_state() {
    let child = common::spawn();
    let mut e = upstream();
    let t = e.task(child.pid).expect("task");
    assert_eq!(t.pid, child.pid);
    assert_eq!(t.vpid, child.pid, "host pid namespace");

    let files = e.files(child.pid).expect("files").files;
    let by_fd = |n: i32| {
        files
            .iter()
            .find(|f| f.fd == n)
            .unwrap_or_else(|| panic!("fd {n} missing from {files:?}"))
    };
    let rw = by_fd(fd::FILE_RW);
    assert_eq!(rw.pos, common::FILE_POS as u64);
    assert_eq!(rw.flags & libc::O_ACCMODE as u32, libc::O_RDWR as u32);
    assert_eq!(rw.path, child.file_path.to_string_lossy());
    assert_eq!(rw.size, 3 * 4096);
    assert!(by_fd(fd::FILE_RO_CLOEXEC).cloexec);
    assert!(!rw.cloexec);
    let gone = by_fd(fd::FILE_UNLINKED);
    assert!(gone.unlinked);
    assert_eq!(gone.path, child.unlinked_path.to_string_lossy());
    assert_eq!(by_fd(fd::PIPE_R).kind, FileKind::Pipe);
    assert_eq!(
        by_fd(fd::PIPE_R).path,
        format!("pipe:[{}]", by_fd(fd::PIPE_R).ino)
    );
    assert_eq!(by_fd(fd::TCP_SERVER).kind, FileKind::Socket);

    let socks = e.sockets(child.pid, &files).expect("sockets");
    let sock = |n: i32| {
        let ino = by_fd(n).ino;
        socks
            .iter()
            .find(|s| s.ino == ino)
            .unwrap_or_else(|| panic!("socket of fd {n} (ino {ino}) missing"))
    };
    let srv = sock(fd::TCP_SERVER);
    assert_eq!(srv.state, 1, "TCP_ESTABLISHED");
    let tcp = srv.tcp.as_ref().expect("tcp state");
    let client = sock(fd::TCP_CLIENT).tcp.clone().expect("client tcp");
    assert_eq!(
        tcp.rcv_nxt, client.write_seq,
        "the server got all the client wrote"
    );
    assert_eq!(client.snd_una, client.write_seq, "and acknowledged it");
    assert_eq!(client.unsent_len, 0);
    let cork = sock(fd::UDP_CORKED).udp.as_ref().expect("udp state");
    assert!(cork.corked);
    // udp_sock.len counts the UDP header of the pending frame
    assert_eq!(
        cork.pending_len,
        Some(common::UDP_CORK_DATA.len() as u32 + 8)
    );
    assert!(!sock(fd::UDP_CONNECTED).udp.as_ref().expect("udp").corked);
    assert!(matches!(
        sock(fd::UDP_CONNECTED).remote,
        SockAddr::Inet { .. }
    ));
    let ua = sock(fd::UNIX_STREAM_A);
    assert_eq!(
        ua.unix.as_ref().expect("unix").peer_ino,
        by_fd(fd::UNIX_STREAM_B).ino
    );

    let maps = e.memory_map(child.pid).expect("mm");
    let file_maps: Vec<_> = maps
        .iter()
        .filter(|m| m.path == child.file_path.to_string_lossy())
        .collect();
    assert_eq!(file_maps.len(), 2, "{maps:?}");
    assert!(file_maps.iter().any(|m| m.pgoff == 4096 && m.is_shared()));
    assert!(maps.iter().any(|m| m.path == "[stack]"));
    assert!(maps.iter().any(|m| m.path == "[heap]") || maps.iter().all(|m| m.path != "[heap]"));
}

#[test]
fn queues_are_reported_unsupported_never_empty() {
    let child = common::spawn();
    let mut e = upstream();
    let f = e.files(child.pid).expect("files");
    let mut socks = e.sockets(child.pid, &f.files).expect("sockets");
    let mut pipes = f.pipes.clone();
    assert!(!pipes.is_empty() && !socks.is_empty());
    e.queues(child.pid, &f.files, &mut socks, &mut pipes)
        .expect("queues is not an error, it says what it cannot see");
    let cork_ino = f
        .files
        .iter()
        .find(|x| x.fd == fd::UDP_CORKED)
        .expect("corked fd")
        .ino;
    let s = socks
        .iter()
        .find(|s| s.ino == cork_ino)
        .expect("corked socket");
    for q in [&s.write_queue, &s.recv_queue] {
        match q {
            Captured::Unavailable { reason } => assert_eq!(reason, QUEUES_UNSUPPORTED),
            Captured::Data(v) => panic!("upstream claimed a queue it cannot read: {v:?}"),
        }
    }
    assert!(socks.iter().all(|s| s.write_queue.data().is_none()));
    assert!(pipes.iter().all(|p| p.data.data().is_none()));
}

#[test]
fn syscall_path_equals_iterator_path() {
    let f = KernelFeatures::detect();
    let mut e = upstream();
    if !(f.task_from_vpid && f.task_vma_iter_kfunc) {
        // Not a skip: on such a kernel the engine must say why.
        let err = e
            .memory_map_syscall(1)
            .expect_err("no kfuncs, no syscall path");
        assert!(err.to_string().contains("bpf_task_from_vpid"), "{err}");
        return;
    }
    assert!(e.has_syscall_path());
    let child = common::spawn();
    let mut a = e.memory_map(child.pid).expect("iter/task_vma");
    let mut b = e.memory_map_syscall(child.pid).expect("SEC(syscall)");
    for m in a.iter_mut().chain(b.iter_mut()) {
        m.normalize();
    }
    assert_eq!(a, b);
    let t1 = e.task(child.pid).expect("iter/task");
    let t2 = e.task_syscall(child.pid).expect("SEC(syscall) task");
    assert_eq!(t1, t2);
}

#[test]
fn socket_iterators_find_the_same_sockets() {
    let child = common::spawn();
    let mut e = upstream();
    let files = e.files(child.pid).expect("files").files;
    let a = e.sockets(child.pid, &files).expect("via task_file");
    let b = e
        .sockets_via_socket_iters(child.pid, &files)
        .expect("via iter/tcp, iter/udp, iter/unix");
    assert_eq!(a.len(), 12, "{a:?}");
    let missing: Vec<_> = a
        .iter()
        .filter(|x| !b.iter().any(|y| y.ino == x.ino))
        .collect();
    assert!(
        missing.is_empty(),
        "the socket iterators missed {missing:?}"
    );
    for (x, y) in a.iter().zip(&b) {
        let (jx, jy) = (serde_json::to_value(x), serde_json::to_value(y));
        assert_eq!(x, y, "socket {}: {jx:?}\n!=\n{jy:?}", x.ino);
    }
}

#[test]
fn resident_engine_dumps_many_times() {
    let child = common::spawn();
    let mut e = upstream();
    let first = e.files(child.pid).expect("files").files;
    for _ in 0..20 {
        assert_eq!(e.files(child.pid).expect("files again").files, first);
    }
    let other = common::spawn();
    let second = e.files(other.pid).expect("files of another pid").files;
    assert_eq!(second.len(), first.len());
    assert_ne!(
        second.iter().find(|f| f.fd == fd::PIPE_R).map(|f| f.ino),
        first.iter().find(|f| f.fd == fd::PIPE_R).map(|f| f.ino),
        "the tgid filter follows the pid"
    );
}

#[test]
fn dead_pid_is_a_clear_error() {
    let mut e = upstream();
    // pid_max is at most 2^22: this pid cannot exist.
    let err = e.files(4_194_304 + 7).expect_err("no such pid");
    assert!(err.to_string().contains("no such process"), "{err}");
}

#[test]
fn every_iterator_program_names_its_btf_target() {
    use crib_harness::engine::bpfobj::{self, objects};
    use crib_harness::engine::upstream::PROG_TARGETS;
    let open = bpfobj::open("crib_iter", objects::CRIB_ITER).expect("crib_iter built");
    for p in open.progs() {
        let name = p.name().to_string_lossy().into_owned();
        let (_, target) = PROG_TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} has no entry in PROG_TARGETS"));
        // SEC("iter/task_file") <-> struct bpf_iter__task_file
        let sec = p.section().to_string_lossy().into_owned();
        assert_eq!(
            sec.trim_start_matches("iter/"),
            target.trim_start_matches("bpf_iter__"),
            "{name}"
        );
    }
}
