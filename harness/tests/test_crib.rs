//! The `crib` engine. Two lanes:
//! - host (`cargo test`): the objects are built and well-formed, and on a
//!   kernel without the CRIB kfuncs the engine and the restorer refuse to
//!   open with "crib kfuncs not present in this kernel";
//! - VM (`#[ignore]`d here; run by `cargo xtask vmtest` as
//!   `test_crib --include-ignored` on the patched kernel): dumps of a live
//!   child against procfs, every queue incl. a corked UDP write queue, and
//!   the UDP receive-queue restore kfunc. On a kernel without the kfuncs the
//!   VM tests fail, they do not skip.

mod common;

use common::fd;
use crib_harness::diff::diff_dumps;
use crib_harness::dump::{dump, DumpRequest};
use crib_harness::engine::bpfobj::{self, objects};
use crib_harness::engine::crib::{
    missing_kfuncs, CribEngine, CribRestorer, LoadedAs, RestoreDatagram, NO_KFUNCS,
};
use crib_harness::engine::{DumpEngine, EngineChoice, EngineKind, KernelFeatures};
use crib_harness::model::{Captured, Dump, SockAddr};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;

const VM_LANE: &str = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)";

#[test]
fn crib_objects_are_built_with_their_programs() {
    for (name, bytes, progs) in [
        (
            "crib_dump",
            objects::CRIB_DUMP,
            &[
                "crib_dump_task",
                "crib_dump_files",
                "crib_dump_vmas",
                "crib_dump_queue",
                "crib_dump_queues",
            ][..],
        ),
        (
            "crib_restore",
            objects::CRIB_RESTORE,
            &["crib_restore_udp_rcv"][..],
        ),
    ] {
        let open = bpfobj::open(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let found: Vec<String> = open
            .progs()
            .map(|p| {
                assert_eq!(
                    p.section(),
                    "crib",
                    "{name}: programs live in SEC(\"crib\")"
                );
                p.name().to_string_lossy().into_owned()
            })
            .collect();
        for p in progs {
            assert!(
                found.iter().any(|f| f == p),
                "{name}: {p} missing from {found:?}"
            );
        }
    }
}

#[test]
fn without_kfuncs_the_engine_says_so() {
    let missing = missing_kfuncs(&KernelFeatures::detect());
    match CribEngine::open() {
        Ok(_) => assert!(
            missing.is_empty(),
            "opened although {missing:?} are missing"
        ),
        Err(e) => {
            assert!(
                !missing.is_empty(),
                "all kfuncs present but open failed: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(NO_KFUNCS), "{msg}");
            assert!(msg.contains(missing[0]), "names what is missing: {msg}");
        }
    }
    if !KernelFeatures::detect().crib_restore {
        let e = CribRestorer::open()
            .err()
            .expect("no restore kfunc, no restorer");
        assert!(e.to_string().contains(NO_KFUNCS), "{e}");
    }
}

#[test]
fn auto_selection_never_picks_crib_without_kfuncs() {
    let f = KernelFeatures::detect();
    if missing_kfuncs(&f).is_empty() {
        return; // the patched kernel: crib is a legitimate choice there
    }
    let child = common::spawn();
    let d = dump(&DumpRequest::all(child.pid, EngineChoice::Auto)).expect("auto dump");
    assert!(
        d.info.engines.iter().all(|(_, e)| e != "crib"),
        "{:?}",
        d.info.engines
    );
}

fn crib() -> CribEngine {
    CribEngine::open().unwrap_or_else(|e| panic!("{VM_LANE}: {e}"))
}

fn crib_dump(pid: i32) -> Dump {
    dump(&DumpRequest::all(
        pid,
        EngineChoice::Fixed(EngineKind::Crib),
    ))
    .unwrap_or_else(|e| panic!("crib dump of {pid}: {e}"))
}

/// `c` is what procfs says of `pid` (procfs also lists the vsyscall page,
/// which no VMA iterator sees).
fn assert_equals_procfs(c: &Dump, pid: i32) {
    let mut p = dump(&DumpRequest::all(
        pid,
        EngineChoice::Fixed(EngineKind::Procfs),
    ))
    .expect("procfs dump");
    p.mappings.retain(|m| m.path != "[vsyscall]");
    let diffs = diff_dumps(c, &p);
    assert!(diffs.is_empty(), "crib != procfs:\n{}", diffs.join("\n"));
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_equals_procfs_on_a_live_child() {
    let child = common::spawn();
    let c = crib_dump(child.pid);
    assert_equals_procfs(&c, child.pid);
    assert!(c.files.len() >= 17 && c.sockets.len() == 12 && c.mappings.len() >= 10);
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_a_map_written_to_without_pause_is_dumped_whole_every_time() {
    // Since 7.x the VMA iterator steps over a VMA a writer holds locked:
    // with a child flipping one VMA's protection in a loop, every dump
    // must still have all its mappings (the engine walks again until the
    // count matches mm->map_count) or fail, never come back short.
    let (child, page) = common::spawn_toggling();
    let counts: Vec<usize> = (0..8)
        .map(|_| {
            let c = crib_dump(child.pid);
            assert!(
                c.mappings
                    .iter()
                    .any(|m| m.start == page && m.end == page + 4096),
                "the toggled page {page:#x} is missing"
            );
            c.mappings.len()
        })
        .collect();
    assert!(counts.iter().all(|n| *n == counts[0]), "{counts:?}");
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_paths_shared_by_many_fds_and_mappings_equal_procfs() {
    // The programs' path cache: hits (a file per two descriptors and three
    // mappings), slots overwritten (more files than slots), and a hard
    // link (same inode, its own path) must all give procfs's paths.
    let child = common::spawn_sharing();
    let c = crib_dump(child.pid);
    assert_equals_procfs(&c, child.pid);
    let shared = |path: &str| path.contains("/shared-");
    assert_eq!(
        c.files.iter().filter(|f| shared(&f.path)).count(),
        common::SHARED_FILES * common::FDS_PER_FILE
    );
    assert_eq!(
        c.mappings.iter().filter(|m| shared(&m.path)).count(),
        common::SHARED_MAPPED * common::MAPS_PER_FILE
    );
    let link = child.file_path.to_string_lossy();
    assert_eq!(
        c.files.iter().filter(|f| f.path == link).count(),
        1,
        "{link}"
    );
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_equals_upstream() {
    let child = common::spawn();
    let c = crib_dump(child.pid);
    let u = dump(&DumpRequest::all(
        child.pid,
        EngineChoice::Fixed(EngineKind::Upstream),
    ))
    .expect("upstream dump");
    let diffs = diff_dumps(&c, &u);
    assert!(diffs.is_empty(), "crib != upstream:\n{}", diffs.join("\n"));
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_reads_every_queue_including_corked_udp() {
    let child = common::spawn();
    let d = crib_dump(child.pid);
    let sock = |n: i32| {
        let ino = d.file(n).unwrap_or_else(|| panic!("fd {n}")).ino;
        d.socket(ino).unwrap_or_else(|| panic!("socket of fd {n}"))
    };
    let data = |q: &Captured<Vec<crib_harness::model::Segment>>| -> Vec<Vec<u8>> {
        match q {
            Captured::Data(segs) => segs.iter().map(|s| s.data.clone()).collect(),
            Captured::Unavailable { reason } => panic!("queue unavailable: {reason}"),
        }
    };
    // the point of CRIB: the pending frame of a corked UDP socket
    let cork = sock(fd::UDP_CORKED);
    assert!(cork.udp.as_ref().expect("udp").corked);
    assert_eq!(data(&cork.write_queue).concat(), common::UDP_CORK_DATA);
    // ... with its destination from the cork's flow (the peer here): an
    // unconnected sendto() sender has no other copy of it
    let wq = cork.write_queue.data().expect("udp write queue");
    assert!(
        wq.iter().all(|s| s.addr.as_ref() == Some(&cork.remote)),
        "pending frame destination {:?}, peer {:?}",
        wq.iter().map(|s| &s.addr).collect::<Vec<_>>(),
        cork.remote
    );
    // a datagram waiting to be read, with its source
    let rx = sock(fd::UDP_RECV);
    let segs = rx.recv_queue.data().expect("udp receive queue");
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].data, common::UDP_RECV_DATA);
    match &segs[0].addr {
        Some(SockAddr::Inet { ip, port }) => {
            assert_eq!(*ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert_eq!(
                Some(*port),
                match &sock(fd::UDP_CONNECTED).local {
                    SockAddr::Inet { port, .. } => Some(*port),
                    _ => None,
                }
            );
        }
        other => panic!("source address: {other:?}"),
    }
    assert_eq!(
        data(&sock(fd::TCP_SERVER).recv_queue).concat(),
        common::TCP_DATA
    );
    assert_eq!(data(&sock(fd::TCP_CLIENT).write_queue).concat(), b"");
    assert_eq!(
        data(&sock(fd::UNIX_STREAM_B).recv_queue).concat(),
        common::UNIX_STREAM_DATA
    );
    assert_eq!(
        data(&sock(fd::UNIX_DGRAM_B).recv_queue),
        vec![common::UNIX_DGRAM_DATA.to_vec()]
    );
    assert!(data(&sock(fd::UDP_CONNECTED).write_queue).is_empty());
    // IPv6: payload and source from the IPv6/UDP headers
    let rx6 = sock(fd::UDP6_RECV)
        .recv_queue
        .data()
        .expect("udp6 receive queue");
    assert_eq!(rx6.len(), 1);
    assert_eq!(rx6[0].data, common::UDP6_DATA);
    let send6_port = match &sock(fd::UDP6_SEND).local {
        SockAddr::Inet { port, .. } => *port,
        other => panic!("udp6 sender address: {other:?}"),
    };
    assert_eq!(
        rx6[0].addr,
        Some(SockAddr::Inet {
            ip: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            port: send6_port
        })
    );
}

/// Pipes of this process holding `sizes` bytes each (both ends kept).
fn pipes_with(sizes: &[usize]) -> Vec<(std::os::fd::OwnedFd, std::os::fd::OwnedFd, Vec<u8>)> {
    use std::os::fd::FromRawFd;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut fds = [0; 2];
            // SAFETY: pipe2 writes two fds into the array.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: both are new descriptors, owned from here on.
            let (r, w) = unsafe {
                (
                    std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                    std::os::fd::OwnedFd::from_raw_fd(fds[1]),
                )
            };
            let data: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
            // SAFETY: writes n bytes from a live buffer (n fits the pipe).
            let wrote = unsafe { libc::write(w.as_raw_fd(), data.as_ptr().cast(), n) };
            assert_eq!(wrote, n as isize);
            (r, w, data)
        })
        .collect()
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_reads_pipes_in_resumed_batches() {
    // 5 pipes of 40 kB through a 128 KiB ring: the queues program stops
    // when the ring is full and resumes at the fd it stopped in
    let pipes = pipes_with(&[40_000; 5]);
    let pid = std::process::id() as i32;
    let mut e = CribEngine::open_with_ring(Some(128 << 10)).expect("crib engine");
    let files = e.files(pid).expect("files");
    let mut pipe_recs = files.pipes.clone();
    e.queues(pid, &files.files, &mut [], &mut pipe_recs)
        .expect("queues");
    for (r, _, data) in &pipes {
        let ino = files
            .files
            .iter()
            .find(|f| f.fd == r.as_raw_fd())
            .expect("pipe fd")
            .ino;
        let got = pipe_recs
            .iter()
            .find(|p| p.ino == ino)
            .expect("pipe record");
        assert_eq!(got.data.data().map(Vec::len), Some(data.len()), "ino {ino}");
        assert_eq!(got.data.data(), Some(data), "ino {ino}");
    }
    // nothing was consumed
    for (r, _, data) in &pipes {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        assert_eq!(
            unsafe { libc::ioctl(r.as_raw_fd(), libc::FIONREAD, &mut n) },
            0
        );
        assert_eq!(n as usize, data.len());
    }
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_pipe_larger_than_the_ring_is_an_error() {
    // one 64 KiB chunk cannot fit a 64 KiB ring with its margin: an error
    // naming the fd, never a short pipe
    let pipes = pipes_with(&[65_536]);
    let pid = std::process::id() as i32;
    let mut e = CribEngine::open_with_ring(Some(64 << 10)).expect("crib engine");
    let files = e.files(pid).expect("files");
    let mut pipe_recs = files.pipes.clone();
    let err = e
        .queues(pid, &files.files, &mut [], &mut pipe_recs)
        .expect_err("ring too small");
    let fd = pipes[0].0.as_raw_fd();
    assert!(
        err.to_string().contains(&format!("fd {fd} ")) && err.to_string().contains("ring buffer"),
        "{err}"
    );
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_resident_engine_dumps_many_times() {
    let child = common::spawn();
    let mut e = crib();
    let first = e.files(child.pid).expect("files").files;
    for _ in 0..20 {
        assert_eq!(e.files(child.pid).expect("again").files, first);
    }
    let t = e.task(child.pid).expect("task");
    assert_eq!(t.pid, child.pid);
    // the patched kernel has the program type: no silent SYSCALL fallback
    assert_eq!(e.loaded_as(), LoadedAs::Crib);
}

#[test]
#[ignore = "VM lane: needs the CRIB-patched kernel (cargo xtask vmtest)"]
fn vm_crib_restore_queues_a_datagram() {
    let r = CribRestorer::open().unwrap_or_else(|e| panic!("{VM_LANE}: {e}"));
    assert_eq!(r.loaded_as(), LoadedAs::Crib);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let payload = b"restored by bpf_crib_udp_queue_rcv";
    let src = (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), 4242);
    r.udp_queue_rcv(
        std::process::id() as i32,
        sock.as_raw_fd(),
        &RestoreDatagram {
            data: payload,
            source: src,
            tstamp_ns: 0,
            mark: 0,
            ifindex: 0,
            tos: 0,
        },
    )
    .expect("queue a datagram");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 128];
    let (n, from) = sock.recv_from(&mut buf).expect("the datagram is there");
    assert_eq!(&buf[..n], payload);
    assert_eq!(from.ip(), src.0);
    assert_eq!(from.port(), src.1);
    // a family that does not match the socket is refused, not queued
    let err = r
        .udp_queue_rcv(
            std::process::id() as i32,
            sock.as_raw_fd(),
            &RestoreDatagram {
                data: payload,
                source: ("::1".parse().expect("v6"), 1),
                tstamp_ns: 0,
                mark: 0,
                ifindex: 0,
                tos: 0,
            },
        )
        .expect_err("wrong family");
    assert!(
        err.to_string().contains("family") || err.to_string().contains("not supported"),
        "{err}"
    );
    // v2 fields: taken by a v2 kernel, refused (not dropped) by a v1 kernel
    let with_tos = RestoreDatagram {
        data: b"tos",
        source: src,
        tstamp_ns: 0,
        mark: 0,
        ifindex: 0,
        tos: 0x10,
    };
    let res = r.udp_queue_rcv(std::process::id() as i32, sock.as_raw_fd(), &with_tos);
    match crib_harness::engine::crib::kernel_skb_info_size() {
        Some(48) => {
            res.expect("a v2 kernel takes tos");
            let (n, _) = sock.recv_from(&mut buf).expect("the tos datagram");
            assert_eq!(&buf[..n], b"tos");
        }
        Some(40) => {
            let e = res.expect_err("a v1 kernel cannot take tos");
            assert!(e.to_string().contains("not supported"), "{e}");
        }
        other => panic!("bpf_crib_skb_info size in this kernel: {other:?}"),
    }
}

fn chunk(
    index: u32,
    frame_len: u32,
    offset: u32,
    data: &[u8],
) -> crib_harness::engine::wire::WireRecord {
    crib_harness::engine::wire::WireRecord::Skb(crib_harness::engine::wire::Skb {
        sock_ino: 1,
        fd: 3,
        queue: 1,
        flags: 0,
        index,
        frame_len,
        offset,
        tstamp_ns: 0,
        addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        port: 5353,
        family: 2,
        mark: 0,
        data: data.to_vec(),
    })
}

#[test]
fn frames_reassemble_from_chunks_and_keep_boundaries() {
    use crib_harness::engine::crib::frames_to_segments;
    let recs = vec![
        chunk(0, 5, 0, b"abc"),
        chunk(0, 5, 3, b"de"),
        chunk(1, 0, 0, b""),
        chunk(2, 2, 0, b"xy"),
    ];
    let dgram = frames_to_segments(&recs, false).expect("whole frames");
    assert_eq!(dgram.len(), 3);
    assert_eq!(dgram[0].data, b"abcde");
    assert_eq!(dgram[1].data, b"");
    assert_eq!(
        dgram[2].addr,
        Some(SockAddr::Inet {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5353
        })
    );
    let stream = frames_to_segments(&recs, true).expect("stream");
    assert!(stream.iter().all(|s| s.addr.is_none()));
}

#[test]
fn a_cut_frame_is_an_error_not_a_short_queue() {
    use crib_harness::engine::crib::frames_to_segments;
    let e = frames_to_segments(&[chunk(0, 10, 0, b"abc")], false).expect_err("3 of 10");
    assert!(e.contains("3 of 10"), "{e}");
    let e = frames_to_segments(&[chunk(0, 6, 0, b"abc"), chunk(0, 6, 4, b"ef")], false)
        .expect_err("gap");
    assert!(e.contains("offset 4"), "{e}");
}

#[test]
fn a_refused_load_names_the_verifier_verdict() {
    use crib_harness::engine::crib::{load_with_ring, BPF_PROG_TYPE_SYSCALL};
    if missing_kfuncs(&KernelFeatures::detect()).is_empty() {
        return; // everything resolves on the patched kernel: nothing to refuse
    }
    // Without the CRIB kfuncs the weak calls stay unresolved and the
    // verifier refuses the programs that reach one: loaded program by
    // program, each refusal names the verifier's reason (on a kernel where
    // none loads, the object's error does).
    let reasons: Vec<String> =
        match load_with_ring("crib_dump", objects::CRIB_DUMP, BPF_PROG_TYPE_SYSCALL, None) {
            Ok((_, rejected)) => {
                assert!(
                    !rejected.is_empty(),
                    "every program loaded without the kfuncs"
                );
                rejected
                    .into_iter()
                    .map(|r| format!("{}: {}", r.prog, r.reason))
                    .collect()
            }
            Err(e) => vec![e.to_string()],
        };
    for msg in &reasons {
        assert!(
            msg.contains("wasn't resolved") || msg.contains("invalid kfunc"),
            "{msg}"
        );
        assert!(
            msg.len() < 8192,
            "a reason, not the whole log: {} bytes",
            msg.len()
        );
    }
}
