//! `crib serve`: the resident engine answers dumps on a unix socket, keeps
//! its engines loaded between requests, answers a malformed request with an
//! error value and goes on, and serves requests in order.

mod common;

use crib_harness::engine::bpf_engine_opens;
use crib_harness::serve::{write_frame, Client, Request, Server, PROTOCOL_VERSION};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn dump_req(pid: i32, engine: &str) -> Request {
    Request {
        version: PROTOCOL_VERSION,
        op: "dump".into(),
        pid,
        engine: Some(engine.into()),
        only: vec![],
    }
}

#[test]
fn resident_server_dumps_loads_once_and_survives_bad_requests() {
    let child = common::spawn();
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("crib.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let (tx, rx) = std::sync::mpsc::channel();
    let sock2 = sock.clone();
    // The server lives on its thread (engines are not Send).
    let t = std::thread::spawn(move || {
        let mut server = Server::bind(&sock2).unwrap_or_else(|e| panic!("{e}"));
        tx.send(()).expect("ready");
        // Three connections, then stop (the flag is checked between them).
        for _ in 0..3 {
            if stop2.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            server.run_one().unwrap_or_else(|e| panic!("{e}"));
        }
    });

    rx.recv().expect("server ready");
    // 1: two dumps on one connection; the BPF engines load for the first only.
    let mut c = Client::connect(&sock).unwrap_or_else(|e| panic!("{e}"));
    let (r1, img1) = c.call(&dump_req(child.pid, "auto")).expect("call");
    assert!(r1.ok, "{r1:?}");
    let img1 = img1.expect("image");
    let d1 = crib_harness::image::decode(std::path::Path::new("reply"), &img1).expect("decode");
    assert!(d1.dump.files.len() >= 15, "{} files", d1.dump.files.len());
    let opens = bpf_engine_opens();
    let (r2, _) = c.call(&dump_req(child.pid, "auto")).expect("call");
    assert!(r2.ok && r2.served == r1.served + 1, "{r2:?}");
    assert_eq!(
        bpf_engine_opens(),
        opens,
        "the second dump loaded an engine again"
    );
    drop(c);

    // 2: garbage, then a valid request on the same connection.
    let mut raw = UnixStream::connect(&sock).expect("connect");
    write_frame(&mut raw, b"{ not json").expect("write");
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).expect("reply length");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    raw.read_exact(&mut body).expect("reply");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["ok"], false);
    assert!(
        v["error"].as_str().unwrap_or("").contains("bad request"),
        "{v}"
    );
    let mut c = Client::connect(&sock).expect("connect");
    drop(raw);

    // 3: an unknown op and a dead pid are errors, and the server still answers.
    let (r, _) = c
        .call(&Request {
            op: "explode".into(),
            ..dump_req(0, "auto")
        })
        .expect("call");
    assert!(
        !r.ok && r.error.as_deref().unwrap_or("").contains("unknown op"),
        "{r:?}"
    );
    let (r, _) = c.call(&dump_req(i32::MAX - 7, "procfs")).expect("call");
    assert!(
        !r.ok && r.error.as_deref().unwrap_or("").contains("no such process"),
        "{r:?}"
    );
    let (r, _) = c
        .call(&Request {
            version: 99,
            ..dump_req(child.pid, "auto")
        })
        .expect("call");
    assert!(
        !r.ok && r.error.as_deref().unwrap_or("").contains("version 99"),
        "{r:?}"
    );
    drop(c);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().expect("server thread");
    // The socket is root-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_file_that_is_not_a_socket_is_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("notasocket");
    std::fs::write(&p, "keep me").expect("write");
    let e = Server::bind(&p).err().expect("must refuse");
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&p).expect("read"), "keep me");
}
