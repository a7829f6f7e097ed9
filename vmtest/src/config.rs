//! `vmtest.toml`: declarative targets (kernel, cmdline, memory, cpus,
//! timeouts) and the in-guest suite (named commands), in the spirit of
//! danobi/vmtest. Adding a test is adding a `[[test]]` table.
//!
//! ```toml
//! [defaults]            # all optional
//! memory = 1024         # MiB
//! cpus = 2
//! boot_timeout = 120    # s, QEMU start -> guest init ready
//! timeout = 300         # s, per command
//! cmdline = ""          # appended to the kernel command line
//! tcg_thread = "single" # TCG: all vCPUs on one host thread (or "multi")
//! tmpfs = ["/tmp", "/run", "/var/tmp"]
//!
//! [[target]]
//! name = "debian-6.12"
//! kernel = "debian-6.12"   # debian-6.1 | debian-6.12 | patched | /path/to/bzImage
//!
//! [[test]]
//! name = "env/btf"
//! command = "test -f /sys/kernel/btf/vmlinux"
//! timeout = 30             # optional
//! targets = ["patched"]    # optional: only on these targets
//! ```
//!
//! In `command`, `{test-bin:PACKAGE:TEST}` stands for the executable of
//! integration test TEST of PACKAGE and `{bin:PACKAGE:BIN}` for binary BIN
//! of PACKAGE (both built by the caller before the boot).
//!
//! `host_prepare` (optional) is shell text the caller runs on the host after
//! the kernel is resolved and before the boot, for what the guest cannot do
//! itself (e.g. compile BPF objects against the kernel's vmlinux). It may use
//! `{vmlinux}` (the target kernel's uncompressed vmlinux) and `{prep-dir}`
//! (an empty per-test host directory, also usable in `command`).

use crate::error::{io, Error, Result};
use crate::job::{valid_name, GuestCommand};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub memory: Option<u32>,
    pub cpus: Option<u32>,
    pub boot_timeout: Option<u64>,
    pub timeout: Option<u64>,
    pub cmdline: Option<String>,
    pub tmpfs: Option<Vec<PathBuf>>,
    /// TCG only: `single` (default) or `multi` (see [`crate::TcgThread`]).
    pub tcg_thread: Option<crate::TcgThread>,
    /// Targets `cargo xtask vmtest` runs when none is named.
    pub targets: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub kernel: String,
    pub memory: Option<u32>,
    pub cpus: Option<u32>,
    pub boot_timeout: Option<u64>,
    pub cmdline: Option<String>,
    pub tcg_thread: Option<crate::TcgThread>,
    /// Run this one command instead of the suite.
    pub command: Option<String>,
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    pub name: String,
    pub command: String,
    pub timeout: Option<u64>,
    /// Only on these targets (default: every target).
    pub targets: Option<Vec<String>>,
    /// Run on the host before the boot (see the module docs).
    pub host_prepare: Option<String>,
}

/// A test's host-side preparation, run before the boot of its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPrepare {
    /// The test it prepares for (its guest command gets the result).
    pub test: String,
    pub command: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default, rename = "target")]
    pub targets: Vec<Target>,
    #[serde(default, rename = "test")]
    pub tests: Vec<Test>,
}

/// A target with defaults applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: String,
    pub kernel: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub boot_timeout: Duration,
    pub cmdline: String,
    pub tcg_thread: crate::TcgThread,
    pub tmpfs: Vec<PathBuf>,
    pub commands: Vec<GuestCommand>,
    /// Host preparations of the tests in `commands`, in suite order.
    pub host_prepare: Vec<HostPrepare>,
}

pub const DEFAULT_MEMORY: u32 = 1024;
pub const DEFAULT_CPUS: u32 = 2;
pub const DEFAULT_BOOT_TIMEOUT: u64 = 120;
pub const DEFAULT_TIMEOUT: u64 = 300;

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let bad = |detail: String| Error::BadFile {
            path: path.to_path_buf(),
            detail,
        };
        let cfg: Config = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let mut names = std::collections::BTreeSet::new();
        for t in &cfg.targets {
            if !valid_name(&t.name) || !names.insert(t.name.as_str()) {
                return Err(bad(format!(
                    "target name `{}` is invalid or repeated",
                    t.name
                )));
            }
        }
        for n in cfg.defaults.targets.iter().flatten() {
            if !cfg.targets.iter().any(|t| &t.name == n) {
                return Err(bad(format!("[defaults] targets: unknown target `{n}`")));
            }
        }
        let mut tests = std::collections::BTreeSet::new();
        for t in &cfg.tests {
            if !valid_name(&t.name) || !tests.insert(t.name.as_str()) {
                return Err(bad(format!(
                    "test name `{}` is invalid (letters, digits, ._:/+-) or repeated",
                    t.name
                )));
            }
            if t.timeout == Some(0) {
                return Err(bad(format!("test `{}`: timeout must be > 0", t.name)));
            }
            for tg in t.targets.iter().flatten() {
                if !cfg.targets.iter().any(|x| &x.name == tg) {
                    return Err(bad(format!("test `{}`: unknown target `{tg}`", t.name)));
                }
            }
        }
        Ok(cfg)
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// `target` with defaults applied and its commands: its own `command`
    /// if it has one, else every suite test that applies to it.
    pub fn resolve(&self, target: &Target) -> Resolved {
        let d = &self.defaults;
        let default_timeout = target.timeout.or(d.timeout).unwrap_or(DEFAULT_TIMEOUT);
        let applies = |t: &&Test| {
            t.targets
                .as_ref()
                .is_none_or(|ts| ts.contains(&target.name))
        };
        let host_prepare = match &target.command {
            Some(_) => vec![],
            None => self
                .tests
                .iter()
                .filter(applies)
                .filter_map(|t| {
                    t.host_prepare.as_ref().map(|c| HostPrepare {
                        test: t.name.clone(),
                        command: c.clone(),
                    })
                })
                .collect(),
        };
        let commands = match &target.command {
            Some(c) => vec![GuestCommand {
                name: target.name.clone(),
                command: c.clone(),
                timeout: Duration::from_secs(default_timeout),
            }],
            None => self
                .tests
                .iter()
                .filter(applies)
                .map(|t| GuestCommand {
                    name: t.name.clone(),
                    command: t.command.clone(),
                    timeout: Duration::from_secs(
                        t.timeout.or(d.timeout).unwrap_or(DEFAULT_TIMEOUT),
                    ),
                })
                .collect(),
        };
        let mut cmdline = d.cmdline.clone().unwrap_or_default();
        if let Some(c) = &target.cmdline {
            if !cmdline.is_empty() {
                cmdline.push(' ');
            }
            cmdline.push_str(c);
        }
        Resolved {
            name: target.name.clone(),
            kernel: target.kernel.clone(),
            memory_mib: target.memory.or(d.memory).unwrap_or(DEFAULT_MEMORY),
            cpus: target.cpus.or(d.cpus).unwrap_or(DEFAULT_CPUS),
            boot_timeout: Duration::from_secs(
                target
                    .boot_timeout
                    .or(d.boot_timeout)
                    .unwrap_or(DEFAULT_BOOT_TIMEOUT),
            ),
            cmdline,
            tcg_thread: target.tcg_thread.or(d.tcg_thread).unwrap_or_default(),
            tmpfs: d.tmpfs.clone().unwrap_or_else(|| {
                crate::job::DEFAULT_TMPFS
                    .iter()
                    .map(PathBuf::from)
                    .collect()
            }),
            commands,
            host_prepare,
        }
    }
}

/// `{test-bin:PACKAGE:TEST}` placeholders in `command`, as (package, test).
pub fn test_bin_refs(command: &str) -> Vec<(String, String)> {
    refs(command, "{test-bin:")
}

/// `{bin:PACKAGE:BIN}` placeholders in `command`, as (package, binary).
pub fn bin_refs(command: &str) -> Vec<(String, String)> {
    refs(command, "{bin:")
}

fn refs(command: &str, open: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = command;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let Some(end) = after.find('}') else { break };
        if let Some((p, t)) = after[..end].split_once(':') {
            out.push((p.to_string(), t.to_string()));
        }
        rest = &after[end..];
    }
    out
}

/// Replace each placeholder with the path `lookup` gives for it.
pub fn expand_test_bins(
    command: &str,
    lookup: impl Fn(&str, &str) -> Option<PathBuf>,
) -> std::result::Result<String, String> {
    let mut s = command.to_string();
    for (p, t) in test_bin_refs(command) {
        let path =
            lookup(&p, &t).ok_or_else(|| format!("no test executable for {{test-bin:{p}:{t}}}"))?;
        s = s.replace(&format!("{{test-bin:{p}:{t}}}"), &path.to_string_lossy());
    }
    Ok(s)
}

/// Replace each `{bin:PACKAGE:BIN}` with the path `lookup` gives for it.
pub fn expand_bins(
    command: &str,
    lookup: impl Fn(&str, &str) -> Option<PathBuf>,
) -> std::result::Result<String, String> {
    let mut s = command.to_string();
    for (p, b) in bin_refs(command) {
        let path = lookup(&p, &b).ok_or_else(|| format!("no binary for {{bin:{p}:{b}}}"))?;
        s = s.replace(&format!("{{bin:{p}:{b}}}"), &path.to_string_lossy());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[defaults]
timeout = 60
[[target]]
name = "a"
kernel = "debian-6.12"
[[target]]
name = "b"
kernel = "patched"
cmdline = "x=1"
memory = 2048
[[test]]
name = "t1"
command = "true"
[[test]]
name = "t2"
command = "{test-bin:crib-harness:test_kfuncs} --exact"
timeout = 5
targets = ["b"]
host_prepare = "{bin:crib-tests:crib_verifier} build --vmlinux {vmlinux} --out {prep-dir}"
"#;

    #[test]
    fn resolves_defaults_and_filters() {
        let c = Config::parse(SAMPLE, Path::new("vmtest.toml")).unwrap_or_else(|e| panic!("{e}"));
        let a = c.resolve(&c.targets[0]);
        assert_eq!(a.commands.len(), 1);
        assert_eq!(a.commands[0].timeout, Duration::from_secs(60));
        assert_eq!(a.memory_mib, DEFAULT_MEMORY);
        let b = c.resolve(&c.targets[1]);
        assert_eq!(b.commands.len(), 2);
        assert_eq!(b.commands[1].timeout, Duration::from_secs(5));
        assert_eq!(b.memory_mib, 2048);
        assert_eq!(b.cmdline, "x=1");
        assert!(a.host_prepare.is_empty());
        assert_eq!(b.host_prepare.len(), 1);
        assert_eq!(b.host_prepare[0].test, "t2");
        assert_eq!(
            bin_refs(&b.host_prepare[0].command),
            vec![("crib-tests".into(), "crib_verifier".into())]
        );
    }

    #[test]
    fn errors_name_the_file() {
        let e = Config::parse(
            "[[test]]\nname = \"a b\"\ncommand = \"x\"\n",
            Path::new("v.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.starts_with("v.toml: test name `a b`"), "{e}");
        let e = Config::parse("[[tset]]\n", Path::new("v.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("v.toml: unknown field"), "{e}");
        let e = Config::parse(
            "[[test]]\nname = \"a\"\ncommand = \"x\"\ntargets = [\"nope\"]\n",
            Path::new("v.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("unknown target `nope`"), "{e}");
    }

    #[test]
    fn test_bin_placeholders() {
        assert_eq!(
            test_bin_refs("{test-bin:p:t} a {test-bin:q:u}"),
            vec![("p".into(), "t".into()), ("q".into(), "u".into())]
        );
        let s = expand_test_bins("{test-bin:p:t} -x", |p, t| {
            Some(PathBuf::from(format!("/b/{p}-{t}")))
        });
        assert_eq!(s.as_deref(), Ok("/b/p-t -x"));
        assert!(expand_test_bins("{test-bin:p:t}", |_, _| None).is_err());
    }
}
