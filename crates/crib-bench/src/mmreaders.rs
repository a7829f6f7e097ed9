//! The two cheapest ways to read a memory map that are not an engine: the
//! `PROCMAP_QUERY` ioctl on `/proc/PID/maps` (Linux 6.11+, binary, one VMA
//! per call, with its path: what a modern reader would use) and the
//! `/proc/PID/maps` text (read whole, lines counted, not parsed). They read
//! less than an engine's `mm` operation (no smaps counters, no flags CRIU
//! needs), so they are lower bounds for what a procfs reader can do.

use crate::clock;
use crate::schema::MmReaderRun;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;

/// `struct procmap_query` of `<linux/fs.h>` (6.11).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: libc::c_ulong = (3 << 30)
    | ((std::mem::size_of::<ProcmapQuery>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 17;
/// `PROCMAP_QUERY_COVERING_OR_NEXT_VMA`.
const COVERING_OR_NEXT_VMA: u64 = 0x10;

/// What one read of the map found.
pub struct MapRead {
    pub vmas: u64,
    pub syscalls: u64,
}

/// Every VMA of `pid` with its name, one ioctl each (plus open and close).
pub fn procmap_query(pid: i32, name: &mut [u8]) -> io::Result<MapRead> {
    let f = File::open(format!("/proc/{pid}/maps"))?;
    let mut addr = 0u64;
    let mut vmas = 0;
    let mut calls = 2;
    loop {
        let mut q = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            vma_name_size: name.len() as u32,
            vma_name_addr: name.as_mut_ptr() as u64,
            ..Default::default()
        };
        calls += 1;
        // SAFETY: q is a live procmap_query of the size it declares; the
        // name buffer outlives the call and its size is given.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), PROCMAP_QUERY, &mut q) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(MapRead {
                    vmas,
                    syscalls: calls,
                });
            }
            return Err(e);
        }
        vmas += 1;
        addr = q.vma_end;
    }
}

/// The whole `/proc/PID/maps` text into `buf`; its lines counted.
pub fn maps_text(pid: i32, buf: &mut Vec<u8>) -> io::Result<MapRead> {
    let mut f = File::open(format!("/proc/{pid}/maps"))?;
    buf.clear();
    let mut calls = 2;
    let mut chunk = [0u8; 64 << 10];
    loop {
        calls += 1;
        let n = f.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let vmas = buf.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok(MapRead {
        vmas,
        syscalls: calls,
    })
}

/// Time `reps` reads of each way (after one untimed warm-up read).
pub fn measure(pid: i32, reps: usize) -> Vec<MmReaderRun> {
    let mut name = vec![0u8; 4096];
    let mut text = Vec::new();
    vec![
        run("procmap_query", reps, || procmap_query(pid, &mut name)),
        run("maps", reps, || maps_text(pid, &mut text)),
    ]
}

fn run(name: &str, reps: usize, mut f: impl FnMut() -> io::Result<MapRead>) -> MmReaderRun {
    let mut out = MmReaderRun {
        reader: name.into(),
        ..Default::default()
    };
    let first = match f() {
        Ok(r) => r,
        Err(e) => {
            out.unavailable = Some(match e.raw_os_error() {
                Some(libc::ENOTTY) | Some(libc::EINVAL) => {
                    format!("{name}: this kernel has no PROCMAP_QUERY ioctl (Linux 6.11+): {e}")
                }
                _ => format!("{name}: {e}"),
            });
            return out;
        }
    };
    out.vmas = first.vmas;
    out.syscalls = Some(first.syscalls);
    for _ in 0..reps {
        let t = clock::start();
        match f() {
            Ok(r) if r.vmas == first.vmas => out.ns.push(t.elapsed_ns()),
            Ok(r) => {
                out.unavailable = Some(format!(
                    "{name}: {} VMAs, then {}: the target changed",
                    first.vmas, r.vmas
                ));
                out.ns.clear();
                return out;
            }
            Err(e) => {
                out.unavailable = Some(format!("{name}: {e}"));
                out.ns.clear();
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_the_kernels() {
        // _IOWR('f', 17, struct procmap_query), sizeof = 104 on 64-bit
        assert_eq!(std::mem::size_of::<ProcmapQuery>(), 104);
        assert_eq!(PROCMAP_QUERY, 0xc068_6611);
    }

    #[test]
    fn both_readers_see_this_process() {
        let me = std::process::id() as i32;
        let mut text = Vec::new();
        let t = maps_text(me, &mut text).expect("maps");
        assert!(t.vmas > 3, "{} lines", t.vmas);
        let mut name = vec![0u8; 4096];
        match procmap_query(me, &mut name) {
            // within a few VMAs of the text (the process maps while reading)
            Ok(q) => assert!(q.vmas.abs_diff(t.vmas) <= 4, "{} vs {}", q.vmas, t.vmas),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}"),
        }
    }
}
