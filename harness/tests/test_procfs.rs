//! The procfs engine: parsers (property tests) and a live dump of a child.

use crib_harness::engine::procfs::{parse_fdinfo, parse_smaps};
use crib_harness::model::{vm_flags, DevId};
use proptest::prelude::*;

fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

proptest! {
    #[test]
    fn devid_from_user_inverts_makedev(major in any::<u32>(), minor in any::<u32>()) {
        prop_assert_eq!(DevId::from_user(makedev(major, minor)), DevId { major, minor });
    }

    #[test]
    fn devid_from_kernel_splits_20_bits(major in 0u32..4096, minor in 0u32..(1 << 20)) {
        prop_assert_eq!(DevId::from_kernel((major << 20) | minor), DevId { major, minor });
    }

    #[test]
    fn fdinfo_pos_and_octal_flags(pos in any::<u64>(), flags in any::<u32>(), mnt in any::<u32>()) {
        let text = format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t5\n");
        prop_assert_eq!(parse_fdinfo(&text), Ok((pos, flags)));
    }

    #[test]
    fn fdinfo_garbage_is_an_error_not_a_panic(text in "\\PC{0,80}") {
        let _ = parse_fdinfo(&text);
    }

    /// smaps text built from records parses back to the same records.
    #[test]
    fn smaps_round_trip(maps in proptest::collection::vec(
        (0u64..1 << 40, 1u64..64, any::<[bool; 4]>(), 0u64..1 << 30, 0u32..256, 0u32..256, any::<u32>(), "(/[a-z]{1,8}){0,3}"),
        0..8,
    )) {
        let mut text = String::new();
        let mut want = Vec::new();
        for (start, pages, [r, w, x, s], off, ma, mi, ino, path) in maps {
            let (start, end) = (start << 12, (start + pages) << 12);
            let perms = format!("{}{}{}{}", if r {'r'} else {'-'}, if w {'w'} else {'-'}, if x {'x'} else {'-'}, if s {'s'} else {'p'});
            text.push_str(&format!("{start:x}-{end:x} {perms} {off:08x} {ma:02x}:{mi:02x} {ino} {path}\n"));
            text.push_str("Size:               4 kB\nRss:                0 kB\n");
            let mut flags = 0;
            let mut mn = Vec::new();
            for (on, bit, m) in [(r, vm_flags::READ, "rd"), (w, vm_flags::WRITE, "wr"), (x, vm_flags::EXEC, "ex"), (s, vm_flags::SHARED | vm_flags::MAYSHARE, "sh ms")] {
                if on { flags |= bit; mn.push(m); }
            }
            mn.push("mr");
            flags |= vm_flags::MAYREAD;
            text.push_str(&format!("VmFlags: {} \n", mn.join(" ")));
            want.push((start, end, flags, off, DevId { major: ma, minor: mi }, u64::from(ino), path));
        }
        let got = parse_smaps(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(got.len(), want.len());
        for (g, (start, end, flags, off, dev, ino, path)) in got.iter().zip(want) {
            prop_assert_eq!((g.start, g.end, g.flags, g.pgoff, g.dev, g.ino, g.path.as_str()), (start, end, flags, off, dev, ino, path.as_str()));
        }
    }
}

#[test]
fn smaps_error_names_the_line() {
    let e = parse_smaps("00400000-zz r-xp 00000000 08:01 1 /bin/x\n").expect_err("bad range");
    assert!(e.starts_with("line 1:"), "{e}");
}
