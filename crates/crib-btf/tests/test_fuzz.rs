//! Corrupt BTF must give an error or a result, never a panic, and quickly:
//! truncation at every header boundary, random byte flips, bad type ids,
//! huge string offsets. Whatever parses is then run through the checker.

mod common;

use crib_btf::builder::BtfBuilder;
use crib_btf::compat::{check, Kernel, Options};
use crib_btf::{Btf, BtfError, Mode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A small but complete kernel-like BTF: the real spec's items, good and
/// bad, plus modifiers, enums and decl tags.
fn sample() -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let u32t = b.int("unsigned int", 4, false);
    let u32td = b.typedef("u32", u32t);
    let s32 = b.int("int", 4, true);
    let task = b.struct_type("task_struct", 16, &[("pid", s32, 0), ("tgid", s32, 4)]);
    let ptask = b.ptr(task);
    let proto = b.func_proto(ptask, &[("vpid", s32)]);
    let f = b.func("bpf_task_from_vpid", proto);
    b.decl_tag("bpf_kfunc", f, -1);
    let it = b.struct_type("bpf_iter_task_vma", 8, &[]);
    let pit = b.ptr(it);
    let c = b.const_of(pit);
    let p2 = b.func_proto(s32, &[("it", c), ("task", ptask), ("addr", u32td)]);
    b.func("bpf_iter_task_vma_new", p2);
    b.enum_type("pid_type", &[("PIDTYPE_PID", 0), ("PIDTYPE_TGID", 1)]);
    b.struct_type(
        "bpf_crib_skb_info",
        12,
        &[("sz", u32td, 0), ("version", u32td, 4), ("mark", u32td, 8)],
    );
    b.build()
}

fn spec() -> crib_spec::SpecSet {
    common::real_specs()
}

/// Parse, then exercise every accessor and the whole checker.
fn exercise(bytes: Vec<u8>, spec: &crib_spec::SpecSet) {
    let Ok(btf) = Btf::parse(bytes) else { return };
    for id in 0..=btf.type_count() + 2 {
        if let Ok(t) = btf.get(id) {
            let _ = t.name();
            let _ = t.members();
            let _ = t.params();
            let _ = t.enumerators();
            let _ = t.sec_vars();
            let _ = t.int();
            let _ = t.array();
            let _ = btf.size_of(id);
            let _ = crib_btf::types::c_type(&btf, id);
        }
    }
    let k = [Kernel::new("fuzz", PathBuf::from("fuzz"), btf)];
    for mode in [Mode::Relaxed, Mode::Strict] {
        let r = check(
            spec,
            &k,
            Vec::new(),
            Options {
                mode,
                require_present: false,
            },
        );
        let _ = crib_btf::report::table(&r);
    }
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let good = sample();
    assert!(Btf::parse(good.clone()).is_ok());
    let spec = spec();
    let start = Instant::now();
    for len in 0..good.len() {
        let cut = good[..len].to_vec();
        match Btf::parse(cut.clone()) {
            Err(_) => {}
            Ok(b) => panic!("truncated to {len} bytes but parsed: {b:?}"),
        }
        exercise(cut, &spec);
    }
    // Header boundaries name the problem.
    for (len, want) in [(0, "magic"), (1, "magic"), (2, "header"), (23, "header")] {
        let e = Btf::parse(good[..len].to_vec()).expect_err("truncated");
        assert!(
            matches!(e, BtfError::Truncated { what, .. } if what == want),
            "len {len}: {e}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn random_byte_flips_never_panic() {
    let good = sample();
    let spec = spec();
    let start = Instant::now();
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut bytes = good.clone();
        let flips = 1 + rng.next() % 8;
        for _ in 0..flips {
            let at = (rng.next() % bytes.len() as u64) as usize;
            bytes[at] ^= 1 << (rng.next() % 8);
        }
        exercise(bytes, &spec);
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn random_words_never_panic() {
    // Overwrite whole u32 words with extreme values (ids, offsets, vlen).
    let good = sample();
    let spec = spec();
    let extremes = [
        0u32,
        1,
        0xffff,
        0x7fff_ffff,
        0xffff_ffff,
        0x8000_0000,
        200,
        0x1f00_0000,
    ];
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed | 1);
        let mut bytes = good.clone();
        let at = 4 * (rng.next() as usize % (bytes.len() / 4));
        let v = extremes[rng.next() as usize % extremes.len()];
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        exercise(bytes, &spec);
    }
}

#[test]
fn bad_type_ids_and_string_offsets_are_errors() {
    // Dangling references are load errors naming the referring type.
    let mut b = BtfBuilder::new();
    b.ptr(999);
    assert_eq!(
        Btf::parse(b.build()).expect_err("dangling"),
        BtfError::BadTypeRef { id: 1, target: 999 }
    );
    let mut b = BtfBuilder::new();
    let i = b.int("int", 4, true);
    let proto = b.func_proto(i, &[("x", 12345)]);
    b.func("bpf_task_from_vpid", proto);
    assert_eq!(
        Btf::parse(b.build()).expect_err("dangling param"),
        BtfError::BadTypeRef {
            id: 2,
            target: 12345
        }
    );
    let mut b = BtfBuilder::new();
    b.struct_type("s", 4, &[("m", 3, 0)]);
    assert!(matches!(
        Btf::parse(b.build()),
        Err(BtfError::BadTypeRef { id: 1, target: 3 })
    ));
    let mut b = BtfBuilder::new();
    b.int("int", 4, true);
    let btf = Btf::parse(b.build()).expect("parses");
    assert_eq!(
        btf.get(10_000).expect_err("no such id"),
        BtfError::UnknownTypeId(10_000)
    );

    // A type whose name offset points far outside the string section.
    let mut b = BtfBuilder::new();
    b.raw("", 1, 0, false, 4, &[32]);
    let mut bytes = b.build();
    bytes[24..28].copy_from_slice(&0x0fff_ffffu32.to_le_bytes());
    assert_eq!(
        Btf::parse(bytes).expect_err("bad name"),
        BtfError::BadString(0x0fff_ffff)
    );
}

#[test]
fn header_problems_are_named() {
    let good = sample();
    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    assert!(matches!(Btf::parse(bad_magic), Err(BtfError::BadMagic(_))));
    let mut be = good.clone();
    be.swap(0, 1);
    assert_eq!(Btf::parse(be).expect_err("be"), BtfError::BigEndian);
    let mut ver = good.clone();
    ver[2] = 2;
    assert_eq!(
        Btf::parse(ver).expect_err("ver"),
        BtfError::UnsupportedVersion(2)
    );
    let mut huge = good.clone();
    huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // str_len
    assert!(matches!(
        Btf::parse(huge),
        Err(BtfError::Truncated {
            what: "string section",
            ..
        })
    ));
    let mut kind = good.clone();
    kind[24 + 7] = 0x1f; // kind 31 in the first type's info
    assert!(matches!(
        Btf::parse(kind),
        Err(BtfError::UnknownKind { id: 1, .. })
    ));
}

#[test]
fn a_modifier_loop_is_an_error_not_a_hang() {
    let mut b = BtfBuilder::new();
    b.raw("a", 8, 0, false, 2, &[]);
    b.raw("b", 8, 0, false, 1, &[]);
    let btf = Btf::parse(b.build()).expect("parses");
    assert_eq!(btf.skip_mods(1).expect_err("loop"), BtfError::TypeLoop(1));
    assert!(btf.size_of(1).is_err());
    exercise(b.build(), &spec());
}

#[test]
fn corrupting_a_real_kernel_is_fast_and_safe() {
    // A real kernel's BTF with corruption deep in the type section.
    let k = &common::corpus()[0];
    let spec = spec();
    let start = Instant::now();
    for seed in 1..=6u64 {
        let mut rng = Rng(seed * 7919);
        let mut bytes = k.btf.bytes().to_vec();
        for _ in 0..64 {
            let at = 24 + (rng.next() as usize % (bytes.len() - 24));
            bytes[at] = rng.next() as u8;
        }
        if let Ok(btf) = Btf::parse(bytes) {
            let k = [Kernel::new("x", PathBuf::from("x"), btf)];
            let _ = check(&spec, &k, Vec::new(), Options::default());
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}
