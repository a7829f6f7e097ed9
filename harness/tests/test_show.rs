//! `crib show` rendering (snapshot).

use crib_harness::image::{decode, encode, insert_raw_record, Image};
use crib_harness::model::*;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

fn sample() -> Dump {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let file = |fd, kind, path: &str, ino| FileRecord {
        fd,
        flags: 0o100002,
        cloexec: fd == 3,
        pos: 17,
        kind,
        path: path.into(),
        unlinked: path.ends_with("gone"),
        ino,
        dev: DevId { major: 8, minor: 1 },
        mode: 0o100600,
        size: 100,
    };
    Dump {
        info: DumpInfo {
            engines: vec![
                (Operation::Task, "procfs".into()),
                (Operation::Queues, "procfs".into()),
            ],
            notes: vec!["socket fd 5 (ino 11): write queue not dumped: cannot see it".into()],
        },
        task: TaskRecord {
            pid: 4242,
            vpid: 1,
            pidns_level: 1,
            comm: "zdtm".into(),
            namespaces: Namespaces {
                pid: 4026531836,
                net: 4026531833,
                mnt: 4026531832,
                ..Default::default()
            },
        },
        files: vec![
            file(3, FileKind::Regular, "/tmp/data", 7),
            file(4, FileKind::Regular, "/tmp/gone", 8),
            file(5, FileKind::Socket, "socket:[11]", 11),
            file(6, FileKind::Pipe, "pipe:[12]", 12),
        ],
        contents: vec![FileContents {
            fd: 4,
            data: b"saved".to_vec(),
        }],
        pipes: vec![PipeRecord {
            ino: 12,
            data: Captured::Data(b"abc".to_vec()),
        }],
        mappings: vec![MappingRecord {
            start: 0x7f00_0000_0000,
            end: 0x7f00_0000_2000,
            flags: vm_flags::READ | vm_flags::WRITE | vm_flags::MAYREAD,
            pgoff: 0,
            path: PathStr::default(),
            ino: 0,
            dev: DevId::default(),
        }],
        sockets: vec![SocketRecord {
            ino: 11,
            family: family::INET,
            sock_type: sock_type::DGRAM,
            protocol: 17,
            state: 1,
            local: SockAddr::Inet { ip: lo, port: 4000 },
            remote: SockAddr::Inet { ip: lo, port: 5000 },
            options: SockOptions::default(),
            tcp: None,
            udp: Some(UdpState {
                corked: true,
                pending_len: None,
            }),
            unix: None,
            recv_queue: Captured::Data(vec![Segment {
                data: b"hi".to_vec(),
                addr: None,
            }]),
            write_queue: Captured::unavailable("cannot see it"),
        }],
    }
}

#[test]
fn show_renders_every_record_kind() {
    let bytes = insert_raw_record(&encode(&sample()), 77, b"{}").expect("insert");
    let img: Image = decode(Path::new("x/crib.img"), &bytes).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(crib_harness::show::render(&img));
}
