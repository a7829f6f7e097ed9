//! The result-port parser against arbitrary payloads and names.

use crib_vmtest::protocol::{next_event, Event};
use proptest::prelude::*;

fn encode(name: &str, out: &[u8], code: i32) -> Vec<u8> {
    let mut w = format!("BEGIN {name}\nOUT {name} {}\n", out.len()).into_bytes();
    w.extend_from_slice(out);
    w.extend_from_slice(format!("KMSG {name} 0\nEXIT {name} {code} 0\n").as_bytes());
    w
}

proptest! {
    #[test]
    fn any_output_bytes_round_trip(
        name in "[A-Za-z0-9._:/+-]{1,20}",
        out in proptest::collection::vec(any::<u8>(), 0..2000),
        code in -1i32..256,
    ) {
        let wire = encode(&name, &out, code);
        let mut r = std::io::BufReader::new(&wire[..]);
        let mut evs = Vec::new();
        while let Ok(Some(e)) = next_event(&mut r) {
            evs.push(e);
        }
        prop_assert_eq!(evs, vec![
            Event::Begin(name.clone()),
            Event::Output { name: name.clone(), bytes: out },
            Event::Kmsg { name: name.clone(), bytes: vec![] },
            Event::Exit { name, code, timed_out: false },
        ]);
    }

    #[test]
    fn garbage_never_panics_or_hangs(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut r = std::io::BufReader::new(&bytes[..]);
        for _ in 0..1000 {
            match next_event(&mut r) {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }
}
