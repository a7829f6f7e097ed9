//! dump-compare mode: check the dumped memory map against the mappings the
//! test recorded (`map.N=start end prot shared pgoff path`).

use crib_harness::model::{vm_flags, Dump};
use std::collections::HashMap;

pub fn check_maps(d: &Dump, state: &HashMap<String, String>) -> Result<(), String> {
    let n: usize = state
        .get("maps")
        .ok_or("state has no maps count")?
        .parse()
        .map_err(|e| format!("maps count: {e}"))?;
    for i in 0..n {
        let key = format!("map.{i}");
        let line = state
            .get(&key)
            .ok_or_else(|| format!("state has no {key}"))?;
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        if f.len() < 5 {
            return Err(format!("{key}: malformed {line:?}"));
        }
        let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|e| format!("{key}: {s:?}: {e}"));
        let (start, end, prot, shared, off) =
            (hex(f[0])?, hex(f[1])?, f[2], f[3] == "1", hex(f[4])?);
        let path = f.get(5).copied().unwrap_or("");
        let m = d
            .mappings
            .iter()
            .find(|m| m.start == start && m.end == end)
            .ok_or_else(|| format!("{key}: no dumped mapping {start:x}-{end:x}"))?;
        let mut want = 0;
        for (c, bit) in prot
            .chars()
            .zip([vm_flags::READ, vm_flags::WRITE, vm_flags::EXEC])
        {
            if c != '-' {
                want |= bit;
            }
        }
        let got = m.flags & (vm_flags::READ | vm_flags::WRITE | vm_flags::EXEC);
        if got != want {
            return Err(format!("{key}: prot {got:#x}, want {want:#x} ({prot})"));
        }
        if m.is_shared() != shared {
            return Err(format!("{key}: shared={}, want {shared}", m.is_shared()));
        }
        if m.pgoff != off {
            return Err(format!("{key}: pgoff {:#x}, want {off:#x}", m.pgoff));
        }
        if m.path != path {
            return Err(format!("{key}: path {:?}, want {path:?}", m.path));
        }
    }
    Ok(())
}

/// `key=value` lines of a state file.
pub fn read_state(path: &std::path::Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}
