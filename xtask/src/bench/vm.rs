//! `cargo xtask bench vm`: time from start to the first command's result,
//! our runner (QEMU + generated initramfs) against virtme-ng, same kernel,
//! same accelerator, same job (`true`), interleaved repetitions, median.
//! Target: < 5 s for ours on the minimal patched kernel, >= 5x faster than vng.

use crate::vmtest::{output::Clock, pick_accel, resolve_kernel};
use anyhow::{bail, Result};
use crib_vmtest::runner::{self, RunOptions};
use crib_vmtest::splat::Detector;
use crib_vmtest::{BootOutcome, BootReport, GuestCommand, Job, Kernel, Machine};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Kernel both runners boot: patched | debian-6.12 | debian-6.1 | PATH.
    #[arg(long, default_value = "patched")]
    pub kernel: String,
    /// Repetitions per runner.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// auto | kvm | tcg
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// Only time our runner (no virtme-ng).
    #[arg(long)]
    pub no_vng: bool,
    /// Instead of timing: boot each kernel N times and count failed boots
    /// (kernels: --soak-kernel, default debian-6.1, debian-6.12, patched).
    #[arg(long, value_name = "N")]
    pub soak: Option<usize>,
    /// Kernels of the soak (repeatable).
    #[arg(long = "soak-kernel", value_name = "KERNEL")]
    pub soak_kernels: Vec<String>,
    /// vCPUs of the soak's guests.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// TCG threading of the soak's guests: single | multi.
    #[arg(long, default_value = "single")]
    pub tcg_thread: String,
    /// What each soak boot runs (default `true`: the boot alone).
    #[arg(long, default_value = "true")]
    pub soak_command: String,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            kernel: "patched".into(),
            reps: 3,
            accel: "auto".into(),
            no_vng: false,
            soak: None,
            soak_kernels: Vec::new(),
            cpus: 2,
            tcg_thread: "single".into(),
            soak_command: "true".into(),
        }
    }
}

#[derive(Default)]
struct Samples {
    first: Vec<f64>,
    total: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}-{max:.2}")
}

fn record(s: &mut Samples, r: &BootReport, who: &str) -> Result<()> {
    match (&r.outcome, r.first_result_seconds) {
        (BootOutcome::Ok, Some(first)) if r.commands.iter().all(|c| !c.status.is_failure()) => {
            s.first.push(first);
            s.total.push(r.total_seconds);
            eprintln!(
                "[bench vm] {who}: first result {first:.2}s, exit {:.2}s",
                r.total_seconds
            );
            Ok(())
        }
        _ => bail!(
            "{who} run failed: {} (console: {})",
            r.boot_problem()
                .unwrap_or_else(|| "the `true` command failed".into()),
            r.console_log.display()
        ),
    }
}

pub fn run(args: Args) -> Result<()> {
    let forced = match args.accel.as_str() {
        "auto" => None,
        a => Some(a.parse().map_err(anyhow::Error::msg)?),
    };
    if let Some(boots) = args.soak {
        let kernels = if args.soak_kernels.is_empty() {
            ["debian-6.1", "debian-6.12", "patched"]
                .map(String::from)
                .to_vec()
        } else {
            args.soak_kernels.clone()
        };
        return super::soak::run(super::soak::Soak {
            boots,
            kernels,
            cpus: args.cpus,
            tcg_thread: args.tcg_thread.parse().map_err(anyhow::Error::msg)?,
            accel: forced,
            command: args.soak_command.clone(),
        });
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let clock = Clock::start();
    crate::deps::ensure(crate::deps::VM)?;
    if !args.no_vng {
        crate::vmtest::ensure_vng()?;
    }
    let kernel: Kernel = resolve_kernel(&args.kernel, &clock)?;
    let dir = crate::vmtest::output::new_run_dir("bench-vm")?;
    let (accel, _) = pick_accel(forced, &kernel, &dir, &clock)?;
    let machine = Machine {
        accel,
        ..Machine::default()
    };
    let job = Job {
        cwd: crate::workspace_root(),
        env: vec![],
        tmpfs: vec!["/tmp".into()],
        share: None,
        commands: vec![GuestCommand {
            name: "first".into(),
            command: "true".into(),
            timeout: Duration::from_secs(60),
        }],
    };
    let det = Arc::new(Detector::new());
    let mut ours = Samples::default();
    let mut vng = Samples::default();
    for i in 0..args.reps {
        let opts = RunOptions {
            machine: machine.clone(),
            boot_timeout: Duration::from_secs(120),
            out_dir: dir.join(format!("qemu-{i}")),
            detector: Arc::clone(&det),
            progress: false,
            silent_console_timeout: None,
        };
        record(
            &mut ours,
            &runner::boot(&kernel, &job, &opts)?,
            "crib-vmtest",
        )?;
        if !args.no_vng {
            let r = crib_vmtest::vng::boot(
                &kernel,
                &job,
                &machine,
                Duration::from_secs(300),
                &dir.join(format!("vng-{i}")),
                &det,
                false,
            )?;
            record(&mut vng, &r, "virtme-ng")?;
        }
    }
    println!(
        "\nboot to first result: kernel {}, accel {}, {} rep(s), median (min-max) seconds",
        kernel.label,
        accel.name(),
        args.reps
    );
    println!(
        "{:<12} {:>16} {:>16}",
        "runner", "first result", "QEMU exit"
    );
    let line = |name: &str, s: &Samples| {
        println!(
            "{name:<12} {:>6.2} ({:>9}) {:>6.2} ({:>9})",
            median(&s.first),
            range(&s.first),
            median(&s.total),
            range(&s.total)
        )
    };
    line("crib-vmtest", &ours);
    if !args.no_vng {
        line("virtme-ng", &vng);
        println!(
            "speedup (first result, medians): {:.1}x",
            median(&vng.first) / median(&ours.first)
        );
    }
    let json = serde_json::json!({
        "kernel": kernel.label,
        "accel": accel.name(),
        "reps": args.reps,
        "crib_vmtest": {"first_result": ours.first, "total": ours.total},
        "virtme_ng": {"first_result": vng.first, "total": vng.total},
    });
    std::fs::write(
        dir.join("bench-vm.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("raw samples: {}", dir.join("bench-vm.json").display());
    Ok(())
}
