//! The `// key: value` header of a verifier test program.

use std::fmt;

/// What the verifier must do with the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Rejected, with this substring in the verifier log.
    Reject(String),
}

/// Program types a test may be loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgType {
    Crib,
    Syscall,
    SocketFilter,
}

impl ProgType {
    /// The uapi `enum bpf_prog_type` value (CRIB follows NETFILTER = 32).
    pub fn number(self) -> u32 {
        match self {
            ProgType::Crib => 33,
            ProgType::Syscall => 31,
            ProgType::SocketFilter => 1,
        }
    }

    fn parse(s: &str) -> Option<ProgType> {
        match s {
            "crib" => Some(ProgType::Crib),
            "syscall" => Some(ProgType::Syscall),
            "socket_filter" => Some(ProgType::SocketFilter),
            _ => None,
        }
    }
}

impl fmt::Display for ProgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgType::Crib => "crib",
            ProgType::Syscall => "syscall",
            ProgType::SocketFilter => "socket_filter",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub verdict: Verdict,
    pub sleepable: bool,
    pub types: Vec<ProgType>,
    /// Expected BPF_PROG_RUN return value (accept only).
    pub run: Option<i32>,
    /// Datagrams the run must leave on the restore socket.
    pub expect_rfd: Option<usize>,
    /// Overrides of `run`/`expect_rfd` on a kernel whose
    /// `struct bpf_crib_skb_info` is version 1 (series up to 0006).
    pub run_v1: Option<i32>,
    pub expect_rfd_v1: Option<usize>,
}

impl Directives {
    /// Expected (return value, restored datagrams) on a kernel that knows
    /// `skb_info_version` of `struct bpf_crib_skb_info`.
    pub fn expected(&self, skb_info_version: u32) -> (Option<i32>, Option<usize>) {
        if skb_info_version == 1 {
            (
                self.run_v1.or(self.run),
                self.expect_rfd_v1.or(self.expect_rfd),
            )
        } else {
            (self.run, self.expect_rfd)
        }
    }
}

/// Parse the leading `//` comment lines of a program source.
pub fn parse(src: &str) -> Result<Directives, String> {
    let mut verdict = None;
    let mut sleepable = true;
    let mut types = vec![ProgType::Crib];
    let mut run = None;
    let mut expect_rfd = None;
    let mut run_v1 = None;
    let mut expect_rfd_v1 = None;
    for (i, line) in src.lines().enumerate() {
        let Some(comment) = line.strip_prefix("//") else {
            break;
        };
        let Some((key, value)) = comment.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        let at = |msg: String| format!("line {}: {msg}", i + 1);
        match key.trim() {
            "verdict" => {
                verdict = Some(if value == "accept" {
                    Verdict::Accept
                } else if let Some(msg) = value.strip_prefix("reject ") {
                    Verdict::Reject(msg.trim().to_string())
                } else {
                    return Err(at(format!(
                        "verdict must be `accept` or `reject <log substring>`, not `{value}`"
                    )));
                });
            }
            "sleepable" => {
                sleepable = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(at(format!("sleepable must be yes or no, not `{value}`"))),
                }
            }
            "types" => {
                types = value
                    .split(',')
                    .map(|t| {
                        ProgType::parse(t.trim())
                            .ok_or_else(|| at(format!("unknown program type `{}`", t.trim())))
                    })
                    .collect::<Result<_, _>>()?;
                if types.is_empty() {
                    return Err(at("types: empty".into()));
                }
            }
            "run" | "run-v1" => {
                let slot = if key.trim() == "run" {
                    &mut run
                } else {
                    &mut run_v1
                };
                *slot = Some(
                    value
                        .parse()
                        .map_err(|_| at(format!("run: not an integer: `{value}`")))?,
                )
            }
            "expect-rfd" | "expect-rfd-v1" => {
                let slot = if key.trim() == "expect-rfd" {
                    &mut expect_rfd
                } else {
                    &mut expect_rfd_v1
                };
                *slot = Some(
                    value
                        .parse()
                        .map_err(|_| at(format!("expect-rfd: not a count: `{value}`")))?,
                )
            }
            _ => {}
        }
    }
    let verdict = verdict.ok_or("no `// verdict:` line at the top")?;
    if (run_v1.is_some() || expect_rfd_v1.is_some()) && run.is_none() {
        return Err("run-v1/expect-rfd-v1 override a `run:` line, which is missing".into());
    }
    if verdict != Verdict::Accept && (run.is_some() || expect_rfd.is_some()) {
        return Err("run/expect-rfd only make sense for accepted programs".into());
    }
    if expect_rfd.is_some() && run.is_none() {
        return Err("expect-rfd needs a run".into());
    }
    Ok(Directives {
        verdict,
        sleepable,
        types,
        run,
        expect_rfd,
        run_v1,
        expect_rfd_v1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_header() {
        let d = parse(
            "// verdict: accept\n// types: crib,syscall\n// run: -7\n// expect-rfd: 0\n// sleepable: no\n#include",
        )
        .expect("valid");
        assert_eq!(d.verdict, Verdict::Accept);
        assert_eq!(d.types, vec![ProgType::Crib, ProgType::Syscall]);
        assert_eq!(d.run, Some(-7));
        assert_eq!(d.expect_rfd, Some(0));
        assert!(!d.sleepable);
        assert_eq!(d.expected(1), (Some(-7), Some(0)));
    }

    #[test]
    fn v1_overrides_apply_only_on_v1_kernels() {
        let d = parse(
            "// verdict: accept\n// run: 0\n// expect-rfd: 1\n// run-v1: -7\n// expect-rfd-v1: 0\n",
        )
        .expect("valid");
        assert_eq!(d.expected(2), (Some(0), Some(1)));
        assert_eq!(d.expected(1), (Some(-7), Some(0)));
        assert!(parse("// verdict: accept\n// run-v1: 0\n").is_err());
    }

    #[test]
    fn reject_keeps_the_message_and_defaults() {
        let d = parse("// verdict: reject Unreleased reference\n").expect("valid");
        assert_eq!(d.verdict, Verdict::Reject("Unreleased reference".into()));
        assert_eq!(d.types, vec![ProgType::Crib]);
        assert!(d.sleepable);
    }

    #[test]
    fn directives_after_code_are_ignored() {
        let e = parse("#include \"x.h\"\n// verdict: accept\n").expect_err("no verdict");
        assert!(e.contains("verdict"), "{e}");
    }

    #[test]
    fn bad_values_name_the_line() {
        for src in [
            "// verdict: maybe\n",
            "// verdict: accept\n// types: xdp\n",
            "// verdict: accept\n// run: x\n",
            "// verdict: reject foo\n// run: 0\n",
        ] {
            assert!(parse(src).is_err(), "{src}");
        }
        assert!(parse("// verdict: accept\n// types: xdp\n")
            .expect_err("bad")
            .starts_with("line 2"));
    }
}
