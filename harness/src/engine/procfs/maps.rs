//! The memory map from /proc/PID/smaps (ranges + VmFlags).

use super::{io_err, parse_err};
use crate::engine::EngineResult;
use crate::model::{vm_flags, DevId, MappingRecord};

/// smaps `VmFlags` mnemonics of the stable `vm_flags` bits (fs/proc/task_mmu.c).
const MNEMONICS: &[(&str, u64)] = &[
    ("rd", vm_flags::READ),
    ("wr", vm_flags::WRITE),
    ("ex", vm_flags::EXEC),
    ("sh", vm_flags::SHARED),
    ("mr", vm_flags::MAYREAD),
    ("mw", vm_flags::MAYWRITE),
    ("me", vm_flags::MAYEXEC),
    ("ms", vm_flags::MAYSHARE),
    ("gd", vm_flags::GROWSDOWN),
    ("lo", vm_flags::LOCKED),
    ("io", vm_flags::IO),
    ("sr", vm_flags::SEQ_READ),
    ("rr", vm_flags::RAND_READ),
    ("dc", vm_flags::DONTCOPY),
    ("de", vm_flags::DONTEXPAND),
    ("ac", vm_flags::ACCOUNT),
    ("nr", vm_flags::NORESERVE),
    ("ht", vm_flags::HUGETLB),
];

pub fn read_maps(pid: i32) -> EngineResult<Vec<MappingRecord>> {
    let path = format!("/proc/{pid}/smaps");
    let text = std::fs::read_to_string(&path).map_err(io_err(pid, &path))?;
    parse_smaps(&text).map_err(|e| parse_err(pid, format!("{path}: {e}")))
}

/// Parse smaps text. Public for the parser tests.
pub fn parse_smaps(text: &str) -> Result<Vec<MappingRecord>, String> {
    let mut out: Vec<MappingRecord> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            let m = out
                .last_mut()
                .ok_or_else(|| format!("line {}: VmFlags before any range", n + 1))?;
            m.flags = flags
                .split_whitespace()
                .filter_map(|f| MNEMONICS.iter().find(|(k, _)| *k == f).map(|(_, b)| *b))
                .fold(0, |a, b| a | b);
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        // Range lines start with "start-end"; the rest are "Key: value".
        if first.ends_with(':') || !first.contains('-') {
            continue;
        }
        out.push(parse_range_line(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(out)
}

fn parse_range_line(line: &str) -> Result<MappingRecord, String> {
    let mut it = line.splitn(6, ' ');
    let mut next = |what: &str| it.next().ok_or_else(|| format!("missing {what}"));
    let range = next("range")?;
    let perms = next("perms")?;
    let off = next("offset")?;
    let dev = next("dev")?;
    let ino = next("inode")?;
    let path = it.next().unwrap_or("").trim_start().to_string();
    let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|e| format!("{s:?}: {e}"));
    let (s, e) = range.split_once('-').ok_or("range without '-'")?;
    let (maj, min) = dev.split_once(':').ok_or("dev without ':'")?;
    let mut flags = 0;
    for (c, bit) in perms
        .chars()
        .zip([vm_flags::READ, vm_flags::WRITE, vm_flags::EXEC])
    {
        if c != '-' {
            flags |= bit;
        }
    }
    if perms.ends_with('s') {
        flags |= vm_flags::MAYSHARE;
    }
    Ok(MappingRecord {
        start: hex(s)?,
        end: hex(e)?,
        flags,
        pgoff: hex(off)?,
        path: path.strip_suffix(" (deleted)").unwrap_or(&path).into(),
        ino: ino.parse().map_err(|e| format!("inode {ino:?}: {e}"))?,
        dev: DevId {
            major: hex(maj)? as u32,
            minor: hex(min)? as u32,
        },
    })
}
