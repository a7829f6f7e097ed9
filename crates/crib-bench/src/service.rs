//! Dumps per second three ways, against one prepared process: a resident
//! `crib serve` (engines loaded once, a request per dump over its socket,
//! image bytes back), procfs in this process (nothing to load), and a cold
//! `crib dump` (a new process: engine load, dump, image written).

use crate::clock;
use crate::schema::ServiceRun;
use crib_harness::serve::{Client, Request, Server, PROTOCOL_VERSION};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `requests` served dumps (after one untimed warm-up that loads the
/// engines), `cold` runs of `crib dump`, `requests` procfs dumps.
pub fn measure(pid: i32, requests: usize, cold: usize, scratch: &Path) -> ServiceRun {
    let mut run = ServiceRun {
        engine: "auto".into(),
        ..Default::default()
    };
    match served(pid, requests, scratch) {
        Ok((ns, engines)) => {
            run.served_ns = ns;
            run.served_engines = engines;
        }
        Err(e) => run.unavailable = Some(format!("crib serve: {e}")),
    }
    match cold_dumps(pid, cold, scratch) {
        Ok(ns) => run.cold_ns = ns,
        Err(e) => run.cold_unavailable = Some(e),
    }
    run.procfs_ns = (0..requests)
        .filter_map(|_| {
            let t = clock::start();
            let req = crib_harness::dump::DumpRequest::all(
                pid,
                crib_harness::engine::EngineChoice::Fixed(crib_harness::engine::EngineKind::Procfs),
            );
            crib_harness::dump::dump(&req).ok()?;
            Some(t.elapsed_ns())
        })
        .collect();
    run
}

/// The server in a thread of this process; the client times each request.
fn served(pid: i32, requests: usize, scratch: &Path) -> Result<(Vec<u64>, String), String> {
    let sock = scratch.join(format!("crib-bench-serve-{}.sock", std::process::id()));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (ready, bound) = std::sync::mpsc::channel();
    let path = sock.clone();
    // the server (its engines are not Send) lives in its own thread
    let handle = std::thread::spawn(move || match Server::bind(&path) {
        Ok(mut server) => {
            let _ = ready.send(Ok(()));
            let _ = server.run(&stop2);
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
        }
    });
    bound
        .recv()
        .map_err(|_| "the server thread ended".to_string())??;
    let result = (|| {
        let mut c = Client::connect(&sock).map_err(|e| e.to_string())?;
        let req = Request {
            version: PROTOCOL_VERSION,
            op: "dump".into(),
            pid,
            engine: None,
            only: Vec::new(),
        };
        let call = |c: &mut Client| -> Result<String, String> {
            let (resp, img) = c.call(&req).map_err(|e| e.to_string())?;
            if !resp.ok || img.is_none() {
                return Err(resp.error.unwrap_or_else(|| "no image".into()));
            }
            Ok(resp
                .engines
                .iter()
                .map(|(op, e)| format!("{op}={e}"))
                .collect::<Vec<_>>()
                .join(" "))
        };
        let engines = call(&mut c)?; // loads the engines
        let mut ns = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = clock::start();
            call(&mut c)?;
            ns.push(t.elapsed_ns());
        }
        Ok((ns, engines))
    })();
    stop.store(true, Ordering::Relaxed);
    // wake the accept() so the server sees `stop`
    let _ = std::os::unix::net::UnixStream::connect(&sock);
    let _ = handle.join();
    let _ = std::fs::remove_file(&sock);
    result
}

/// The `crib` binary next to this one (cargo puts both in target/<profile>).
fn crib_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("locating crib-bench: {e}"))?;
    let p = me.with_file_name("crib");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{}: not built (cargo build --release -p crib-cli)",
            p.display()
        ))
    }
}

fn cold_dumps(pid: i32, runs: usize, scratch: &Path) -> Result<Vec<u64>, String> {
    let crib = crib_binary()?;
    let dir = scratch.join(format!("crib-bench-cold-{}", std::process::id()));
    let mut ns = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = clock::start();
        let out = Command::new(&crib)
            .args(["dump", "--pid", &pid.to_string(), "--images"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("{}: {e}", crib.display()))?;
        ns.push(t.elapsed_ns());
        if !out.status.success() {
            return Err(format!(
                "crib dump failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ns)
}
