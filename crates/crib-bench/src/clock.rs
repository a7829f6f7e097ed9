//! The stopwatch. On a normal kernel `Instant` (CLOCK_MONOTONIC) is fine
//! grained; in the emulated guest the kernel can switch its clocksource to
//! jiffies in the middle of a run (TSC judged unstable by the watchdog:
//! 4 ms steps at HZ=250), which makes per-operation timings meaningless.
//! There (`--emulated`, or a coarse clock at start) the x86 TSC is read
//! directly (TCG passes the host's through), calibrated against `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Coarser than this and the TSC takes over.
const COARSE: Duration = Duration::from_micros(50);
/// Calibration interval (long enough for a 4 ms clock to give ~1%).
const CALIBRATE: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Monotonic {
        resolution: Duration,
    },
    Tsc {
        ns_per_tick: f64,
        monotonic_resolution: Duration,
    },
}

/// Smallest observable step of `Instant`.
fn resolution() -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut u = Instant::now();
        while u == t {
            u = Instant::now();
        }
        best = best.min(u - t);
        if best < Duration::from_micros(1) {
            break;
        }
    }
    best
}

#[cfg(target_arch = "x86_64")]
fn ticks() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(target_arch = "x86_64")]
fn calibrate(monotonic_resolution: Duration) -> Clock {
    let t0 = Instant::now();
    let c0 = ticks();
    while t0.elapsed() < CALIBRATE {
        std::hint::spin_loop();
    }
    let ns = t0.elapsed().as_nanos() as f64;
    let dc = ticks().wrapping_sub(c0);
    if dc == 0 {
        return Clock::Monotonic {
            resolution: monotonic_resolution,
        };
    }
    Clock::Tsc {
        ns_per_tick: ns / dc as f64,
        monotonic_resolution,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn calibrate(monotonic_resolution: Duration) -> Clock {
    Clock::Monotonic {
        resolution: monotonic_resolution,
    }
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

fn choose(force_tsc: bool) -> Clock {
    let r = resolution();
    if force_tsc || r > COARSE {
        calibrate(r)
    } else {
        Clock::Monotonic { resolution: r }
    }
}

/// Pick the clock once, before any measurement; `force_tsc` for emulated
/// guests whose clocksource may degrade later.
pub fn init(force_tsc: bool) {
    let _ = CLOCK.get_or_init(|| choose(force_tsc));
}

pub fn get() -> Clock {
    *CLOCK.get_or_init(|| choose(false))
}

/// A running measurement.
#[derive(Clone, Copy)]
pub enum Start {
    Monotonic(Instant),
    Tsc(u64, f64),
}

pub fn start() -> Start {
    match get() {
        #[cfg(target_arch = "x86_64")]
        Clock::Tsc { ns_per_tick, .. } => Start::Tsc(ticks(), ns_per_tick),
        _ => Start::Monotonic(Instant::now()),
    }
}

impl Start {
    pub fn elapsed_ns(self) -> u64 {
        match self {
            Start::Monotonic(t) => u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX),
            #[cfg(target_arch = "x86_64")]
            Start::Tsc(c, ns_per_tick) => (ticks().wrapping_sub(c) as f64 * ns_per_tick) as u64,
            #[cfg(not(target_arch = "x86_64"))]
            Start::Tsc(..) => 0,
        }
    }
}

/// For the lane notes.
pub fn describe() -> String {
    match get() {
        Clock::Monotonic { resolution } => format!("CLOCK_MONOTONIC (step {resolution:?})"),
        Clock::Tsc {
            ns_per_tick,
            monotonic_resolution,
        } => format!(
            "TSC at {:.0} MHz, calibrated against CLOCK_MONOTONIC (step {monotonic_resolution:?} at start; an emulated guest's clocksource can degrade to jiffies)",
            1e3 / ns_per_tick
        ),
    }
}
