//! The wire-format decoder: round trips of every record kind (proptest),
//! corrupt and truncated input (errors naming the record, never a panic),
//! unknown and newer records (reported / prefix-decoded, never misparsed).

use crib_harness::engine::wire::{
    self, decode_sample, decode_sample_into, decode_stream, encode, fixed_len, rec_type, PathRef,
    WireError, WireRecord,
};
use proptest::prelude::*;

fn file_strategy() -> impl Strategy<Value = wire::File> {
    (
        any::<i32>(),
        any::<u32>(),
        any::<i64>(),
        any::<(u64, u64, u32, u32, u32, u32, u32, bool)>(),
        proptest::collection::vec(any::<u8>(), 0..600),
        path_ref_strategy(),
    )
        .prop_map(
            |(
                fd,
                flags,
                pos,
                (ino, size, dev, mode, mnt_id, fmode, nlink, cloexec),
                path,
                path_ref,
            )| {
                let path = if matches!(path_ref, PathRef::Same(_)) {
                    Vec::new()
                } else {
                    path
                };
                wire::File {
                    fd,
                    flags,
                    pos,
                    ino,
                    size,
                    dev,
                    mode,
                    mnt_id,
                    fmode,
                    nlink,
                    cloexec,
                    path,
                    path_ref,
                }
            },
        )
}

/// A SAME record carries no bytes (the strategies clear its path).
fn path_ref_strategy() -> impl Strategy<Value = PathRef> {
    prop_oneof![
        Just(PathRef::None),
        any::<u16>().prop_map(PathRef::Set),
        any::<u16>().prop_map(PathRef::Same),
    ]
}

fn vma_strategy() -> impl Strategy<Value = wire::Vma> {
    (
        any::<(u64, u64, u64, u64, u64, u32, u32)>(),
        proptest::collection::vec(any::<u8>(), 0..600),
        path_ref_strategy(),
    )
        .prop_map(
            |((start, end, pgoff, vm_flags, ino, dev, special), path, path_ref)| wire::Vma {
                start,
                end,
                pgoff,
                vm_flags,
                ino,
                dev,
                special,
                path: if matches!(path_ref, PathRef::Same(_)) {
                    Vec::new()
                } else {
                    path
                },
                path_ref,
            },
        )
}

fn unix_strategy() -> impl Strategy<Value = wire::Unix> {
    (
        any::<(u64, u64, u16, u8, u8, u32)>(),
        proptest::collection::vec(any::<u8>(), 0..108),
        proptest::collection::vec(any::<u8>(), 0..108),
    )
        .prop_map(
            |((ino, peer_ino, sock_type, state, shutdown, rqueue_len), path, peer_path)| {
                wire::Unix {
                    ino,
                    peer_ino,
                    sock_type,
                    state,
                    shutdown,
                    rqueue_len,
                    path,
                    peer_path,
                }
            },
        )
}

fn skb_strategy() -> impl Strategy<Value = wire::Skb> {
    (
        any::<(u64, i32, u16, u16, u32, u32, u32, u64)>(),
        any::<([u8; 16], u16, u16, u32)>(),
        proptest::collection::vec(any::<u8>(), 0..3000),
    )
        .prop_map(
            |(
                (sock_ino, fd, queue, flags, index, frame_len, offset, tstamp_ns),
                (addr, port, family, mark),
                data,
            )| {
                wire::Skb {
                    sock_ino,
                    fd,
                    queue,
                    flags,
                    index,
                    frame_len,
                    offset,
                    tstamp_ns,
                    addr,
                    port,
                    family,
                    mark,
                    data,
                }
            },
        )
}

fn task_strategy() -> impl Strategy<Value = wire::Task> {
    (
        any::<(u32, u32, u32, u32, u32, u32, u32)>(),
        any::<[u64; 7]>(),
        "[a-z0-9_]{0,15}",
    )
        .prop_map(
            |((tgid, pid, ppid, ns_tgid, ns_level, uid, gid), ns_ino, comm)| wire::Task {
                tgid,
                pid,
                ppid,
                ns_tgid,
                ns_level,
                uid,
                gid,
                ns_ino,
                comm,
            },
        )
}

fn record_strategy() -> impl Strategy<Value = (Vec<u8>, WireRecord)> {
    prop_oneof![
        file_strategy().prop_map(|f| (encode::file(&f), WireRecord::File(f))),
        vma_strategy().prop_map(|v| (encode::vma(&v), WireRecord::Vma(v))),
        unix_strategy().prop_map(|u| (encode::unix(&u), WireRecord::Unix(u))),
        skb_strategy().prop_map(|s| (encode::skb(&s), WireRecord::Skb(s))),
        task_strategy().prop_map(|t| (encode::task(&t), WireRecord::Task(t))),
        (
            any::<u32>(),
            any::<i32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(prog, error, records, dropped, expected)| {
                let e = wire::End {
                    prog,
                    error,
                    records,
                    dropped,
                    expected,
                };
                (encode::end(&e), WireRecord::End(e))
            }),
    ]
}

proptest! {
    #[test]
    fn stream_round_trip(recs in proptest::collection::vec(record_strategy(), 0..12)) {
        let mut buf = Vec::new();
        for (bytes, _) in &recs {
            buf.extend_from_slice(bytes);
        }
        let got = decode_stream(&buf).expect("valid stream");
        let want: Vec<WireRecord> = recs.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn sample_allows_slack_after_len((bytes, rec) in record_strategy(), slack in 0usize..64) {
        let mut b = bytes.clone();
        b.extend(std::iter::repeat_n(0xee, slack));
        prop_assert_eq!(decode_sample(&b).expect("sample"), rec);
    }

    #[test]
    fn batch_round_trip(recs in proptest::collection::vec(record_strategy(), 0..12), pad in any::<u8>()) {
        // as crib_flush() writes it: records at 8-byte aligned offsets,
        // padding bytes left as they were
        let mut body = Vec::new();
        for (bytes, _) in &recs {
            body.extend_from_slice(bytes);
            while body.len() % 8 != 0 {
                body.push(pad);
            }
        }
        let mut buf = hdr(rec_type::BATCH, 1, 8 + body.len() as u32);
        buf.extend_from_slice(&body);
        buf.extend_from_slice(&[pad; 8]); // ring slack after the sample
        let mut got = Vec::new();
        decode_sample_into(&buf, &mut got).expect("valid batch");
        let want: Vec<WireRecord> = recs.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn a_sink_gets_files_and_mappings_borrowed_from_the_sample(
        recs in proptest::collection::vec(record_strategy(), 0..12),
    ) {
        // what the engines' ring callback sees: paths that point into the
        // sample itself, and the same records as the owned decoder
        struct Borrowed {
            buf: std::ops::Range<usize>,
            got: Vec<WireRecord>,
            in_place: bool,
        }
        impl Borrowed {
            fn inside(&mut self, p: &[u8]) {
                let a = p.as_ptr() as usize;
                self.in_place &= p.is_empty() || (self.buf.contains(&a) && a + p.len() <= self.buf.end);
            }
        }
        impl wire::Sink for Borrowed {
            fn file(&mut self, f: wire::File<&[u8]>) -> Result<(), WireError> {
                self.inside(f.path);
                self.got.push(WireRecord::File(f.into_owned()));
                Ok(())
            }
            fn vma(&mut self, v: wire::Vma<&[u8]>) -> Result<(), WireError> {
                self.inside(v.path);
                self.got.push(WireRecord::Vma(v.into_owned()));
                Ok(())
            }
            fn record(&mut self, r: WireRecord) {
                self.got.push(r);
            }
        }
        let mut body = Vec::new();
        for (bytes, _) in &recs {
            body.extend_from_slice(bytes);
            while body.len() % 8 != 0 {
                body.push(0);
            }
        }
        let mut buf = hdr(rec_type::BATCH, 1, 8 + body.len() as u32);
        buf.extend_from_slice(&body);
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let mut sink = Borrowed { buf: range, got: Vec::new(), in_place: true };
        wire::decode_sample_with(&buf, &mut sink).expect("valid batch");
        prop_assert!(sink.in_place, "a path was copied out of the sample");
        let want: Vec<WireRecord> = recs.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(sink.got, want);
    }

    #[test]
    fn batch_garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = hdr(rec_type::BATCH, 1, buf.len() as u32 + 8);
        b.extend_from_slice(&buf);
        let _ = decode_sample_into(&b, &mut Vec::new());
    }

    #[test]
    fn every_truncation_is_an_error((bytes, _) in record_strategy(), cut in 0usize..4000) {
        let cut = cut % bytes.len();
        prop_assert!(decode_stream(&bytes[..cut]).is_err() || cut == 0);
    }

    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_stream(&buf);
        let _ = decode_sample(&buf);
    }

    #[test]
    fn corrupt_lengths_are_caught((bytes, _) in record_strategy(), len in any::<u32>()) {
        let mut b = bytes.clone();
        b[4..8].copy_from_slice(&len.to_le_bytes());
        match decode_stream(&b) {
            Ok(recs) => {
                // only a length that still frames whole records can pass
                prop_assert!(len as usize <= b.len());
                prop_assert!(!recs.is_empty());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

fn hdr(rtype: u16, version: u16, len: u32) -> Vec<u8> {
    let mut v = rtype.to_le_bytes().to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v
}

#[test]
fn unknown_type_is_reported_and_skipped() {
    let mut buf = hdr(99, 1, 16);
    buf.extend_from_slice(&[7u8; 8]);
    let end = encode::end(&wire::End {
        prog: 2,
        error: 0,
        records: 1,
        dropped: 0,
        expected: 0,
    });
    buf.extend_from_slice(&end);
    let recs = decode_stream(&buf).expect("stream");
    assert_eq!(
        recs[0],
        WireRecord::Unknown {
            rtype: 99,
            version: 1,
            len: 16
        }
    );
    assert!(matches!(recs[1], WireRecord::End(_)));
}

#[test]
fn newer_version_decodes_the_known_prefix_and_finds_the_path() {
    let f = wire::File {
        fd: 3,
        flags: 2,
        pos: 9,
        ino: 1,
        size: 2,
        dev: 3,
        mode: 0o100644,
        mnt_id: 5,
        fmode: 3,
        nlink: 1,
        cloexec: true,
        path: b"/tmp/x".to_vec(),
        path_ref: PathRef::Set(7),
    };
    let v2 = encode::file(&f);
    // a v3 program appended 8 bytes of new fields before the path
    let mut v3 = v2[..fixed_len::FILE].to_vec();
    v3.extend_from_slice(&[0xaa; 8]);
    v3.extend_from_slice(&f.path);
    v3[2..4].copy_from_slice(&3u16.to_le_bytes());
    let mut v2 = v3;
    let len = v2.len() as u32;
    v2[4..8].copy_from_slice(&len.to_le_bytes());
    assert_eq!(decode_stream(&v2).expect("v2"), vec![WireRecord::File(f)]);
}

#[test]
fn a_v1_end_has_nothing_to_check_against() {
    let e = wire::End {
        prog: 3,
        error: 0,
        records: 7,
        dropped: 0,
        expected: 41,
    };
    // what a program built before END v2 writes: the first 24 bytes, v1
    let mut v1 = encode::end(&e)[..fixed_len::END].to_vec();
    v1[2..4].copy_from_slice(&1u16.to_le_bytes());
    v1[4..8].copy_from_slice(&(fixed_len::END as u32).to_le_bytes());
    let want = wire::End { expected: 0, ..e };
    assert_eq!(decode_stream(&v1).expect("v1"), vec![WireRecord::End(want)]);
}

#[test]
fn errors_name_the_record() {
    let short = hdr(rec_type::FILE, 1, 20);
    let mut buf = short.clone();
    buf.extend_from_slice(&[0u8; 12]);
    let e = decode_stream(&buf).expect_err("too short");
    assert!(
        matches!(
            e,
            WireError::TooShort {
                name: "file",
                need: 72,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("file"), "{e}");

    let e = decode_stream(&[1, 0, 1]).expect_err("header");
    assert_eq!(e, WireError::TruncatedHeader { offset: 0, have: 3 });

    let e = decode_stream(&hdr(rec_type::VMA, 0, 8)).expect_err("version 0");
    assert!(matches!(e, WireError::BadVersion { .. }));

    // path_len larger than the record
    let mut v = encode::vma(&wire::Vma {
        start: 0,
        end: 4096,
        pgoff: 0,
        vm_flags: 1,
        ino: 0,
        dev: 0,
        special: 0,
        path: b"abc".to_vec(),
        path_ref: PathRef::None,
    });
    v[fixed_len::VMA - 8..fixed_len::VMA - 4].copy_from_slice(&1000u32.to_le_bytes());
    let e = decode_stream(&v).expect_err("var part");
    assert!(
        matches!(
            e,
            WireError::BadVarLen {
                name: "vma",
                var: 1000,
                ..
            }
        ),
        "{e}"
    );

    // a second record whose length runs past the buffer: offset names it
    let mut two = encode::end(&wire::End {
        prog: 1,
        error: 0,
        records: 0,
        dropped: 0,
        expected: 0,
    });
    two.extend_from_slice(&hdr(rec_type::END, 1, 500));
    let e = decode_stream(&two).expect_err("second truncated");
    assert!(matches!(e, WireError::Truncated { offset: 32, .. }), "{e}");
}

#[test]
fn batches_cannot_nest_or_overrun() {
    let inner = hdr(rec_type::BATCH, 1, 8);
    let mut outer = hdr(rec_type::BATCH, 1, 16);
    outer.extend_from_slice(&inner);
    let e = decode_sample_into(&outer, &mut Vec::new()).expect_err("nested");
    assert!(matches!(e, WireError::BadBatch { offset: 8, .. }), "{e}");
    let long = hdr(rec_type::BATCH, 1, 64);
    let e = decode_sample_into(&long, &mut Vec::new()).expect_err("overrun");
    assert!(matches!(e, WireError::BadBatch { offset: 0, .. }), "{e}");
}

#[test]
fn zero_length_record_cannot_loop_forever() {
    let e = decode_stream(&hdr(42, 1, 0)).expect_err("len 0");
    assert!(matches!(e, WireError::TooShort { need: 8, .. }));
}

/// The C structs, as compiled into the BPF objects, against the sizes and
/// offsets the Rust side hard-codes (decoder fixed parts, program inputs).
#[test]
fn c_layouts_match_the_rust_decoder() {
    use crib_harness::engine::bpfobj::objects;
    use libbpf_rs::btf::types::{MemberAttr, Struct};
    use libbpf_rs::btf::{Btf, HasSize};

    fn members(s: &Struct<'_>) -> Vec<(String, u32)> {
        s.iter()
            .map(|m| {
                let off = match m.attr {
                    MemberAttr::Normal { offset } | MemberAttr::BitField { offset, .. } => offset,
                };
                (
                    m.name
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    off / 8,
                )
            })
            .collect()
    }

    let dump = objects::CRIB_DUMP.expect("crib_dump built");
    let btf = Btf::from_raw("crib_dump", dump)
        .expect("parse BTF")
        .expect("crib_dump has BTF");
    let size = |name: &str| -> usize {
        btf.type_by_name::<Struct<'_>>(name)
            .unwrap_or_else(|| panic!("struct {name} not in crib_dump's BTF"))
            .size()
    };
    for (name, want) in [
        ("crib_rec_hdr", wire::HDR_LEN),
        ("crib_rec_task", fixed_len::TASK),
        ("crib_rec_file", fixed_len::FILE),
        ("crib_rec_vma", fixed_len::VMA),
        ("crib_rec_inet", fixed_len::INET),
        ("crib_rec_unix", fixed_len::UNIX),
        ("crib_rec_skb", fixed_len::SKB),
        ("crib_rec_end", fixed_len::END_V2),
        ("crib_args", 16),
    ] {
        assert_eq!(size(name), want, "sizeof(struct {name})");
    }
    // SKB records are only produced on the patched kernel: pin every offset.
    let skb = btf.type_by_name::<Struct<'_>>("crib_rec_skb").expect("skb");
    let want: Vec<(String, u32)> = [
        ("hdr", 0),
        ("sock_ino", 8),
        ("fd", 16),
        ("queue", 20),
        ("flags", 22),
        ("index", 24),
        ("frame_len", 28),
        ("offset", 32),
        ("data_len", 36),
        ("tstamp_ns", 40),
        ("addr", 48),
        ("port", 64),
        ("family", 66),
        ("mark", 68),
    ]
    .iter()
    .map(|(n, o)| (n.to_string(), *o))
    .collect();
    assert_eq!(members(&skb), want);

    let restore = objects::CRIB_RESTORE.expect("crib_restore built");
    let rbtf = Btf::from_raw("crib_restore", restore)
        .expect("parse BTF")
        .expect("crib_restore has BTF");
    let args = rbtf
        .type_by_name::<Struct<'_>>("crib_restore_args")
        .expect("crib_restore_args");
    assert_eq!(args.size(), 56);
    // the offsets crib::restore_args() writes
    let want: Vec<(String, u32)> = [
        ("pid", 0),
        ("fd", 4),
        ("data_len", 8),
        ("_pad", 12),
        ("tstamp_ns", 16),
        ("saddr", 24),
        ("sport", 40),
        ("family", 42),
        ("mark", 44),
        ("ifindex", 48),
        ("tos", 52),
    ]
    .iter()
    .map(|(n, o)| (n.to_string(), *o))
    .collect();
    assert_eq!(members(&args), want);
}

fn vma_at(start: u64) -> WireRecord {
    WireRecord::Vma(wire::Vma {
        start,
        end: start + 4096,
        pgoff: 0,
        vm_flags: 0,
        ino: 0,
        dev: 0,
        special: 0,
        path: Vec::new(),
        path_ref: PathRef::None,
    })
}

fn end_expecting(expected: u32, error: i32) -> WireRecord {
    WireRecord::End(wire::End {
        prog: 3,
        error,
        records: 0,
        dropped: 0,
        expected,
    })
}

#[test]
fn a_vma_walk_is_checked_against_map_count_of_its_last_batch() {
    use crib_harness::engine::bpfobj::{vma_shortfall, Records};
    // two batches (the first stopped with -EAGAIN), three VMAs in all
    let whole = vec![
        vma_at(0x1000),
        vma_at(0x3000),
        end_expecting(9, -libc::EAGAIN),
        vma_at(0x5000),
        end_expecting(3, 0),
    ];
    assert_eq!(
        vma_shortfall(&Records::from_wire(whole.clone()).expect("resolves")),
        None
    );
    // a VMA the iterator stepped over
    let short = [&whole[..1], &whole[2..]].concat();
    assert_eq!(
        vma_shortfall(&Records::from_wire(short).expect("resolves")),
        Some((2, 3))
    );
    // END v1 or no mm: nothing to check against
    let uncounted = vec![vma_at(0x1000), end_expecting(0, 0)];
    assert_eq!(
        vma_shortfall(&Records::from_wire(uncounted).expect("resolves")),
        None
    );
}

#[test]
fn a_short_vma_walk_is_retried_over_two_seconds_not_three_quick_walks() {
    use crib_harness::engine::bpfobj::VmaRetry;
    use std::time::Duration;
    let ms = |n| Duration::from_millis(n);
    let s = VmaRetry::schedule();
    // doubling from 1 ms, then capped at 64 ms
    assert_eq!(
        &s[..8],
        &[ms(1), ms(2), ms(4), ms(8), ms(16), ms(32), ms(64), ms(64)]
    );
    assert!(s[6..].iter().all(|p| *p == ms(64)), "{s:?}");
    let total: Duration = s.iter().sum();
    assert!(
        total <= Duration::from_secs(2) && total > ms(1900),
        "{total:?}"
    );
    // enough walks that a lock held for a moment cannot cover them all
    assert!(s.len() >= 30, "{} walks", s.len() + 1);
    // past the budget there is no further walk
    assert_eq!(VmaRetry::new().next_pause(Duration::from_secs(2)), None);
}

fn file_named(fd: i32, path: &[u8], path_ref: PathRef) -> WireRecord {
    WireRecord::File(wire::File {
        fd,
        flags: 0,
        pos: 0,
        ino: 10,
        size: 0,
        dev: 0,
        mode: 0o100644,
        mnt_id: 1,
        fmode: 1,
        nlink: 1,
        cloexec: false,
        path: path.to_vec(),
        path_ref,
    })
}

#[test]
fn a_path_slot_names_the_path_its_set_record_carried_and_nothing_else() {
    use crib_harness::engine::bpfobj::Records;
    let recs = vec![
        file_named(3, b"/lib/libc.so.6", PathRef::Set(9)),
        file_named(4, b"", PathRef::Same(9)),
        file_named(5, b"/etc/hosts", PathRef::Set(9)),
        file_named(6, b"", PathRef::Same(9)),
        file_named(7, b"/tmp/plain", PathRef::None),
    ];
    let r = Records::from_wire(recs).expect("resolves");
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/lib/libc.so.6",
            "/lib/libc.so.6",
            "/etc/hosts",
            "/etc/hosts",
            "/tmp/plain"
        ]
    );
    // a slot no record of the run set is an error, never an empty path
    let e = Records::from_wire(vec![file_named(4, b"", PathRef::Same(3))]).expect_err("unset");
    assert_eq!(
        e,
        WireError::UnsetPathSlot {
            name: "file",
            slot: 3
        }
    );
}

#[test]
fn path_refs_decode_only_from_v2_and_only_well_formed() {
    let WireRecord::File(f) = file_named(3, b"/x", PathRef::Set(1)) else {
        unreachable!()
    };
    let mut b = encode::file(&f);
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), 2, "a slot needs v2");
    // a SAME that carries bytes
    let at = fixed_len::FILE - 4;
    b[at..at + 4].copy_from_slice(&(wire::path_ref::SAME | 1).to_le_bytes());
    let e = decode_stream(&b).expect_err("same with bytes");
    assert!(matches!(e, WireError::BadPathRef { .. }), "{e:?}");
    // unknown bits
    b[at..at + 4].copy_from_slice(&(1u32 << 20).to_le_bytes());
    let e = decode_stream(&b).expect_err("unknown bits");
    assert!(matches!(e, WireError::BadPathRef { .. }), "{e:?}");
    // v1 meant nothing by the field: ignored
    b[2..4].copy_from_slice(&1u16.to_le_bytes());
    let got = decode_stream(&b).expect("v1");
    let WireRecord::File(g) = &got[0] else {
        unreachable!()
    };
    assert_eq!(g.path_ref, PathRef::None);
    assert_eq!(g.path, b"/x");
}
