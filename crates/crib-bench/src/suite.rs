//! `crib-bench suite`: one lane. Per size, one prepared target; every
//! engine measured against that same process state, one after the other.

use crate::measure::{measure, Reps};
use crate::schema::{EngineRun, LaneRun, SizeRun};
use crate::target::{run_bounded, Target};
use crate::{criu, profile, strace};
use anyhow::{bail, Context, Result};
use crib_harness::engine::EngineKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Engine opens recorded for the open profile: enough samples at 2 kHz.
const OPENS_PROFILED: usize = 8;

#[derive(clap::Args)]
pub struct Args {
    /// Lane name written into the result (`host`, `vm`).
    #[arg(long, default_value = "host")]
    lane: String,
    /// The kernel runs under emulation (relative figures only).
    #[arg(long)]
    emulated: bool,
    /// Open fds and mappings of the target, one target per value.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    sizes: Vec<u64>,
    /// Socket groups (TCP pair, UDP pair, unix stream and dgram pairs).
    #[arg(long, default_value_t = 4)]
    socket_groups: u64,
    /// Warm dumps per engine and size.
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Engine opens (program loads) per engine and size.
    #[arg(long, default_value_t = 5)]
    loads: usize,
    /// `criu dump` repetitions (0: skip criu).
    #[arg(long, default_value_t = 3)]
    criu_reps: usize,
    /// Only these engines (default: every engine the harness knows).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Profile each engine with perf at the largest size (`perf record` of
    /// one load and about 2 s of warm dumps, at most `--profile-repeat`).
    #[arg(long)]
    profile: bool,
    #[arg(long, default_value_t = 20)]
    profile_repeat: usize,
    /// Skip the strace run (no syscall counts).
    #[arg(long)]
    no_strace: bool,
    /// Skip the `crib serve` / cold `crib dump` throughput runs.
    #[arg(long)]
    no_service: bool,
    /// Scratch directory for target files, traces and criu images.
    #[arg(long, default_value = "/tmp")]
    scratch: PathBuf,
    /// Where to write the lane's JSON.
    #[arg(long)]
    out: PathBuf,
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Syscalls of one load and one warm dump, from `strace -f` of `crib-bench once`.
fn count_syscalls(kind: EngineKind, pid: i32, scratch: &Path, run: &mut EngineRun) -> Result<()> {
    let me = std::env::current_exe().context("locating crib-bench")?;
    let trace = scratch.join(format!("strace-{}-{pid}.txt", kind.name()));
    let out = run_bounded(
        Command::new("strace")
            .args(["-f", "-qq", "-s", "0", "-o"])
            .arg(&trace)
            .arg("--")
            .arg(&me)
            .args(["once", "--engine", kind.name(), "--pid", &pid.to_string()]),
        Duration::from_secs(600),
    )
    .context("running strace (apt-get install strace)")?;
    let text =
        std::fs::read_to_string(&trace).with_context(|| format!("reading {}", trace.display()));
    let _ = std::fs::remove_file(&trace);
    if !out.status.success() {
        bail!(
            "strace of `crib-bench once` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut regions = strace::regions(&text?);
    run.load_syscalls = regions.remove("load");
    run.syscalls = regions.remove("dump");
    for (name, op) in run.ops.iter_mut() {
        op.syscalls = regions.remove(name);
    }
    if run.syscalls.is_none() {
        bail!("the strace output has no marked dump region");
    }
    Ok(())
}

/// Progress on stderr with the time since the suite started (the VM lane
/// keeps this log).
fn say(t0: Instant, msg: &str) {
    eprintln!("[bench +{:.1}s] {msg}", t0.elapsed().as_secs_f64());
}

fn measure_size(
    a: &Args,
    n: u64,
    criu_why: &Option<String>,
    notes: &mut Vec<String>,
    t0: Instant,
) -> Result<SizeRun> {
    let target = Target::start(n, a.socket_groups, &a.scratch, Duration::from_secs(120))?;
    say(
        t0,
        &format!(
            "n={n}: target pid {} ({} fds, {} maps)",
            target.pid, target.fds, target.maps
        ),
    );
    let reps = Reps {
        loads: a.loads,
        dumps: a.reps,
    };
    let outcome = |r: &EngineRun| {
        r.unavailable
            .as_deref()
            .map_or_else(|| "measured".to_string(), |w| format!("unavailable: {w}"))
    };
    let mut engines = Vec::new();
    for kind in EngineKind::ALL {
        if !a.engines.is_empty() && !a.engines.iter().any(|e| e == kind.name()) {
            continue;
        }
        let mut run = measure(kind, target.pid, reps);
        say(t0, &format!("n={n} {kind}: {}", outcome(&run)));
        if run.unavailable.is_none() && !a.no_strace {
            match count_syscalls(kind, target.pid, &a.scratch, &mut run) {
                Ok(()) => say(t0, &format!("n={n} {kind}: syscalls counted")),
                Err(e) => notes.push(format!("n={n} {kind}: no syscall count: {e:#}")),
            }
        }
        if run.unavailable.is_none() && a.profile && Some(&n) == a.sizes.iter().max() {
            let mut warm = run.total_ns.clone();
            warm.sort_unstable();
            let median = warm.get(warm.len() / 2).copied().unwrap_or(0);
            let repeat = profile::repeat_for(median, a.profile_repeat);
            match profile::profile(kind, target.pid, repeat, &a.scratch) {
                Ok(p) => {
                    run.profile = p;
                    say(t0, &format!("n={n} {kind}: profiled"));
                }
                Err(e) => notes.push(format!("n={n} {kind}: no profile: {e:#}")),
            }
            if kind != EngineKind::Procfs {
                match profile::profile_open(kind, target.pid, OPENS_PROFILED, &a.scratch) {
                    Ok(p) => {
                        run.open_profile = p;
                        say(t0, &format!("n={n} {kind}: open profiled"));
                    }
                    Err(e) => notes.push(format!("n={n} {kind}: no open profile: {e:#}")),
                }
            }
        }
        engines.push(run);
    }
    let want_criu = a.engines.is_empty() || a.engines.iter().any(|e| e == "criu");
    if a.criu_reps > 0 && want_criu {
        let run = criu::measure(target.pid, a.criu_reps, &a.scratch, criu_why);
        say(t0, &format!("n={n} criu: {}", outcome(&run)));
        engines.push(run);
    }
    let mm_readers = crate::mmreaders::measure(target.pid, a.reps);
    let service = (!a.no_service).then(|| {
        let r = crate::service::measure(target.pid, a.reps, a.loads, &a.scratch);
        say(
            t0,
            &format!(
                "n={n} service: {}",
                r.unavailable.as_deref().unwrap_or("measured")
            ),
        );
        r
    });
    for r in &mm_readers {
        say(
            t0,
            &format!(
                "n={n} {}: {}",
                r.reader,
                r.unavailable.as_deref().unwrap_or("measured")
            ),
        );
    }
    Ok(SizeRun {
        n,
        socket_groups: a.socket_groups,
        target_fds: target.fds,
        target_maps: target.maps,
        engines,
        mm_readers,
        service,
    })
}

pub fn run(a: Args) -> Result<()> {
    if a.sizes.is_empty() || a.reps == 0 {
        bail!("--sizes and --reps must not be empty or zero");
    }
    for e in &a.engines {
        if e != "criu" && EngineKind::parse(e).is_none() {
            bail!("--engines {e:?}: expected crib, upstream, procfs or criu");
        }
    }
    std::fs::create_dir_all(&a.scratch)
        .with_context(|| format!("creating {}", a.scratch.display()))?;
    crate::clock::init(a.emulated);
    let t0 = Instant::now();
    let criu_why = if a.criu_reps == 0 {
        None
    } else {
        criu::unusable()
    };
    let mut notes = vec![format!("timer: {}", crate::clock::describe())];
    let mut sizes = Vec::new();
    for &n in &a.sizes {
        sizes.push(measure_size(&a, n, &criu_why, &mut notes, t0)?);
    }
    // One note per engine that never ran, with its reason.
    for s in &sizes {
        for e in &s.engines {
            if let Some(why) = &e.unavailable {
                let note = format!("{}: {why}", e.engine);
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    let lane = LaneRun {
        lane: a.lane.clone(),
        kernel: kernel_release(),
        emulated: a.emulated,
        sizes,
        notes,
    };
    let json = serde_json::to_string_pretty(&lane)?;
    std::fs::write(&a.out, json).with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}
