//! Human-readable rendering of an image (`crib show`).

use crate::image::Image;
use crate::model::{Captured, Dump, SockAddr};

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
            let pending = u
                .pending_len
                .map_or("not read".to_string(), |n| format!("{n} bytes"));
            let _ = writeln!(s, "  udp corked {} pending {pending}", u.corked);
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
            m.start,
            m.end,
            m.flags,
            m.pgoff,
            if m.path.is_empty() { "[anon]" } else { &m.path }
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
