//! The guest -> host result channel (virtio-serial port `crib.result`).
//! Line-based messages; `OUT`/`KMSG` are followed by exactly N raw bytes:
//!
//! ```text
//! READY <uptime>          guest reached its job (or `READY probe`)
//! KMSG boot <n>\n<bytes>  kernel log up to READY
//! BEGIN <name>
//! OUT <name> <n>\n<bytes> the command's stdout+stderr
//! KMSG <name> <n>\n<bytes> kernel log lines logged while it ran
//! EXIT <name> <rc> <timedout 0|1>
//! DONE                    host answers with a line, then the guest reboots
//! FATAL <text>            the guest init gave up
//! ```

use std::io::{BufRead, Read};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Ready(String),
    Begin(String),
    Output {
        name: String,
        bytes: Vec<u8>,
    },
    Kmsg {
        name: String,
        bytes: Vec<u8>,
    },
    Exit {
        name: String,
        code: i32,
        timed_out: bool,
    },
    Done,
    Fatal(String),
    /// A line we do not understand (kept for the error message).
    Garbage(String),
}

/// Largest OUT/KMSG payload we accept (the rest of a larger one is dropped).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Read the next event; `Ok(None)` at end of stream.
pub fn next_event(r: &mut impl BufRead) -> std::io::Result<Option<Event>> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let line = line.trim_end_matches(['\n', '\r']);
    let mut w = line.splitn(2, ' ');
    let kind = w.next().unwrap_or("");
    let rest = w.next().unwrap_or("");
    let ev = match kind {
        "READY" => Event::Ready(rest.to_string()),
        "BEGIN" => Event::Begin(rest.to_string()),
        "DONE" => Event::Done,
        "FATAL" => Event::Fatal(rest.to_string()),
        "OUT" | "KMSG" => match parse_sized(rest) {
            Some((name, n)) => {
                let bytes = read_payload(r, n)?;
                if kind == "OUT" {
                    Event::Output { name, bytes }
                } else {
                    Event::Kmsg { name, bytes }
                }
            }
            None => Event::Garbage(line.to_string()),
        },
        "EXIT" => {
            let f: Vec<&str> = rest.split(' ').collect();
            match (f.first(), f.get(1).and_then(|c| c.parse().ok()), f.get(2)) {
                (Some(name), Some(code), Some(t)) => Event::Exit {
                    name: name.to_string(),
                    code,
                    timed_out: *t == "1",
                },
                _ => Event::Garbage(line.to_string()),
            }
        }
        _ => Event::Garbage(line.to_string()),
    };
    Ok(Some(ev))
}

fn parse_sized(rest: &str) -> Option<(String, usize)> {
    let (name, n) = rest.rsplit_once(' ')?;
    Some((name.to_string(), n.trim().parse().ok()?))
}

fn read_payload(r: &mut impl BufRead, n: usize) -> std::io::Result<Vec<u8>> {
    let keep = n.min(MAX_PAYLOAD);
    let mut bytes = vec![0; keep];
    r.read_exact(&mut bytes)?;
    std::io::copy(&mut r.take((n - keep) as u64), &mut std::io::sink())?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_session() {
        let wire = b"READY 1.23\nKMSG boot 3\nab\nBEGIN t1\nOUT t1 5\nhi\nx\nEXIT t1 1 0\nDONE\n";
        let mut r = std::io::BufReader::new(&wire[..]);
        let mut evs = Vec::new();
        while let Ok(Some(e)) = next_event(&mut r) {
            evs.push(e);
        }
        assert_eq!(
            evs,
            vec![
                Event::Ready("1.23".into()),
                Event::Kmsg {
                    name: "boot".into(),
                    bytes: b"ab\n".to_vec()
                },
                Event::Begin("t1".into()),
                Event::Output {
                    name: "t1".into(),
                    bytes: b"hi\nx\n".to_vec()
                },
                Event::Exit {
                    name: "t1".into(),
                    code: 1,
                    timed_out: false
                },
                Event::Done,
            ]
        );
    }

    #[test]
    fn truncated_payload_is_an_error_not_a_hang() {
        let mut r = std::io::BufReader::new(&b"OUT t 10\nabc"[..]);
        assert!(next_event(&mut r).is_err());
    }
}
