//! Task identity from /proc/PID/status and /proc/PID/ns/*.

use super::{io_err, parse_err};
use crate::engine::EngineResult;
use crate::model::{Namespaces, TaskRecord};

pub fn read_task(pid: i32) -> EngineResult<TaskRecord> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(io_err(pid, &path))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
    };
    let comm = field("Name").unwrap_or_default().to_string();
    // NSpid: the pid in every pid namespace from ours down to the task's own.
    let nspid: Vec<i32> = field("NSpid")
        .ok_or_else(|| parse_err(pid, format!("{path}: no NSpid line")))?
        .split_whitespace()
        .map(|s| s.parse::<i32>())
        .collect::<Result<_, _>>()
        .map_err(|e| parse_err(pid, format!("{path}: NSpid: {e}")))?;
    let vpid = *nspid
        .last()
        .ok_or_else(|| parse_err(pid, format!("{path}: empty NSpid")))?;
    Ok(TaskRecord {
        pid,
        vpid,
        pidns_level: own_pidns_level()? + nspid.len() as u32 - 1,
        comm,
        namespaces: namespaces(pid)?,
    })
}

/// Our own nesting level (0 on the host), so levels are absolute.
pub fn own_pidns_level() -> EngineResult<u32> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(io_err(0, "/proc/self/status"))?;
    let n = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().count())
        .unwrap_or(1);
    Ok(n.saturating_sub(1) as u32)
}

pub fn namespaces(pid: i32) -> EngineResult<Namespaces> {
    let ino = |name: &str| -> EngineResult<u64> {
        let path = format!("/proc/{pid}/ns/{name}");
        let link = std::fs::read_link(&path).map_err(io_err(pid, &path))?;
        let s = link.to_string_lossy();
        // "pid:[4026531836]"
        s.rsplit_once('[')
            .and_then(|(_, r)| r.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| parse_err(pid, format!("{path}: unexpected link {s:?}")))
    };
    Ok(Namespaces {
        pid: ino("pid")?,
        net: ino("net")?,
        mnt: ino("mnt")?,
        user: ino("user")?,
        uts: ino("uts")?,
        ipc: ino("ipc")?,
        cgroup: ino("cgroup")?,
    })
}
