//! Image format: round trips, forward compatibility, corruption.

use crib_harness::image::{decode, encode, insert_raw_record, record_offsets, rtype, ImageError};
use crib_harness::model::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

fn arb_captured<T: std::fmt::Debug + Clone + 'static>(
    inner: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Captured<T>> {
    prop_oneof![
        inner.prop_map(Captured::Data),
        "[a-z ]{0,20}".prop_map(|r| Captured::unavailable(r)),
    ]
}

fn arb_addr() -> impl Strategy<Value = SockAddr> {
    prop_oneof![
        Just(SockAddr::None),
        (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SockAddr::Inet {
            ip: IpAddr::V4(Ipv4Addr::from(ip)),
            port
        }),
        proptest::collection::vec(any::<u8>(), 1..20).prop_map(|path| SockAddr::Unix { path }),
    ]
}

fn arb_segments() -> impl Strategy<Value = Vec<Segment>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::option::of(arb_addr()),
        )
            .prop_map(|(data, addr)| Segment { data, addr }),
        0..4,
    )
}

fn arb_file() -> impl Strategy<Value = FileRecord> {
    (
        any::<i32>(),
        any::<u32>(),
        any::<bool>(),
        any::<u64>(),
        "[ -~]{0,40}",
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(fd, flags, cloexec, pos, path, unlinked, ino)| FileRecord {
                fd,
                flags,
                cloexec,
                pos,
                kind: FileKind::Regular,
                path: path.into(),
                unlinked,
                ino,
                dev: DevId { major: 8, minor: 1 },
                mode: 0o100644,
                size: pos / 2,
            },
        )
}

fn arb_socket() -> impl Strategy<Value = SocketRecord> {
    (
        any::<u64>(),
        arb_addr(),
        arb_addr(),
        any::<bool>(),
        arb_captured(arb_segments()),
        arb_captured(arb_segments()),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(
            |(ino, local, remote, corked, rq, wq, write_seq)| SocketRecord {
                ino,
                family: family::INET,
                sock_type: sock_type::DGRAM,
                protocol: 17,
                state: 7,
                local,
                remote,
                options: SockOptions {
                    reuseaddr: Some(corked),
                    ..Default::default()
                },
                tcp: write_seq.map(|w| TcpState {
                    write_seq: w,
                    ..Default::default()
                }),
                udp: Some(UdpState {
                    corked,
                    pending_len: None,
                }),
                unix: None,
                recv_queue: rq,
                write_queue: wq,
            },
        )
}

fn arb_dump() -> impl Strategy<Value = Dump> {
    (
        proptest::collection::vec(arb_file(), 0..6),
        proptest::collection::vec(arb_socket(), 0..4),
        proptest::collection::vec(
            (
                any::<u64>(),
                arb_captured(proptest::collection::vec(any::<u8>(), 0..100)),
            )
                .prop_map(|(ino, data)| PipeRecord { ino, data }),
            0..3,
        ),
        proptest::collection::vec(
            (any::<i32>(), proptest::collection::vec(any::<u8>(), 0..200))
                .prop_map(|(fd, data)| FileContents { fd, data }),
            0..2,
        ),
        proptest::collection::vec(
            (any::<u64>(), any::<u64>(), any::<u64>(), "[ -~]{0,30}").prop_map(
                |(start, flags, pgoff, path)| MappingRecord {
                    start,
                    end: start.wrapping_add(4096),
                    flags,
                    pgoff,
                    path: path.into(),
                    ino: 0,
                    dev: DevId::default(),
                },
            ),
            0..4,
        ),
    )
        .prop_map(|(files, sockets, pipes, contents, mappings)| Dump {
            info: DumpInfo {
                engines: vec![(Operation::Files, "procfs".into())],
                notes: vec!["a note".into()],
            },
            task: TaskRecord {
                pid: 42,
                vpid: 1,
                pidns_level: 1,
                comm: "t".into(),
                namespaces: Namespaces::default(),
            },
            files,
            contents,
            pipes,
            mappings,
            sockets,
        })
}

const P: &str = "DIR/crib.img";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(d in arb_dump()) {
        let img = decode(Path::new(P), &encode(&d)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(img.unknown.is_empty());
        prop_assert_eq!(img.dump, d);
    }

    /// Any single flipped byte: an error, or (a flip that turned a record
    /// type into an unknown one / touched the ignorable schema-0 case) a
    /// result that is the original or reports unknown records. Never a
    /// silently different dump, never a panic.
    #[test]
    fn single_byte_corruption_is_caught(d in arb_dump(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode(&d);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(img) = decode(Path::new(P), &bytes) {
            prop_assert!(img.dump == d || !img.unknown.is_empty(), "flip at {} gave a different dump", i);
        }
    }

    /// Every truncation is an error naming the problem.
    #[test]
    fn truncation_is_an_error(d in arb_dump(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&d);
        let n = cut.index(bytes.len());
        let e = decode(Path::new(P), &bytes[..n]);
        prop_assert!(e.is_err(), "truncated to {} of {} bytes decoded", n, bytes.len());
    }
}

fn sample() -> Dump {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    arb_dump()
        .new_tree(&mut runner)
        .map(|t| t.current())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn unknown_record_types_are_reported_not_parsed() {
    let d = sample();
    let bytes =
        insert_raw_record(&encode(&d), 0x4242, b"{\"from\":\"the future\"}").expect("insert");
    let img = decode(Path::new(P), &bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(img.dump, d);
    assert_eq!(img.unknown.len(), 1);
    assert_eq!(img.unknown[0].rtype, 0x4242);
    let err = crib_harness::restore::check(&img).expect_err("restore must refuse");
    assert!(err.to_string().contains("unknown type"), "{err}");
}

#[test]
fn corrupt_record_error_names_file_and_record() {
    let d = sample();
    let mut bytes = encode(&d);
    let (off, t, len) = record_offsets(&bytes)
        .into_iter()
        .find(|&(_, t, len)| t == rtype::TASK && len > 2)
        .expect("task record");
    bytes[off + 12 + len / 2] ^= 0xff;
    let e = decode(Path::new(P), &bytes).expect_err("corrupt");
    let msg = e.to_string();
    assert!(matches!(e, ImageError::Record { .. }), "{msg}");
    assert!(
        msg.starts_with(P) && msg.contains("record #1") && msg.contains(rtype::name(t)),
        "{msg}"
    );
}

#[test]
fn wrong_magic_and_newer_version_are_clear_errors() {
    let bytes = encode(&sample());
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(decode(Path::new(P), &bad)
        .expect_err("bad magic")
        .to_string()
        .contains("not a crib image"));
    let mut newer = bytes;
    newer[8] = 9;
    let msg = decode(Path::new(P), &newer)
        .expect_err("newer version")
        .to_string();
    assert!(msg.contains("format version 9"), "{msg}");
}

/// `bytes` as format 1 wrote them: the version, and each checksum over
/// the payload alone.
fn as_format_1(bytes: &[u8]) -> Vec<u8> {
    let mut v1 = bytes.to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    for (off, _, len) in record_offsets(bytes) {
        let payload = &bytes[off + 12..off + 12 + len];
        v1[off + 8..off + 12].copy_from_slice(&crib_harness::image::crc32(payload).to_le_bytes());
    }
    v1
}

#[test]
fn format_1_images_still_read() {
    let d = sample();
    let img = decode(Path::new(P), &as_format_1(&encode(&d))).expect("format 1");
    assert_eq!(img.dump, d);
}

/// The flip proptest found: a mapping record whose type became
/// file-contents (6 -> 4) parsed, as raw bytes, into a different dump
/// while format 1's checksum covered only the payload.
#[test]
fn a_flipped_record_type_is_a_checksum_error() {
    let mut d = sample();
    d.mappings.truncate(1);
    if d.mappings.is_empty() {
        d.mappings.push(MappingRecord {
            start: 0x1000,
            end: 0x2000,
            flags: 1,
            pgoff: 0,
            path: "/lib/x".into(),
            ino: 1,
            dev: DevId::default(),
        });
    }
    let bytes = encode(&d);
    let (off, _, _) = record_offsets(&bytes)
        .into_iter()
        .find(|(_, t, _)| *t == rtype::MAPPING)
        .expect("a mapping record");
    let mut bad = bytes.clone();
    bad[off] ^= 0b10;
    let e = decode(Path::new(P), &bad).expect_err("type flip");
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // the same flip in a format 1 image is what went unnoticed
    let mut old = as_format_1(&bytes);
    old[off] ^= 0b10;
    let img = decode(Path::new(P), &old).expect("format 1 cannot tell");
    assert_ne!(img.dump, d);
}

#[test]
fn write_and_read_dir() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = sample();
    crib_harness::image::write_dir(dir.path(), &d).unwrap_or_else(|e| panic!("{e}"));
    let img = crib_harness::image::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(img.dump, d);
    let missing = crib_harness::image::read_dir(&dir.path().join("nope")).expect_err("missing dir");
    assert!(missing.to_string().contains("nope/crib.img"), "{missing}");
}

/// The bit-at-a-time CRC-32 (IEEE, reflected) the table version replaced.
fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[test]
fn crc32_check_value() {
    assert_eq!(crib_harness::image::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crib_harness::image::crc32(b""), 0);
}

proptest! {
    #[test]
    fn crc32_matches_the_bitwise_definition(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        prop_assert_eq!(crib_harness::image::crc32(&data), crc32_bitwise(&data));
    }
}
