//! Running one test with one engine: start, dump, kill, restore into the
//! verify phase, read the verdict.

use super::desc::{Mode, TestCase};
use super::mapcheck::{check_maps, read_state};
use super::proc::{hermetic, kill, wait_gone, wait_pidfile, wait_timeout};
use super::report::{Outcome, Status};
use crib_harness::dump::{dump, DumpRequest};
use crib_harness::engine::{EngineChoice, EngineKind};
use crib_harness::image::{self, rtype, IMAGE_FILE};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What runs the checkpoint/restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineSel {
    /// No C/R: SIGTERM, the test verifies in place (checks the test itself).
    Live,
    Engine(EngineKind),
    /// Whole-process C/R with the system's `criu`, for comparison: the
    /// restored original gets SIGTERM and verifies in place (ZDTM's way).
    Criu,
}

impl EngineSel {
    pub fn name(self) -> &'static str {
        match self {
            EngineSel::Live => "live",
            EngineSel::Criu => "criu",
            EngineSel::Engine(k) => k.name(),
        }
    }
    pub fn parse(s: &str) -> Option<EngineSel> {
        if s == "live" {
            Some(EngineSel::Live)
        } else if s == "criu" {
            Some(EngineSel::Criu)
        } else {
            EngineKind::parse(s).map(EngineSel::Engine)
        }
    }
}

/// Deliberate damage, for tests of the runner (a broken C/R must FAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    None,
    /// Flip one payload byte of the first file/socket/pipe record.
    CorruptRecord,
    /// Cut the image file in half.
    TruncateImage,
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    /// `tests/zdtm` sources.
    pub src: PathBuf,
    /// Binaries, work dirs, results.
    pub out: PathBuf,
    /// The program that runs `restore --images DIR -- CMD...` (crib-zdtm).
    pub restorer: PathBuf,
    pub sabotage: Sabotage,
}

struct Timings {
    start: Instant,
    dump_ms: u64,
    restore_ms: u64,
    /// Which engine dumped what, and what procfs had to fill in.
    engines: String,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Run `t` under `engine`. Never panics: every problem is a FAIL with a reason.
pub fn run_test(cfg: &RunConfig, t: &TestCase, engine: EngineSel) -> Outcome {
    let mut tm = Timings {
        start: Instant::now(),
        dump_ms: 0,
        restore_ms: 0,
        engines: String::new(),
    };
    let ename = engine.name();
    let mk = |status, reason: String, tm: &Timings| Outcome {
        test: t.name.clone(),
        engine: ename.into(),
        status,
        reason,
        dump_ms: tm.dump_ms,
        restore_ms: tm.restore_ms,
        engines: tm.engines.clone(),
        total_ms: ms(tm.start.elapsed()),
    };
    if !t.desc.applies_to(ename) {
        return mk(
            Status::NotApplicable,
            "descriptor excludes this engine".into(),
            &tm,
        );
    }
    if t.desc.kernels == "crib" && !crib_harness::engine::KernelFeatures::detect().crib_file_from_fd
    {
        return mk(
            Status::NotApplicable,
            "descriptor needs the patched kernel (no CRIB kfuncs in this kernel's BTF)".into(),
            &tm,
        );
    }
    let verdict = run_inner(cfg, t, engine, &mut tm);
    let expected_fail = t.desc.expected_to_fail(ename);
    let (status, reason) = match (verdict, expected_fail) {
        (Ok(()), false) => (Status::Pass, String::new()),
        (Ok(()), true) => (
            Status::Xpass,
            "passed but the descriptor lists it in crfail".into(),
        ),
        (Err(r), false) => (Status::Fail, r),
        (Err(r), true) => (Status::Xfail, r),
    };
    mk(status, reason, &tm)
}

pub(super) struct Work {
    pub(super) dir: PathBuf,
    pub(super) pidfile: PathBuf,
    pub(super) outfile: PathBuf,
    pub(super) state: PathBuf,
    pub(super) images: PathBuf,
    pub(super) log: PathBuf,
}

fn work_dir(cfg: &RunConfig, t: &TestCase, engine: EngineSel) -> Result<Work, String> {
    let dir = cfg
        .out
        .join("work")
        .join(format!("{}.{}", t.name, engine.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Work {
        pidfile: dir.join("pid"),
        outfile: dir.join("out"),
        state: dir.join("state"),
        images: dir.join("images"),
        log: dir.join("log"),
        dir,
    })
}

/// The last line the test wrote to its outfile decides.
pub(super) fn verdict(w: &Work) -> Result<(), String> {
    let out = std::fs::read_to_string(&w.outfile).unwrap_or_default();
    match out.lines().last() {
        Some("PASS") => Ok(()),
        Some(l) => Err(l.strip_prefix("FAIL: ").unwrap_or(l).to_string()),
        None => {
            let log = std::fs::read_to_string(&w.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            Err(format!(
                "no verdict from the test{}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (log: {})",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                    )
                }
            ))
        }
    }
}

fn log_file(w: &Work) -> Result<(Stdio, Stdio), String> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&w.log)
        .map_err(|e| format!("{}: {e}", w.log.display()))?;
    let g = f.try_clone().map_err(|e| format!("log: {e}"))?;
    Ok((Stdio::from(f), Stdio::from(g)))
}

fn run_inner(
    cfg: &RunConfig,
    t: &TestCase,
    engine: EngineSel,
    tm: &mut Timings,
) -> Result<(), String> {
    let bin = super::build::build_test(&cfg.src, &t.name, &cfg.out).map_err(|e| e.to_string())?;
    let w = work_dir(cfg, t, engine)?;
    let timeout = Duration::from_secs(t.desc.timeout);
    let (o, e) = log_file(&w)?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--pidfile")
        .arg(&w.pidfile)
        .arg("--outfile")
        .arg(&w.outfile)
        .arg("--state")
        .arg(&w.state)
        .current_dir(&w.dir)
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e);
    hermetic(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let pid = match wait_pidfile(&w.pidfile, &mut child, timeout) {
        Ok(pid) => pid,
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(verdict(&w)
                .err()
                .map_or(why.clone(), |v| format!("{why}: {v}")));
        }
    };

    let kind = match engine {
        EngineSel::Live => {
            kill(pid, libc::SIGTERM);
            let st = wait_timeout(&mut child, timeout);
            if st.is_none() {
                return Err(format!(
                    "live verify did not finish in {}s",
                    timeout.as_secs()
                ));
            }
            return verdict(&w);
        }
        EngineSel::Criu => {
            let r = super::criu::cycle(
                &w,
                pid,
                &mut child,
                timeout,
                &mut tm.dump_ms,
                &mut tm.restore_ms,
            );
            kill(pid, libc::SIGKILL);
            let _ = child.kill();
            let _ = wait_timeout(&mut child, Duration::from_secs(5));
            return r;
        }
        EngineSel::Engine(k) => k,
    };

    let t0 = Instant::now();
    let dumped = dump(&DumpRequest::all(pid, EngineChoice::Fixed(kind)));
    tm.dump_ms = ms(t0.elapsed());
    if let Ok(d) = &dumped {
        let mut parts: Vec<String> = d
            .info
            .engines
            .iter()
            .map(|(op, e)| format!("{}={e}", op.name()))
            .collect();
        parts.extend(
            d.info
                .notes
                .iter()
                .filter(|n| n.contains("procfs did"))
                .cloned(),
        );
        tm.engines = parts.join("; ");
    }
    let result = dumped
        .map_err(|e| format!("dump: {e}"))
        .and_then(|d| after_dump(cfg, t, &w, &d, pid, &mut child, &bin, tm));
    // Whatever happened, the original must be gone.
    kill(pid, libc::SIGKILL);
    let _ = child.kill();
    let _ = wait_timeout(&mut child, Duration::from_secs(5));
    result
}

#[allow(clippy::too_many_arguments)]
fn after_dump(
    cfg: &RunConfig,
    t: &TestCase,
    w: &Work,
    d: &crib_harness::model::Dump,
    pid: i32,
    child: &mut std::process::Child,
    bin: &Path,
    tm: &mut Timings,
) -> Result<(), String> {
    let state = read_state(&w.state).unwrap_or_default();
    if let Some(v) = state.get("vpid") {
        let want: i32 = v.parse().map_err(|e| format!("state vpid: {e}"))?;
        if d.task.vpid != want || d.task.pidns_level == 0 {
            return Err(format!(
                "dumped vpid {} at pidns level {}, want vpid {want} in a child pid namespace",
                d.task.vpid, d.task.pidns_level
            ));
        }
    }
    if t.desc.mode == Mode::DumpCompare {
        return check_maps(d, &state);
    }
    image::write_dir(&w.images, d).map_err(|e| e.to_string())?;
    sabotage(cfg.sabotage, &w.images)?;
    // The original dies before the copy starts, like a real migration.
    kill(pid, libc::SIGKILL);
    if !wait_gone(pid, Duration::from_secs(5)) {
        return Err(format!("pid {pid} did not die"));
    }
    let _ = child.kill();
    let _ = wait_timeout(child, Duration::from_secs(5));

    let (o, e) = log_file(w)?;
    let t0 = Instant::now();
    let mut cmd = Command::new(&cfg.restorer);
    cmd.arg("restore")
        .arg("--images")
        .arg(&w.images)
        .arg("--")
        .arg(bin)
        .arg("--verify")
        .arg("--outfile")
        .arg(&w.outfile)
        .arg("--state")
        .arg(&w.state)
        .env("ZDTM_RESTORED", "1")
        .current_dir(&w.dir)
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e);
    hermetic(&mut cmd);
    let mut r = cmd
        .spawn()
        .map_err(|e| format!("start restorer {}: {e}", cfg.restorer.display()))?;
    let timeout = Duration::from_secs(t.desc.timeout);
    let st = wait_timeout(&mut r, timeout);
    tm.restore_ms = ms(t0.elapsed());
    match st {
        None => Err(format!(
            "restore+verify did not finish in {}s",
            timeout.as_secs()
        )),
        Some(st) => match verdict(w) {
            Ok(()) if st.success() => Ok(()),
            Ok(()) => Err(format!("verify printed PASS but exited with {st}")),
            Err(v) => Err(v),
        },
    }
}

fn sabotage(s: Sabotage, images: &Path) -> Result<(), String> {
    if s == Sabotage::None {
        return Ok(());
    }
    let path = images.join(IMAGE_FILE);
    let mut data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match s {
        Sabotage::CorruptRecord => {
            let (off, _, len) = image::record_offsets(&data)
                .into_iter()
                .find(|&(_, t, len)| {
                    matches!(t, rtype::FILE | rtype::SOCKET | rtype::PIPE) && len > 0
                })
                .ok_or("sabotage: no file/socket/pipe record to corrupt")?;
            data[off + 12 + len / 2] ^= 0x20;
        }
        Sabotage::TruncateImage => data.truncate(data.len() / 2),
        Sabotage::None => {}
    }
    std::fs::write(&path, data).map_err(|e| format!("{}: {e}", path.display()))
}
