//! Targets -> boots: pick the targets, build what they need, resolve their
//! kernels, choose the accelerator once, boot each target once and run its
//! commands in sequence.

use super::build;
use super::host_prepare;
use super::output::{self, Clock};
use super::{Args, Runner};
use anyhow::{bail, Context, Result};
use crib_vmtest::config::{self, Config, Resolved, Target};
use crib_vmtest::runner::{self, RunOptions};
use crib_vmtest::splat::Detector;
use crib_vmtest::{Accel, BootReport, Job, Kernel, Machine};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What [`super::run_lane`] returns to `cargo xtask test`.
#[derive(Debug, Clone)]
pub struct LaneSummary {
    pub lane: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// `target/vmtest/<run>/` with results.json, junit.xml, console logs.
    pub run_dir: PathBuf,
    /// Set when the boot itself failed (counted in `failed`).
    pub boot_problem: Option<String>,
    /// Boots that died before READY and were retried once (neither passed
    /// nor failed; reported with their console excerpt).
    pub flaky: Vec<String>,
}

/// Where the splat allowlist lives (one regex a line).
pub fn allowlist_path() -> PathBuf {
    crate::workspace_root().join("vmtest/splat-allowlist.txt")
}

pub fn detector() -> Result<Arc<Detector>> {
    let p = allowlist_path();
    if p.exists() {
        Ok(Arc::new(Detector::with_allowlist(&p)?))
    } else {
        Ok(Arc::new(Detector::new()))
    }
}

pub fn load_config(path: &Path) -> Result<Config> {
    let p = if path.is_absolute() {
        path.to_path_buf()
    } else {
        crate::workspace_root().join(path)
    };
    Ok(Config::load(&p)?)
}

/// `patched` (built by `cargo xtask kernel`), `patched-<base>` (the series
/// on another base, `--base <base>`), `debian-*`, or a path.
pub fn resolve_kernel(spec: &str, clock: &Clock) -> Result<Kernel> {
    Ok(resolve_kernel_and_vmlinux(spec, clock)?.0)
}

/// [`resolve_kernel`] plus the kernel's uncompressed vmlinux when we have
/// one (the patched build; stock kernels ship only the compressed image).
fn resolve_kernel_and_vmlinux(spec: &str, clock: &Clock) -> Result<(Kernel, Option<PathBuf>)> {
    if spec == "patched" {
        clock.say("patched kernel: building or reusing (cargo xtask kernel)");
        let a = crate::kernel::ensure_built(None).context("building the patched kernel")?;
        let mut k = Kernel::from_path("patched", &a.bzimage)?;
        k.config = Some(a.config);
        return Ok((k, Some(a.vmlinux)));
    }
    if let Some(series) = spec.strip_prefix("patched-") {
        clock.say(&format!(
            "patched kernel on base {series}: building or reusing (cargo xtask kernel --base {series})"
        ));
        let a = crate::kernel::ensure_built_on(None, Some(series))
            .with_context(|| format!("building the patched kernel on base {series}"))?;
        let mut k = Kernel::from_path(spec, &a.bzimage)?;
        k.config = Some(a.config);
        return Ok((k, Some(a.vmlinux)));
    }
    if let Some(n) = super::newer::find(spec) {
        clock.say(&format!("kernel {spec}: fetching or reusing"));
        return Ok((super::newer::ensure(n)?, None));
    }
    clock.say(&format!("kernel {spec}: resolving"));
    Ok((Kernel::resolve(spec)?, None))
}

/// Shell words -> one command line (a single word is taken as shell text).
fn join_command(words: &[String]) -> String {
    if words.len() == 1 {
        return words[0].clone();
    }
    words
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                w.clone()
            } else {
                crib_vmtest::job::sh_quote(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The targets this invocation runs, resolved against the config.
fn plan(args: &Args) -> Result<Vec<Resolved>> {
    let cfg_path = if args.config.is_absolute() {
        args.config.clone()
    } else {
        crate::workspace_root().join(&args.config)
    };
    let cfg = if args.kernel.is_some() && !cfg_path.exists() {
        Config {
            defaults: Default::default(),
            targets: vec![],
            tests: vec![],
        }
    } else {
        load_config(&cfg_path)?
    };
    if let Some(k) = &args.kernel {
        // A path kernel is named by its file name (names become directories).
        let base = Path::new(k)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if crib_vmtest::job::valid_name(&base) && !base.contains('/') {
            base
        } else {
            "kernel".to_string()
        };
        let t = Target {
            name: name.clone(),
            kernel: k.clone(),
            memory: None,
            cpus: None,
            boot_timeout: None,
            cmdline: None,
            tcg_thread: None,
            command: (!args.command.is_empty()).then(|| join_command(&args.command)),
            timeout: args.timeout,
        };
        let mut r = cfg.resolve(&t);
        if args.command.is_empty() {
            // The suite, minus tests restricted to other targets.
            r.commands = cfg
                .tests
                .iter()
                .filter(|x| x.targets.as_ref().is_none_or(|ts| ts.contains(&name)))
                .map(|x| crib_vmtest::GuestCommand {
                    name: x.name.clone(),
                    command: x.command.clone(),
                    timeout: Duration::from_secs(
                        x.timeout
                            .or(cfg.defaults.timeout)
                            .unwrap_or(config::DEFAULT_TIMEOUT),
                    ),
                })
                .collect();
        } else {
            r.commands[0].name = "cmd".into();
        }
        return Ok(vec![r]);
    }
    if !args.command.is_empty() {
        bail!("a command after `--` needs --kernel");
    }
    let names: Vec<String> = if args.targets.is_empty() {
        cfg.defaults
            .targets
            .clone()
            .unwrap_or_else(|| vec!["patched".into()])
    } else {
        args.targets.clone()
    };
    names
        .iter()
        .map(|n| {
            cfg.target(n).map(|t| cfg.resolve(t)).with_context(|| {
                let known: Vec<&str> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
                format!(
                    "{}: no target `{n}` (known: {})",
                    args.config.display(),
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Build packages and expand `{test-bin:...}` and `{bin:...}` in every
/// command and host preparation.
fn prepare(plans: &mut [Resolved], no_build: bool, clock: &Clock) -> Result<()> {
    let texts = || {
        plans.iter().flat_map(|p| {
            p.commands
                .iter()
                .map(|c| c.command.as_str())
                .chain(p.host_prepare.iter().map(|h| h.command.as_str()))
        })
    };
    let mut refs: Vec<(String, String)> = texts().flat_map(config::test_bin_refs).collect();
    refs.sort();
    refs.dedup();
    let mut bin_refs: Vec<(String, String)> = texts().flat_map(config::bin_refs).collect();
    bin_refs.sort();
    bin_refs.dedup();
    if no_build {
        clock.say("--no-build: using what is already built");
    } else {
        build::build_packages(build::SUITE_PACKAGES, clock)?;
    }
    let tests = build::test_bins(&refs, clock)?;
    let bins = build::bins(&bin_refs, clock)?;
    let expand = |text: &str| -> Result<String> {
        let t = config::expand_test_bins(text, |pk, t| {
            tests.get(&(pk.to_string(), t.to_string())).cloned()
        })
        .map_err(anyhow::Error::msg)?;
        config::expand_bins(&t, |pk, b| {
            bins.get(&(pk.to_string(), b.to_string())).cloned()
        })
        .map_err(anyhow::Error::msg)
    };
    for p in plans.iter_mut() {
        for c in &mut p.commands {
            c.command = expand(&c.command)?;
        }
        for h in &mut p.host_prepare {
            h.command = expand(&h.command)?;
        }
    }
    Ok(())
}

/// Accelerator for this run: forced, cached for this machine boot, or
/// probed once on `kernel`.
pub fn pick_accel(
    forced: Option<Accel>,
    kernel: &Kernel,
    run_dir: &Path,
    clock: &Clock,
) -> Result<(Accel, String)> {
    if forced.is_none()
        && crib_vmtest::accel::cached(
            &crib_vmtest::accel::cache_file(),
            &crib_vmtest::accel::ProbeKey::current(),
        )
        .is_none()
    {
        clock.say("probing KVM once for this machine boot (a short boot; falls back to TCG)");
    }
    let (a, why) =
        crib_vmtest::accel::choose(kernel, forced, run_dir, &crib_vmtest::accel::cache_file())?;
    clock.say(&format!("accelerator: {} ({why})", a.name()));
    Ok((a, why))
}

pub fn job_for(plan: &Resolved) -> Job {
    Job {
        cwd: crate::workspace_root(),
        // The kit's CRIU, where this run built it (the criu columns).
        env: std::env::var(crate::criu::CRIU_ENV)
            .map(|v| vec![(crate::criu::CRIU_ENV.to_string(), v)])
            .unwrap_or_default(),
        tmpfs: plan.tmpfs.clone(),
        share: None,
        commands: plan.commands.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn boot_one(
    runner: Runner,
    kernel: &Kernel,
    plan: &Resolved,
    job: &Job,
    accel: Accel,
    dir: &Path,
    det: &Arc<Detector>,
) -> Result<BootReport> {
    let machine = Machine {
        tcg_thread: plan.tcg_thread,
        memory_mib: plan.memory_mib,
        cpus: plan.cpus,
        accel,
        cmdline: plan.cmdline.clone(),
    };
    Ok(match runner {
        Runner::Qemu => runner::boot_retrying(
            kernel,
            job,
            &RunOptions {
                machine,
                boot_timeout: plan.boot_timeout,
                out_dir: dir.to_path_buf(),
                detector: Arc::clone(det),
                progress: true,
                silent_console_timeout: None,
            },
        )?,
        Runner::Vng => {
            crib_vmtest::vng::boot(kernel, job, &machine, plan.boot_timeout, dir, det, true)?
        }
    })
}

/// Everything `cargo xtask vmtest` does short of the final verdict.
/// Returns the reports and the run directory.
pub fn run(args: &Args) -> Result<(Vec<BootReport>, PathBuf)> {
    let clock = Clock::start();
    let mut plans = plan(args)?;
    if let Some(t) = &args.tcg_thread {
        let t: crib_vmtest::TcgThread = t.parse().map_err(anyhow::Error::msg)?;
        for p in &mut plans {
            p.tcg_thread = t;
        }
    }
    let kernel_build = plans.iter().any(|p| p.kernel.starts_with("patched"));
    build::ensure_tools(args.runner, kernel_build)?;
    let one_liner = !args.command.is_empty();
    prepare(&mut plans, args.no_build || one_liner, &clock)?;
    let (kernels, vmlinuxes): (Vec<Kernel>, Vec<Option<PathBuf>>) = plans
        .iter()
        .map(|p| resolve_kernel_and_vmlinux(&p.kernel, &clock))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let run_dir = output::new_run_dir(if one_liner { "cmd" } else { "suite" })?;
    clock.say(&format!("run directory {}", run_dir.display()));
    for (p, v) in plans.iter_mut().zip(&vmlinuxes) {
        let dir = run_dir.join(p.name.replace('/', "_"));
        host_prepare::run(p, v.as_deref(), &dir, &clock)?;
    }
    let (accel, why) = pick_accel(args.forced_accel()?, &kernels[0], &run_dir, &clock)?;
    let det = detector()?;
    let mut reports = Vec::new();
    for (p, k) in plans.iter().zip(&kernels) {
        if p.commands.is_empty() {
            clock.say(&format!(
                "{}: no tests apply; booting anyway to check the kernel boots",
                p.name
            ));
        } else {
            clock.say(&format!(
                "{}: booting {} with {} command(s)",
                p.name,
                k.image.display(),
                p.commands.len()
            ));
        }
        let r = boot_one(
            args.runner,
            k,
            p,
            &job_for(p),
            accel,
            &run_dir.join(p.name.replace('/', "_")),
            &det,
        )?;
        reports.push(r);
    }
    output::write_results(&run_dir, &reports, accel.name(), &why, &clock)?;
    Ok((reports, run_dir))
}

#[allow(dead_code)]
pub fn run_lane(lane: &str) -> Result<LaneSummary> {
    let args = Args {
        kernel: None,
        targets: vec![lane.to_string()],
        matrix: false,
        runner: Runner::Qemu,
        accel: "auto".into(),
        config: PathBuf::from("vmtest.toml"),
        timeout: None,
        no_build: false,
        tcg_thread: None,
        command: vec![],
    };
    let (reports, run_dir) = run(&args)?;
    let (passed, failed, skipped) = output::counts(&reports);
    Ok(LaneSummary {
        lane: lane.to_string(),
        passed,
        failed,
        skipped,
        run_dir,
        boot_problem: reports.iter().find_map(BootReport::boot_problem),
        flaky: reports
            .iter()
            .filter_map(|r| {
                r.flaky
                    .as_ref()
                    .map(|f| format!("{}: {} [{}]", r.kernel, f.detail, f.console_excerpt))
            })
            .collect(),
    })
}
