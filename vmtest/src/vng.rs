//! The same job through virtme-ng (`vng --run KERNEL --exec ...`), for the
//! kernel developers who already use it. vng shares the host root itself;
//! our wrapper (`guest/vng-run.sh`) runs the job and writes events, outputs
//! and per-command dmesg into a read-write share the host follows.

use crate::error::{io, Error, Result};
use crate::job::Job;
use crate::kernel::Kernel;
use crate::process::GroupChild;
use crate::qemu::{Accel, Machine};
use crate::report::{tail_text, BootOutcome, BootReport, CommandResult, Status, SKIP_EXIT_CODE};
use crate::runner::{split_console, HOST_GRACE};
use crate::splat::{Detector, Splat};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const VNG: &str = "vng";

/// The virtme-ng release the kit installs and its tests were run with: an
/// unpinned `pip install` would change the backend under a green CI.
pub const VERSION: &str = "1.42";
pub const WRAPPER: &str = include_str!("../guest/vng-run.sh");

/// How long vng gets to exit by itself once the job said DONE.
pub const DONE_EXIT_GRACE: Duration = Duration::from_secs(5);

/// The kit's own virtme-ng: a venv in the cache, so installing it never
/// touches the system's Python (Debian's is externally managed, PEP 668).
pub fn venv_dir() -> PathBuf {
    crate::cache::root().join("venv/virtme-ng")
}

/// `vng` from the kit's venv when it is there, else from PATH.
pub fn program() -> PathBuf {
    let own = venv_dir().join("bin").join(VNG);
    if own.is_file() {
        own
    } else {
        PathBuf::from(VNG)
    }
}

/// A command running `vng`; with the kit's venv, its `bin/` leads PATH
/// (vng runs `virtme-run` and friends by name).
fn vng_command() -> Command {
    let mut c = Command::new(program());
    let bin = venv_dir().join("bin");
    if bin.join(VNG).is_file() {
        let mut path = std::ffi::OsString::from(bin.as_os_str());
        if let Some(old) = std::env::var_os("PATH") {
            path.push(":");
            path.push(old);
        }
        c.env("PATH", path);
    }
    c
}

/// The version `vng --version` prints (`virtme-ng 1.42`), if it runs.
pub fn installed_version() -> Option<String> {
    let out = vng_command().arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .map(str::to_string)
}

/// `vng` (see [`program`]), or a clear error saying how to install it.
pub fn check_installed() -> Result<()> {
    match vng_command()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Error::Tool {
            program: "vng --version".into(),
            detail: s.to_string(),
        }),
        Err(err) => Err(Error::Spawn {
            program: "vng (pip install virtme-ng)".into(),
            err,
        }),
    }
}

pub fn command(
    kernel: &Kernel,
    m: &Machine,
    job: &Job,
    share: &Path,
    wrapper: &Path,
    job_file: &Path,
) -> Command {
    let mut c = vng_command();
    c.arg("--run").arg(kernel.vng_image());
    if m.accel == Accel::Tcg {
        // vng leaves the accelerator to QEMU's default under TCG, which is
        // multi-threaded: the same `Oops: int3` code-patching race our own
        // runner avoids (see TcgThread). vng adds no -accel of its own then,
        // so ours is the one QEMU uses.
        c.arg("--disable-kvm");
        // `=`: argparse takes a separate value starting with `-` for an option.
        c.arg(format!(
            "--qemu-opts=-accel tcg,thread={}",
            m.tcg_thread.name()
        ));
    }
    // The kernel's console on vng's output: a guest that dies before the job
    // starts then says why in console.log and the report's tail.
    c.arg("--verbose");
    c.arg("--cpus").arg(m.cpus.to_string());
    c.arg("--memory").arg(format!("{}M", m.memory_mib));
    c.arg("--rwdir").arg(share);
    c.arg("--cwd").arg(&job.cwd);
    // With 9p built in and no modules, vng boots without an initramfs and
    // the kernel mounts the root itself: it needs the device name vng's
    // 9p tag uses.
    if kernel.modules.is_empty() {
        c.arg("--append").arg("root=/dev/root");
    }
    if !m.cmdline.is_empty() {
        c.arg("--append").arg(&m.cmdline);
    }
    c.arg("--exec").arg(format!(
        "/bin/sh {} {} {}",
        wrapper.display(),
        share.display(),
        job_file.display()
    ));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Boot `kernel` with virtme-ng and run `job`.
pub fn boot(
    kernel: &Kernel,
    job: &Job,
    machine: &Machine,
    boot_timeout: Duration,
    out_dir: &Path,
    detector: &Detector,
    progress: bool,
) -> Result<BootReport> {
    check_installed()?;
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let out_dir = out_dir.canonicalize().map_err(io(out_dir))?;
    let share = out_dir.join("share");
    let _ = std::fs::remove_dir_all(&share);
    std::fs::create_dir_all(&share).map_err(io(&share))?;
    let wrapper = out_dir.join("vng-run.sh");
    std::fs::write(&wrapper, WRAPPER).map_err(io(&wrapper))?;
    let job_file = out_dir.join("job.sh");
    let mut j = job.clone();
    j.share = Some(share.clone());
    std::fs::write(&job_file, j.render()?).map_err(io(&job_file))?;
    let events = share.join("events");

    let cmd = command(kernel, machine, &j, &share, &wrapper, &job_file);
    let _ = std::fs::write(out_dir.join("vng-cmdline.txt"), format!("{cmd:?}\n"));
    if progress {
        eprintln!(
            "[vmtest] {} (vng): booting ({})",
            kernel.label,
            machine.accel.name()
        );
    }
    let start = Instant::now();
    let mut child = GroupChild::spawn(cmd)?;
    let console = Arc::new(Mutex::new(Vec::<u8>::new()));
    let readers: Vec<_> = [
        child
            .child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        let console = Arc::clone(&console);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut c) = console.lock() {
                    c.extend_from_slice(&buf[..n]);
                }
            }
        })
    })
    .collect();

    let total_budget: Duration = j.commands.iter().map(|c| c.timeout + HOST_GRACE).sum();
    let mut deadline = start + boot_timeout;
    let mut ready_at = None;
    let mut first_result = None;
    let mut begun: BTreeMap<String, Instant> = BTreeMap::new();
    let mut ended: BTreeMap<String, (i32, bool, Instant)> = BTreeMap::new();
    let mut done = false;
    let mut host_timeout = false;
    let mut seen_lines = 0;
    let exit = loop {
        if let Some(st) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() >= deadline {
            // After DONE every result is in the share; a guest that cannot
            // power off (no ACPI in a minimal kernel) is simply stopped.
            host_timeout = !done;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        // Only complete lines; the guest may be mid-write.
        let complete = text.rfind('\n').map(|i| &text[..=i]).unwrap_or("");
        for line in complete.lines().skip(seen_lines) {
            seen_lines += 1;
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["READY", ..] => {
                    ready_at = Some(Instant::now());
                    deadline = Instant::now() + total_budget + HOST_GRACE;
                    if progress {
                        eprintln!(
                            "[vmtest] {} (vng): guest ready after {:.1}s",
                            kernel.label,
                            start.elapsed().as_secs_f64()
                        );
                    }
                }
                ["BEGIN", name] => {
                    begun.insert(name.to_string(), Instant::now());
                }
                ["EXIT", name, rc, to] => {
                    let now = Instant::now();
                    first_result.get_or_insert(now);
                    let rc = rc.parse().unwrap_or(-1);
                    if progress {
                        let secs = begun
                            .get(*name)
                            .map(|b| (now - *b).as_secs_f64())
                            .unwrap_or(0.0);
                        eprintln!(
                            "[vmtest] {} (vng): {name}: exit {rc} ({secs:.1}s)",
                            kernel.label
                        );
                    }
                    ended.insert(name.to_string(), (rc, *to == "1", now));
                }
                ["DONE"] => {
                    done = true;
                    deadline = Instant::now() + DONE_EXIT_GRACE;
                }
                _ => {}
            }
        }
    };
    let exit = exit.or_else(|| child.kill());
    let total = start.elapsed();
    drop(child);
    for r in readers {
        let _ = r.join();
    }
    let console_text = console
        .lock()
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
    let console_log = out_dir.join("console.log");
    std::fs::write(&console_log, &console_text).map_err(io(&console_log))?;

    let mut splats_of: BTreeMap<Option<String>, Vec<Splat>> = BTreeMap::new();
    for (name, text) in split_console(&console_text) {
        splats_of
            .entry(name)
            .or_default()
            .extend(detector.scan(&text));
    }
    let boot_kmsg = std::fs::read_to_string(share.join("boot.kmsg")).unwrap_or_default();
    splats_of
        .entry(None)
        .or_default()
        .extend(detector.scan(&boot_kmsg));

    let mut results = Vec::new();
    for c in &j.commands {
        let f = c.name.replace('/', "_");
        let mut splats = splats_of.remove(&Some(c.name.clone())).unwrap_or_default();
        let output = std::fs::read(share.join(format!("{f}.out"))).unwrap_or_default();
        let kmsg = std::fs::read_to_string(share.join(format!("{f}.kmsg"))).unwrap_or_default();
        splats.extend(detector.scan(&kmsg));
        let mut seen = std::collections::BTreeSet::new();
        splats.retain(|s| seen.insert(s.title.clone()));
        let (status, code, secs, detail) = match (ended.get(&c.name), begun.get(&c.name)) {
            (Some((rc, to, end)), b) => {
                let secs = b.map(|b| (*end - *b).as_secs_f64()).unwrap_or(0.0);
                let st = if *to {
                    Status::TimedOut
                } else if !splats.is_empty() {
                    Status::Splat
                } else if *rc == 0 {
                    Status::Passed
                } else if *rc == SKIP_EXIT_CODE {
                    Status::Skipped
                } else {
                    Status::Failed
                };
                (st, Some(*rc), secs, None)
            }
            (None, Some(b)) => (
                if host_timeout {
                    Status::TimedOut
                } else {
                    Status::Lost
                },
                None,
                b.elapsed().min(total).as_secs_f64(),
                Some("the guest died or stopped answering while it ran".to_string()),
            ),
            (None, None) => (Status::NotRun, None, 0.0, Some("never started".to_string())),
        };
        results.push(CommandResult {
            name: c.name.clone(),
            command: c.command.clone(),
            status,
            exit_code: code,
            seconds: secs,
            output: tail_text(&output, 64 << 10),
            splats,
            detail,
        });
    }
    let mut boot_splats: Vec<Splat> = splats_of.into_values().flatten().collect();
    let mut seen = std::collections::BTreeSet::new();
    boot_splats.retain(|s| seen.insert(s.title.clone()));
    let exit_text = exit
        .map(|s| s.to_string())
        .unwrap_or_else(|| "killed".into());
    let outcome = if ready_at.is_none() {
        BootOutcome::NeverStarted {
            detail: if host_timeout {
                format!(
                    "no READY from the vng guest within {}s",
                    boot_timeout.as_secs()
                )
            } else {
                format!(
                    "vng exited ({exit_text}) before the job started (console: {})",
                    console_log.display()
                )
            },
        }
    } else if !done {
        BootOutcome::Died {
            detail: if host_timeout {
                "stopped answering; killed by the host timeout".into()
            } else {
                format!("vng exited ({exit_text}) before the job finished")
            },
        }
    } else {
        BootOutcome::Ok
    };
    let console_tail = (!matches!(outcome, BootOutcome::Ok)).then(|| {
        let lines: Vec<&str> = console_text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    });
    let report = BootReport {
        kernel: kernel.label.clone(),
        runner: "vng".into(),
        accel: machine.accel,
        outcome,
        boot_seconds: ready_at.map(|r| (r - start).as_secs_f64()),
        guest_uptime_at_ready: None,
        first_result_seconds: first_result.map(|r| (r - start).as_secs_f64()),
        total_seconds: total.as_secs_f64(),
        commands: results,
        boot_splats,
        console_log,
        console_tail,
        flaky: None,
    };
    report.write_json(&out_dir);
    Ok(report)
}
