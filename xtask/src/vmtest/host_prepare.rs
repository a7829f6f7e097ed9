//! `host_prepare` of vmtest.toml tests: shell text run on the host after the
//! target's kernel is resolved and before its boot, for work the guest
//! cannot do (compiling BPF objects against the kernel's vmlinux needs clang
//! and bpftool, which the minimal guest does not run).
//!
//! Placeholders: `{vmlinux}` (the kernel's vmlinux; only kernels we build
//! have one) and `{prep-dir}` (a fresh per-test directory under the run
//! directory, readable from the guest, expanded in the guest command too).
//! A failed preparation fails its test with a one-line reason instead of
//! running it; the other tests still run.

use super::output::Clock;
use anyhow::{Context, Result};
use crib_vmtest::config::Resolved;
use crib_vmtest::job::sh_quote;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run every preparation of `plan` (target directory `target_dir`) and
/// rewrite its tests' guest commands accordingly.
pub fn run(
    plan: &mut Resolved,
    vmlinux: Option<&Path>,
    target_dir: &Path,
    clock: &Clock,
) -> Result<()> {
    let preps = plan.host_prepare.clone();
    for h in &preps {
        let dir = target_dir.join("prep").join(h.test.replace('/', "_"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let outcome = prepare_one(&h.command, vmlinux, &plan.kernel, &dir, clock, &h.test);
        for c in plan.commands.iter_mut().filter(|c| c.name == h.test) {
            c.command = match &outcome {
                Ok(()) => expand_prep_dir(&c.command, &dir),
                Err(why) => format!(
                    "echo {} >&2; exit 1",
                    sh_quote(&format!("host_prepare failed: {why}"))
                ),
            };
        }
    }
    Ok(())
}

/// Run one preparation; `Err` is the one-line reason the test fails with.
fn prepare_one(
    command: &str,
    vmlinux: Option<&Path>,
    kernel: &str,
    dir: &Path,
    clock: &Clock,
    test: &str,
) -> std::result::Result<(), String> {
    let mut text = expand_prep_dir(command, dir);
    if text.contains("{vmlinux}") {
        let v = vmlinux.ok_or_else(|| {
            format!("kernel `{kernel}` has no vmlinux for {{vmlinux}} (only `patched` has one)")
        })?;
        text = text.replace("{vmlinux}", &sh_quote(&v.to_string_lossy()));
    }
    let log = log_path(dir);
    clock.say(&format!("{test}: host_prepare (log {})", log.display()));
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&text)
        .current_dir(crate::workspace_root())
        .output()
        .map_err(|e| format!("running /bin/sh: {e}"))?;
    let mut both = out.stdout;
    both.extend_from_slice(&out.stderr);
    std::fs::write(&log, &both).map_err(|e| format!("writing {}: {e}", log.display()))?;
    if !out.status.success() {
        let last = String::from_utf8_lossy(&both)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string();
        return Err(format!(
            "`{text}` exited with {} ({last}; log {})",
            out.status,
            log.display()
        ));
    }
    Ok(())
}

fn log_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.host-prepare.log"))
}

fn expand_prep_dir(text: &str, dir: &Path) -> String {
    text.replace("{prep-dir}", &sh_quote(&dir.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crib_vmtest::config::HostPrepare;
    use crib_vmtest::GuestCommand;
    use std::time::Duration;

    fn plan(prep: &str, kernel: &str) -> Resolved {
        Resolved {
            name: "t".into(),
            kernel: kernel.into(),
            memory_mib: 1,
            cpus: 1,
            boot_timeout: Duration::from_secs(1),
            cmdline: String::new(),
            tcg_thread: crib_vmtest::TcgThread::default(),
            tmpfs: vec![],
            commands: vec![
                GuestCommand {
                    name: "a/b".into(),
                    command: "cat {prep-dir}/x".into(),
                    timeout: Duration::from_secs(1),
                },
                GuestCommand {
                    name: "other".into(),
                    command: "true {prep-dir}".into(),
                    timeout: Duration::from_secs(1),
                },
            ],
            host_prepare: vec![HostPrepare {
                test: "a/b".into(),
                command: prep.into(),
            }],
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-prep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn success_expands_the_prep_dir_of_its_test_only() {
        let d = tmp("ok");
        let mut p = plan("echo {vmlinux} > {prep-dir}/x", "patched");
        run(&mut p, Some(Path::new("/k/vmlinux")), &d, &Clock::start())
            .unwrap_or_else(|e| panic!("{e:#}"));
        let prep = d.join("prep/a_b");
        assert_eq!(
            std::fs::read_to_string(prep.join("x")).unwrap_or_default(),
            "/k/vmlinux\n"
        );
        assert_eq!(p.commands[0].command, format!("cat '{}'/x", prep.display()));
        assert_eq!(p.commands[1].command, "true {prep-dir}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn failures_fail_the_test_with_the_reason() {
        let d = tmp("fail");
        let mut p = plan("echo broken >&2; exit 3", "patched");
        run(&mut p, None, &d, &Clock::start()).unwrap_or_else(|e| panic!("{e:#}"));
        let c = &p.commands[0].command;
        assert!(c.ends_with("exit 1"), "{c}");
        assert!(
            c.contains("host_prepare failed") && c.contains("broken"),
            "{c}"
        );

        let mut p = plan("true {vmlinux}", "debian-6.12");
        run(&mut p, None, &d, &Clock::start()).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(p.commands[0].command.contains("has no vmlinux"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
