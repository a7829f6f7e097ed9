//! `crib dump`, `crib show`, `crib restore`.

use anyhow::{bail, Context, Result};
use crib_harness::dump::{dump as run_dump, DumpRequest};
use crib_harness::engine::EngineChoice;
use crib_harness::image::{read_dir, write_dir, Image};
use crib_harness::model::{Captured, Dump, Operation, SockAddr};
use crib_harness::restore::{restore_and_exec, RestoreOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DumpArgs {
    /// Process to dump (pid in crib's pid namespace).
    #[arg(long)]
    pid: i32,
    /// Image directory to write (created if missing).
    #[arg(long)]
    images: PathBuf,
    /// Engine for every operation; `auto` picks the best per operation from
    /// the running kernel's BTF.
    #[arg(long, default_value = "auto")]
    engine: String,
    /// Comma-separated subset of: files, mm, sockets, queues.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// Image directory.
    dir: PathBuf,
    /// Print the dump as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Image directory to restore from.
    #[arg(long)]
    images: PathBuf,
    /// Also restore descriptors 0-2 (default: inherit crib's own).
    #[arg(long)]
    restore_stdio: bool,
    /// Command to exec with the restored descriptors.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

fn parse_engine(s: &str) -> Result<EngineChoice> {
    EngineChoice::parse(s)
        .with_context(|| format!("--engine {s:?}: expected auto, crib, upstream or procfs"))
}

fn parse_ops(only: &[String]) -> Result<Vec<Operation>> {
    if only.is_empty() {
        return Ok(Operation::ALL.to_vec());
    }
    let mut ops = vec![Operation::Task];
    for o in only {
        match Operation::parse(o) {
            Some(Operation::Task) | None => {
                bail!("--only {o:?}: expected files, mm, sockets or queues")
            }
            Some(op) => ops.push(op),
        }
    }
    Ok(ops)
}

pub fn dump(a: DumpArgs) -> Result<ExitCode> {
    let req = DumpRequest {
        pid: a.pid,
        engine: parse_engine(&a.engine)?,
        ops: parse_ops(&a.only)?,
    };
    let d = run_dump(&req).with_context(|| format!("dumping pid {}", a.pid))?;
    let path = write_dir(&a.images, &d)?;
    let engines: Vec<String> = d
        .info
        .engines
        .iter()
        .map(|(op, e)| format!("{}={e}", op.name()))
        .collect();
    println!(
        "dumped pid {} to {} ({} files, {} mappings, {} sockets, {} pipes; {})",
        a.pid,
        path.display(),
        d.files.len(),
        d.mappings.len(),
        d.sockets.len(),
        d.pipes.len(),
        engines.join(" ")
    );
    for n in &d.info.notes {
        println!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(a: ShowArgs) -> Result<ExitCode> {
    let img = read_dir(&a.dir)?;
    if a.json {
        let v = serde_json::json!({
            "dump": img.dump,
            "unknown_records": img.unknown.iter().map(|u| serde_json::json!({
                "index": u.index, "type": u.rtype, "len": u.len
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&img));
    }
    Ok(ExitCode::SUCCESS)
}

fn addr(a: &SockAddr) -> String {
    match a {
        SockAddr::None => "-".into(),
        SockAddr::Inet { ip, port } => std::net::SocketAddr::new(*ip, *port).to_string(),
        SockAddr::Unix { path } => format!("unix:{}", String::from_utf8_lossy(path)),
    }
}

fn queue_summary<T>(q: &Captured<Vec<T>>, len: impl Fn(&T) -> usize) -> String {
    match q {
        Captured::Data(v) => format!(
            "{} item(s), {} bytes",
            v.len(),
            v.iter().map(len).sum::<usize>()
        ),
        Captured::Unavailable { reason } => format!("NOT DUMPED ({reason})"),
    }
}

/// Human-readable listing of an image.
pub fn render(img: &Image) -> String {
    use std::fmt::Write as _;
    let d: &Dump = &img.dump;
    let mut s = String::new();
    let t = &d.task;
    let _ = writeln!(
        s,
        "task pid {} (vpid {} at pidns level {}) comm {:?}  ns pid:{} net:{} mnt:{}",
        t.pid, t.vpid, t.pidns_level, t.comm, t.namespaces.pid, t.namespaces.net, t.namespaces.mnt
    );
    for (op, e) in &d.info.engines {
        let _ = writeln!(s, "engine {:<8} {e}", op.name());
    }
    let _ = writeln!(s, "files ({}):", d.files.len());
    for f in &d.files {
        let _ = writeln!(
            s,
            "  fd {:>4} {:?} flags 0{:o}{} pos {} ino {} {}{}",
            f.fd,
            f.kind,
            f.flags,
            if f.cloexec { " cloexec" } else { "" },
            f.pos,
            f.ino,
            f.path,
            if f.unlinked {
                " (unlinked, contents saved)"
            } else {
                ""
            }
        );
    }
    for p in &d.pipes {
        let data = match &p.data {
            Captured::Data(b) => format!("{} bytes buffered", b.len()),
            Captured::Unavailable { reason } => format!("NOT DUMPED ({reason})"),
        };
        let _ = writeln!(s, "pipe ino {}: {data}", p.ino);
    }
    for k in &d.sockets {
        let _ = writeln!(
            s,
            "socket ino {} family {} type {} proto {} state {} local {} remote {}",
            k.ino,
            k.family,
            k.sock_type,
            k.protocol,
            k.state,
            addr(&k.local),
            addr(&k.remote)
        );
        if let Some(t) = &k.tcp {
            let _ = writeln!(
                s,
                "  tcp write_seq {} rcv_nxt {} snd_una {} unsent {} mss {} wscale {}/{}",
                t.write_seq, t.rcv_nxt, t.snd_una, t.unsent_len, t.mss, t.snd_wscale, t.rcv_wscale
            );
        }
        if let Some(u) = &k.udp {
            let _ = writeln!(s, "  udp corked {} pending {:?}", u.corked, u.pending_len);
        }
        if let Some(u) = &k.unix {
            let _ = writeln!(s, "  unix peer ino {}", u.peer_ino);
        }
        let _ = writeln!(
            s,
            "  recv queue: {}",
            queue_summary(&k.recv_queue, |g| g.data.len())
        );
        let _ = writeln!(
            s,
            "  write queue: {}",
            queue_summary(&k.write_queue, |g| g.data.len())
        );
    }
    let _ = writeln!(s, "mappings ({}):", d.mappings.len());
    for m in &d.mappings {
        let _ = writeln!(
            s,
            "  {:x}-{:x} flags {:#x} off {:x} {}",
            m.start, m.end, m.flags, m.pgoff, m.path
        );
    }
    for n in &d.info.notes {
        let _ = writeln!(s, "note: {n}");
    }
    for u in &img.unknown {
        let _ = writeln!(
            s,
            "unknown record #{} type {} ({} bytes): written by a newer crib; not restorable here",
            u.index, u.rtype, u.len
        );
    }
    s
}

pub fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let img = read_dir(&a.images)?;
    let opts = RestoreOptions {
        restore_stdio: a.restore_stdio,
    };
    // Only returns on failure: success execs the command.
    let err = match restore_and_exec(&img, &a.cmd, &opts) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(anyhow::Error::new(err).context(format!("restoring {}", a.images.display())))
}
