//! One boot with our own runner: write the initramfs and the job, start
//! QEMU, follow the result port with deadlines, and turn what happened into
//! a [`BootReport`]. QEMU is killed on every path out of here.

use crate::error::{io, Error, Result};
use crate::initramfs;
use crate::job::Job;
use crate::kernel::Kernel;
use crate::process::GroupChild;
use crate::protocol::{self, Event};
use crate::qemu::{self, Machine};
use crate::report::{tail_text, BootOutcome, BootReport, CommandResult, Status, SKIP_EXIT_CODE};
use crate::splat::{Detector, Splat};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a boot is run.
#[derive(Clone)]
pub struct RunOptions {
    pub machine: Machine,
    /// From QEMU start to the guest's READY.
    pub boot_timeout: Duration,
    /// Where console.log, outputs and report.json go (created).
    pub out_dir: PathBuf,
    pub detector: Arc<Detector>,
    /// Print progress lines to stderr.
    pub progress: bool,
    /// Give up when the console has printed nothing for this long after
    /// QEMU started (a hung KVM guest prints nothing at all; the probe
    /// boot uses it so that a hang costs seconds, not the boot timeout).
    pub silent_console_timeout: Option<Duration>,
}

/// Added to each command's own timeout before the host gives up on the
/// guest (the guest kills the command at its timeout; this covers the rest).
pub const HOST_GRACE: Duration = Duration::from_secs(20);
/// Longest silence between two commands.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long QEMU gets to exit after the guest said DONE.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

enum Msg {
    Port(Event),
    PortEnd(Option<String>),
    Connected(UnixStream),
    QemuFatal(String),
}

/// QEMU stderr lines that mean the accelerator is broken: stop at once
/// instead of waiting for the timeout (QEMU pauses the VM on them).
const QEMU_FATAL: &[&str] = &[
    "KVM internal error",
    "failed to set MSR",
    "Could not access KVM kernel module",
];

/// Paths QEMU's option parser would misread (`,` separates options) and the
/// kernel command line would split (whitespace).
fn check_plain_path(p: &Path) -> Result<()> {
    let s = p.to_string_lossy();
    if s.contains(',') || s.chars().any(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "path {s} contains a comma or whitespace, which QEMU/the kernel command line cannot carry"
        )));
    }
    Ok(())
}

fn socket_path(out_dir: &Path) -> PathBuf {
    let p = out_dir.join("result.sock");
    // sun_path holds 108 bytes.
    if p.as_os_str().len() < 100 {
        p
    } else {
        std::env::temp_dir().join(format!(
            "crib-vmtest-{}-{}.sock",
            std::process::id(),
            unique()
        ))
    }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn file_safe(name: &str) -> String {
    name.replace('/', "_")
}

/// Boot `kernel`, run `job` (an empty job still boots and mounts the root),
/// and report. `Err` only for problems on the host side (missing kernel,
/// QEMU not installed, unwritable output dir); guest failures are in the
/// report.
pub fn boot(kernel: &Kernel, job: &Job, opts: &RunOptions) -> Result<BootReport> {
    run(kernel, Some(job), opts)
}

/// [`boot`], and once more if the guest died before its init said READY
/// (nothing of the job ran: a reason outside the tests). The first attempt
/// moves to `<out_dir>-attempt1` and is reported in [`BootReport::flaky`];
/// a second death is the result.
pub fn boot_retrying(kernel: &Kernel, job: &Job, opts: &RunOptions) -> Result<BootReport> {
    let first = boot(kernel, job, opts)?;
    if !first.died_before_ready() {
        return Ok(first);
    }
    let mut moved = opts.out_dir.clone().into_os_string();
    moved.push("-attempt1");
    let moved = PathBuf::from(moved);
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&opts.out_dir, &moved).map_err(io(&opts.out_dir))?;
    let flaky = crate::report::FlakyBoot {
        detail: first.boot_problem().unwrap_or_default(),
        console_excerpt: first.console_excerpt(),
        run_dir: moved,
    };
    if opts.progress {
        eprintln!(
            "[vmtest] {}: flaky boot (died before READY: {}); retrying once",
            kernel.label, flaky.detail
        );
    }
    let mut second = boot(kernel, job, opts)?;
    second.flaky = Some(flaky);
    Ok(second)
}

/// Boot `kernel` only to the guest init's READY (no 9p, no job): used to
/// prove an accelerator works.
pub fn probe(kernel: &Kernel, opts: &RunOptions) -> Result<BootReport> {
    run(kernel, None, opts)
}

struct Pending {
    began: Instant,
    output: Vec<u8>,
    kmsg: Vec<u8>,
}

fn run(kernel: &Kernel, job: Option<&Job>, opts: &RunOptions) -> Result<BootReport> {
    if !kernel.image.is_file() {
        return Err(Error::KernelMissing(kernel.image.clone()));
    }
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let out_dir = opts.out_dir.canonicalize().map_err(io(&opts.out_dir))?;
    check_plain_path(&out_dir)?;
    check_plain_path(&kernel.image)?;

    let initrd = initramfs::write(kernel, &out_dir.join("initramfs.cpio"))?;
    let job_path = out_dir.join("job.sh");
    let share = out_dir.join("share");
    let mut job_owned = job.cloned();
    if let Some(j) = job_owned.as_mut() {
        std::fs::create_dir_all(&share).map_err(io(&share))?;
        j.share = Some(share.clone());
        std::fs::write(&job_path, j.render()?).map_err(io(&job_path))?;
    }
    let sock = socket_path(&out_dir);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(io(&sock))?;
    listener.set_nonblocking(true).map_err(io(&sock))?;

    let paths = qemu::Paths {
        initrd: &initrd,
        socket: &sock,
        job: job_owned.as_ref().map(|_| job_path.as_path()),
        share: job_owned.as_ref().map(|_| share.as_path()),
    };
    let cmd = qemu::command(kernel, &opts.machine, &paths);
    let cmdline_text = format!("{cmd:?}\n");
    let _ = std::fs::write(out_dir.join("qemu-cmdline.txt"), cmdline_text);

    let progress = |msg: &str| {
        if opts.progress {
            eprintln!("[vmtest] {}: {msg}", kernel.label);
        }
    };
    progress(&format!(
        "booting ({}, {} MiB, {} cpus)",
        opts.machine.accel.name(),
        opts.machine.memory_mib,
        opts.machine.cpus
    ));

    let start = Instant::now();
    let mut child = GroupChild::spawn(cmd).map_err(|e| match e {
        Error::Spawn { program, err } if err.kind() == std::io::ErrorKind::NotFound => {
            Error::Spawn {
                program: format!("{program} (install qemu-system-x86)"),
                err,
            }
        }
        e => e,
    })?;

    let (tx, rx) = mpsc::channel::<Msg>();
    let stop = Arc::new(AtomicBool::new(false));
    let console_log = out_dir.join("console.log");
    let console = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stderr_buf = Arc::new(Mutex::new(String::new()));

    let console_thread = {
        let stdout = child.child.stdout.take();
        let console = Arc::clone(&console);
        let mut file = std::fs::File::create(&console_log).map_err(io(&console_log))?;
        std::thread::spawn(move || {
            let Some(mut stdout) = stdout else { return };
            let mut buf = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = file.write_all(&buf[..n]);
                if let Ok(mut c) = console.lock() {
                    c.extend_from_slice(&buf[..n]);
                }
            }
        })
    };
    let stderr_thread = {
        let stderr = child.child.stderr.take();
        let buf = Arc::clone(&stderr_buf);
        let tx = tx.clone();
        std::thread::spawn(move || {
            let Some(stderr) = stderr else { return };
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if QEMU_FATAL.iter().any(|p| line.contains(p)) {
                    let _ = tx.send(Msg::QemuFatal(line.clone()));
                }
                if let Ok(mut b) = buf.lock() {
                    b.push_str(&line);
                    b.push('\n');
                }
            }
        })
    };
    let port_thread = {
        let tx = tx.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::PortEnd(Some(e.to_string())));
                        return;
                    }
                }
            };
            let _ = stream.set_nonblocking(false);
            if let Ok(w) = stream.try_clone() {
                let _ = tx.send(Msg::Connected(w));
            }
            let mut r = BufReader::new(stream);
            loop {
                match protocol::next_event(&mut r) {
                    Ok(Some(ev)) => {
                        if tx.send(Msg::Port(ev)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx.send(Msg::PortEnd(None));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::PortEnd(Some(e.to_string())));
                        return;
                    }
                }
            }
        })
    };
    drop(tx);

    let commands = job_owned
        .as_ref()
        .map(|j| j.commands.clone())
        .unwrap_or_default();
    let timeout_of = |name: &str| commands.iter().find(|c| c.name == name).map(|c| c.timeout);

    let mut deadline = start + opts.boot_timeout;
    let mut ready_at: Option<Instant> = None;
    let mut ready_uptime: Option<f64> = None;
    let mut first_result: Option<Instant> = None;
    let mut boot_kmsg = Vec::new();
    let mut writer: Option<UnixStream> = None;
    let mut current: Option<(String, Pending)> = None;
    let mut finished: BTreeMap<String, (Pending, i32, bool, Instant)> = BTreeMap::new();
    let mut done = false;
    let mut fatal_init: Option<String> = None;
    let mut fatal_qemu: Option<String> = None;
    let mut port_error: Option<String> = None;
    let mut garbage: Vec<String> = Vec::new();
    let mut host_timeout = false;
    let mut qemu_exit: Option<std::process::ExitStatus> = None;
    let mut last_finished: Option<String> = None;
    let mut silent_console = false;

    loop {
        let now = Instant::now();
        if now >= deadline {
            host_timeout = !done;
            break;
        }
        if let Some(t) = opts.silent_console_timeout {
            let quiet = console.lock().map(|c| c.is_empty()).unwrap_or(false);
            if quiet && writer.is_none() && now - start >= t {
                silent_console = true;
                break;
            }
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        match rx.recv_timeout(wait) {
            Ok(Msg::Connected(w)) => writer = Some(w),
            Ok(Msg::QemuFatal(line)) => {
                fatal_qemu = Some(line);
                break;
            }
            Ok(Msg::PortEnd(err)) => {
                if let Some(e) = err {
                    port_error.get_or_insert(e);
                }
            }
            Ok(Msg::Port(ev)) => match ev {
                Event::Ready(uptime) => {
                    ready_at = Some(Instant::now());
                    ready_uptime = uptime.trim().parse().ok();
                    progress(&format!(
                        "guest ready after {:.1}s",
                        start.elapsed().as_secs_f64()
                    ));
                    if job_owned.is_none() {
                        done = true;
                        break;
                    }
                    deadline = Instant::now() + IDLE_TIMEOUT;
                }
                Event::Begin(name) => {
                    let t = timeout_of(&name).unwrap_or(IDLE_TIMEOUT);
                    deadline = Instant::now() + t + HOST_GRACE;
                    current = Some((
                        name,
                        Pending {
                            began: Instant::now(),
                            output: Vec::new(),
                            kmsg: Vec::new(),
                        },
                    ));
                }
                Event::Output { name, bytes } => {
                    if let Some((n, p)) = current.as_mut() {
                        if *n == name {
                            p.output = bytes;
                        }
                    }
                }
                Event::Kmsg { name, bytes } => {
                    if name == "boot" && current.is_none() {
                        boot_kmsg = bytes;
                    } else if let Some((n, p)) = current.as_mut() {
                        if *n == name {
                            p.kmsg = bytes;
                        }
                    }
                }
                Event::Exit {
                    name,
                    code,
                    timed_out,
                } => {
                    let now = Instant::now();
                    first_result.get_or_insert(now);
                    if let Some((n, p)) = current.take() {
                        if n == name {
                            if opts.progress {
                                let secs = (now - p.began).as_secs_f64();
                                let what = if timed_out {
                                    "timed out".to_string()
                                } else {
                                    format!("exit {code}")
                                };
                                progress(&format!("{name}: {what} ({secs:.1}s)"));
                            }
                            finished.insert(name.clone(), (p, code, timed_out, now));
                            last_finished = Some(name);
                        }
                    }
                    deadline = now + IDLE_TIMEOUT;
                }
                Event::Done => {
                    done = true;
                    if let Some(w) = writer.as_mut() {
                        let _ = w.write_all(b"BYE\n");
                    }
                    deadline = Instant::now() + EXIT_TIMEOUT;
                }
                Event::Fatal(text) => {
                    progress(&format!("guest init: {text}"));
                    fatal_init = Some(text);
                }
                Event::Garbage(line) => {
                    if garbage.len() < 5 {
                        garbage.push(line);
                    }
                }
            },
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(st) = child.try_wait() {
                    qemu_exit = Some(st);
                    // Let the port reader hand over what QEMU flushed.
                    let end = Instant::now() + Duration::from_secs(2);
                    while let Ok(m) = rx.recv_timeout(end.saturating_duration_since(Instant::now()))
                    {
                        match m {
                            Msg::Port(Event::Exit {
                                name,
                                code,
                                timed_out,
                            }) => {
                                if let Some((n, p)) = current.take() {
                                    if n == name {
                                        finished.insert(
                                            name.clone(),
                                            (p, code, timed_out, Instant::now()),
                                        );
                                    }
                                }
                            }
                            Msg::Port(Event::Done) => done = true,
                            Msg::Port(Event::Fatal(t)) => fatal_init = Some(t),
                            Msg::PortEnd(_) => break,
                            _ => {}
                        }
                    }
                    break;
                }
            }
        }
    }

    // QEMU goes now: after DONE it may finish by itself, otherwise kill.
    if qemu_exit.is_none() {
        qemu_exit = if done && job_owned.is_some() {
            child.wait_for(EXIT_TIMEOUT).or_else(|| child.kill())
        } else {
            child.kill()
        };
    }
    let total = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    drop(child);
    let _ = console_thread.join();
    let _ = stderr_thread.join();
    let _ = port_thread.join();
    if sock.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_file(&sock);
    }

    let console_text = console
        .lock()
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
    let stderr_text = stderr_buf.lock().map(|s| s.clone()).unwrap_or_default();
    let _ = std::fs::write(out_dir.join("qemu-stderr.log"), &stderr_text);

    // Splats: the console split at our begin/end markers, plus each
    // command's own dmesg.
    let detector = &opts.detector;
    let segments = split_console(&console_text);
    let mut splats_of: BTreeMap<Option<String>, Vec<Splat>> = BTreeMap::new();
    for (name, text) in &segments {
        splats_of
            .entry(name.clone())
            .or_default()
            .extend(detector.scan(text));
    }
    splats_of
        .entry(None)
        .or_default()
        .extend(detector.scan(&String::from_utf8_lossy(&boot_kmsg)));

    let mut dmesg_log = String::from_utf8_lossy(&boot_kmsg).into_owned();
    let outputs_dir = out_dir.join("outputs");
    let mut results = Vec::new();
    let mut died_during: Option<String> = None;
    for c in &commands {
        let mut splats = splats_of.remove(&Some(c.name.clone())).unwrap_or_default();
        let r = if let Some((p, code, timed_out, end)) = finished.remove(&c.name) {
            splats.extend(detector.scan(&String::from_utf8_lossy(&p.kmsg)));
            dedup(&mut splats);
            dmesg_log.push_str(&String::from_utf8_lossy(&p.kmsg));
            let status = if timed_out {
                Status::TimedOut
            } else if !splats.is_empty() {
                Status::Splat
            } else if code == 0 {
                Status::Passed
            } else if code == SKIP_EXIT_CODE {
                Status::Skipped
            } else {
                Status::Failed
            };
            let detail = match status {
                Status::TimedOut => Some(format!("killed after {}s", c.timeout.as_secs())),
                Status::Splat => Some(format!("exit {code}; kernel: {}", splats[0].title)),
                _ => None,
            };
            let _ = std::fs::create_dir_all(&outputs_dir);
            let _ = std::fs::write(
                outputs_dir.join(format!("{}.log", file_safe(&c.name))),
                &p.output,
            );
            CommandResult {
                name: c.name.clone(),
                command: c.command.clone(),
                status,
                exit_code: Some(code),
                seconds: (end - p.began).as_secs_f64(),
                output: tail_text(&p.output, 64 << 10),
                splats,
                detail,
            }
        } else if let Some((_, p)) = current.take_if(|(n, _)| *n == c.name) {
            dedup(&mut splats);
            died_during = Some(c.name.clone());
            let (status, detail) = if host_timeout {
                (
                    Status::TimedOut,
                    format!(
                        "no result within {}s (+{}s grace): the guest stopped answering and was killed",
                        c.timeout.as_secs(),
                        HOST_GRACE.as_secs()
                    ),
                )
            } else {
                let why = splats
                    .first()
                    .map(|s| s.title.clone())
                    .unwrap_or_else(|| "QEMU exited".into());
                (Status::Lost, format!("the guest died while it ran: {why}"))
            };
            CommandResult {
                name: c.name.clone(),
                command: c.command.clone(),
                status,
                exit_code: None,
                seconds: p.began.elapsed().min(total).as_secs_f64(),
                output: String::new(),
                splats,
                detail: Some(detail),
            }
        } else {
            let why = match (&died_during, ready_at) {
                (_, None) => "the guest never reached its init".to_string(),
                (Some(d), _) => format!("the guest died during {d}"),
                (None, _) => "the guest stopped before it".to_string(),
            };
            CommandResult {
                name: c.name.clone(),
                command: c.command.clone(),
                status: Status::NotRun,
                exit_code: None,
                seconds: 0.0,
                output: String::new(),
                splats,
                detail: Some(why),
            }
        };
        results.push(r);
    }
    let _ = std::fs::write(out_dir.join("dmesg.log"), &dmesg_log);
    let mut boot_splats: Vec<Splat> = splats_of.into_values().flatten().collect();
    dedup(&mut boot_splats);

    let exit_text = qemu_exit
        .map(|s| s.to_string())
        .unwrap_or_else(|| "killed".into());
    let stderr_last = stderr_text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let outcome = if let Some(line) = fatal_qemu {
        let detail = format!("QEMU: {line}");
        if ready_at.is_some() {
            BootOutcome::Died { detail }
        } else {
            BootOutcome::NeverStarted { detail }
        }
    } else if let Some(text) = fatal_init {
        BootOutcome::InitFailed { detail: text }
    } else if ready_at.is_none() {
        let detail = if silent_console {
            format!(
                "no console output within {}s of QEMU's start (the guest never ran)",
                opts.silent_console_timeout.unwrap_or_default().as_secs()
            )
        } else if host_timeout {
            format!(
                "no READY from the guest init within {}s",
                opts.boot_timeout.as_secs()
            )
        } else {
            let why = boot_splats
                .first()
                .map(|s| s.title.clone())
                .unwrap_or(stderr_last.clone());
            format!("QEMU exited ({exit_text}) before the guest init reported: {why}")
        };
        BootOutcome::NeverStarted { detail }
    } else if !done {
        let during = died_during
            .map(|d| format!(" during {d}"))
            .or_else(|| last_finished.map(|l| format!(" after {l}")))
            .unwrap_or_default();
        let detail = if host_timeout {
            format!("stopped answering{during}; killed by the host timeout")
        } else {
            format!("QEMU exited ({exit_text}){during} before the guest said DONE")
        };
        BootOutcome::Died { detail }
    } else {
        BootOutcome::Ok
    };
    let failed = !matches!(outcome, BootOutcome::Ok);
    let mut console_tail = None;
    if failed {
        let lines: Vec<&str> = console_text.lines().collect();
        let mut t = lines[lines.len().saturating_sub(40)..].join("\n");
        if !stderr_text.trim().is_empty() {
            t.push_str("\n--- qemu stderr ---\n");
            t.push_str(stderr_text.trim());
        }
        if let Some(e) = port_error {
            t.push_str(&format!("\n--- result port ---\n{e}"));
        }
        for g in garbage {
            t.push_str(&format!("\nunexpected port line: {g}"));
        }
        console_tail = Some(t);
    }
    let report = BootReport {
        kernel: kernel.label.clone(),
        runner: "qemu".into(),
        accel: opts.machine.accel,
        outcome,
        boot_seconds: ready_at.map(|r| (r - start).as_secs_f64()),
        guest_uptime_at_ready: ready_uptime,
        first_result_seconds: first_result.map(|r| (r - start).as_secs_f64()),
        total_seconds: total.as_secs_f64(),
        commands: results,
        boot_splats,
        console_log,
        console_tail,
        flaky: None,
    };
    report.write_json(&out_dir);
    if let Some(p) = report.boot_problem() {
        progress(&p);
    }
    Ok(report)
}

fn dedup(splats: &mut Vec<Splat>) {
    let mut seen = std::collections::BTreeSet::new();
    splats.retain(|s| seen.insert(s.title.clone()));
}

/// Console text split at `crib-vmtest: begin NAME` / `end NAME` marker lines:
/// `(Some(name), text)` while a command ran, `(None, text)` otherwise.
pub fn split_console(text: &str) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = vec![(None, String::new())];
    for line in text.lines() {
        let body = crate::splat::strip_timestamp(line);
        if let Some(rest) = body.strip_prefix("crib-vmtest: begin ") {
            out.push((Some(rest.trim().to_string()), String::new()));
            continue;
        }
        if body.starts_with("crib-vmtest: end ") {
            out.push((None, String::new()));
            continue;
        }
        if let Some((_, t)) = out.last_mut() {
            t.push_str(line);
            t.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_segments_follow_markers() {
        let text = "boot\n[ 1.0] crib-vmtest: begin t1\n[ 1.1] Oops: x\n[ 1.2] crib-vmtest: end t1 rc=0\nafter\n";
        let seg = split_console(text);
        assert_eq!(seg.len(), 3);
        assert_eq!(seg[1].0.as_deref(), Some("t1"));
        assert!(seg[1].1.contains("Oops"));
        assert!(seg[2].1.contains("after"));
    }
}
