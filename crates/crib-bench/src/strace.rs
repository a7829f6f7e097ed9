//! Counting syscalls with strace: run `crib-bench once` under `strace -f`,
//! then cut the trace into the regions its markers delimit.

use crate::marks::PREFIX;
use crate::schema::Syscalls;
use std::collections::BTreeMap;

/// Calls whose return value is the number of bytes the kernel copied into
/// user memory.
const DATA_CALLS: &[&str] = &[
    "read",
    "pread64",
    "readv",
    "preadv",
    "preadv2",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getdents64",
    "getdents",
    "readlink",
    "readlinkat",
];

/// One completed syscall line: its name and return value (when numeric).
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Call {
        name: &'a str,
        ret: Option<i64>,
    },
    /// A marker `access()`: `begin:LABEL` or `end:LABEL`.
    Mark(&'a str),
    /// Signals, exits, `<unfinished ...>` halves: not a completed call.
    Other,
}

/// Parse one line of `strace -f -o FILE` output (`PID name(args) = ret`).
pub fn parse_line(line: &str) -> Line<'_> {
    let line = line.trim_start();
    // Drop the pid column strace -f -o prints.
    let rest = match line.split_once(' ') {
        Some((pid, rest)) if pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty() => {
            rest.trim_start()
        }
        _ => line,
    };
    if rest.starts_with("---") || rest.starts_with("+++") || rest.ends_with("<unfinished ...>") {
        return Line::Other;
    }
    if let Some(i) = rest.find(PREFIX) {
        let label = &rest[i + PREFIX.len()..];
        let end = label.find('"').unwrap_or(label.len());
        return Line::Mark(&label[..end]);
    }
    let name = if let Some(r) = rest.strip_prefix("<... ") {
        match r.split_once(" resumed>") {
            Some((n, _)) => n,
            None => return Line::Other,
        }
    } else {
        match rest.split_once('(') {
            Some((n, _))
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                n
            }
            _ => return Line::Other,
        }
    };
    let ret = rest.rsplit_once(" = ").and_then(|(_, r)| {
        let tok = r.split_whitespace().next()?;
        if let Some(hex) = tok.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else {
            tok.parse::<i64>().ok()
        }
    });
    Line::Call { name, ret }
}

/// Regions whose label starts with this are not counted in the regions
/// around them (untimed helper work, e.g. procfs input for a refused op).
pub const FALLBACK: &str = "fallback:";

/// Syscalls inside each marked region, by label.
pub fn regions(trace: &str) -> BTreeMap<String, Syscalls> {
    let mut open: Vec<String> = Vec::new();
    let mut out: BTreeMap<String, Syscalls> = BTreeMap::new();
    for line in trace.lines() {
        match parse_line(line) {
            Line::Mark(m) => {
                if let Some(l) = m.strip_prefix("begin:") {
                    open.push(l.to_string());
                    out.entry(l.to_string()).or_default();
                } else if let Some(l) = m.strip_prefix("end:") {
                    open.retain(|o| o != l);
                }
            }
            Line::Call { name, ret } => {
                let aside = open.iter().any(|l| l.starts_with(FALLBACK));
                for l in open.iter().filter(|l| !aside || l.starts_with(FALLBACK)) {
                    let s = out.entry(l.clone()).or_default();
                    s.total += 1;
                    *s.by_name.entry(name.to_string()).or_default() += 1;
                    if DATA_CALLS.contains(&name) {
                        s.bytes_to_user += ret.filter(|&r| r > 0).unwrap_or(0) as u64;
                    }
                }
            }
            Line::Other => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            parse_line("1234  read(3, \"\"..., 4096) = 812"),
            Line::Call {
                name: "read",
                ret: Some(812)
            }
        );
        assert_eq!(
            parse_line("77 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f0000001000"),
            Line::Call {
                name: "mmap",
                ret: Some(0x7f0000001000)
            }
        );
        assert_eq!(
            parse_line(
                "9 openat(AT_FDCWD, \"/x\", O_RDONLY) = -1 ENOENT (No such file or directory)"
            ),
            Line::Call {
                name: "openat",
                ret: Some(-1)
            }
        );
        assert_eq!(parse_line("9 read(3,  <unfinished ...>"), Line::Other);
        assert_eq!(
            parse_line("9 <... read resumed>\"\"..., 10) = 10"),
            Line::Call {
                name: "read",
                ret: Some(10)
            }
        );
        assert_eq!(
            parse_line("9 --- SIGCHLD {si_signo=SIGCHLD} ---"),
            Line::Other
        );
        assert_eq!(parse_line("9 +++ exited with 0 +++"), Line::Other);
        assert_eq!(
            parse_line(&format!(
                "9 access(\"{PREFIX}begin:files\", F_OK) = -1 ENOENT (x)"
            )),
            Line::Mark("begin:files")
        );
        assert_eq!(
            parse_line("9 exit_group(0) = ?"),
            Line::Call {
                name: "exit_group",
                ret: None
            }
        );
    }

    #[test]
    fn nested_regions_count_inside_only() {
        let m = |s: &str| format!("1 access(\"{PREFIX}{s}\", F_OK) = -1 ENOENT (x)\n");
        let trace = [
            "1 read(3, \"\", 10) = 10\n".to_string(),
            m("begin:dump"),
            m("begin:files"),
            "1 getdents64(4, 0x1, 32768) = 240\n".into(),
            "1 read(5, \"\", 10) = 7\n".into(),
            m("end:files"),
            "1 bpf(BPF_PROG_RUN, {}, 80) = 0\n".into(),
            m("end:dump"),
            "1 close(3) = 0\n".into(),
        ]
        .concat();
        let r = regions(&trace);
        assert_eq!(r["files"].total, 2);
        assert_eq!(r["files"].bytes_to_user, 247);
        assert_eq!(r["dump"].total, 3);
        assert_eq!(r["dump"].by_name["bpf"], 1);
        assert_eq!(r["dump"].bytes_to_user, 247);
    }

    #[test]
    fn fallback_regions_are_set_aside() {
        let m = |s: &str| format!("1 access(\"{PREFIX}{s}\", F_OK) = -1 ENOENT (x)\n");
        let trace = [
            m("begin:dump"),
            "1 bpf(BPF_PROG_RUN, {}, 80) = 0\n".to_string(),
            m(&format!("begin:{FALLBACK}files")),
            "1 read(3, \"\", 10) = 10\n".into(),
            m(&format!("end:{FALLBACK}files")),
            m("end:dump"),
        ]
        .concat();
        let r = regions(&trace);
        assert_eq!(r["dump"].total, 1);
        assert_eq!(r[&format!("{FALLBACK}files")].total, 1);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse_line(&s);
        }

        #[test]
        fn read_totals_add_up(lens in proptest::collection::vec(0i64..100_000, 0..50)) {
            let mut t = format!("1 access(\"{PREFIX}begin:r\", F_OK) = -1 ENOENT\n");
            for l in &lens {
                t.push_str(&format!("1 read(3, \"\"..., 131072) = {l}\n"));
            }
            t.push_str(&format!("1 access(\"{PREFIX}end:r\", F_OK) = -1 ENOENT\n"));
            let r = regions(&t);
            proptest::prop_assert_eq!(r["r"].total, lens.len() as u64);
            proptest::prop_assert_eq!(r["r"].bytes_to_user, lens.iter().sum::<i64>() as u64);
        }
    }
}
