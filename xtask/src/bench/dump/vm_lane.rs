//! The VM lane: `crib-bench suite` inside the patched kernel under QEMU
//! (the host root is shared read-only, so the guest runs the very binaries
//! the host lane just built); the guest writes its JSON into the runner's
//! writable share.

use super::schema::LaneRun;
use anyhow::{bail, Context, Result};
use crib_vmtest::splat::Detector;
use crib_vmtest::{Accel, GuestCommand, Job, Kernel, Machine, RunOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Guest command budget: emulation makes the 10k sizes slow.
const GUEST_TIMEOUT: Duration = Duration::from_secs(50 * 60);

/// The lane name for a kernel spec: `vm` for the patched kernel (by name
/// or as a bzImage path), `vm-debian-6.12` etc. for stock kernels.
pub fn lane_name(spec: &str) -> String {
    if spec.starts_with("debian-") && crib_vmtest::job::valid_name(spec) {
        format!("vm-{spec}")
    } else {
        "vm".into()
    }
}

pub fn kernel(spec: &str) -> Result<Kernel> {
    if spec == "patched" {
        let a = crate::kernel::ensure_built(None)
            .context("the patched kernel (cargo xtask kernel build)")?;
        let mut k = Kernel::from_path("patched", &a.bzimage)?;
        k.config = Some(a.config.clone());
        return Ok(k);
    }
    Ok(Kernel::resolve(spec)?)
}

/// Boot `spec` (`patched`, `debian-6.12`, `debian-6.1` or a bzImage path)
/// and run `crib-bench suite` with `suite_args` in it.
pub fn run(spec: &str, bench_bin: &Path, suite_args: &[String], out_dir: &Path) -> Result<LaneRun> {
    let kernel = kernel(spec)?;
    let lane = lane_name(spec);
    let fixed = [
        "suite",
        "--lane",
        &lane,
        "--emulated",
        "--scratch",
        "/tmp/crib-bench",
    ];
    let words: Vec<String> = std::iter::once(bench_bin.display().to_string())
        .chain(fixed.iter().map(|s| s.to_string()))
        .chain(suite_args.iter().cloned())
        .map(|w| crib_vmtest::job::sh_quote(&w))
        .collect();
    let command = format!(
        "{} --out \"$CRIB_VMTEST_OUT/vm-lane.json\"",
        words.join(" ")
    );
    run_command(&kernel, "bench-dump", &command, out_dir, GUEST_TIMEOUT)?;
    let json = out_dir.join("share/vm-lane.json");
    let text =
        std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a lane result", json.display()))
}

/// Boot `kernel` and run `command` (shell text, from the workspace root,
/// with the kit's CRIU in `$CRIB_CRIU`) in it; `Err` when the boot or the
/// command fails. The guest writes results into `<out_dir>/share`.
pub fn run_command(
    kernel: &Kernel,
    name: &str,
    command: &str,
    out_dir: &Path,
    timeout: Duration,
) -> Result<()> {
    let job = Job {
        cwd: crate::workspace_root(),
        env: std::env::var(crate::criu::CRIU_ENV)
            .map(|v| vec![(crate::criu::CRIU_ENV.to_string(), v)])
            .unwrap_or_default(),
        tmpfs: crib_vmtest::job::DEFAULT_TMPFS
            .iter()
            .map(Into::into)
            .collect(),
        share: None,
        commands: vec![GuestCommand {
            name: name.into(),
            command: command.into(),
            timeout,
        }],
    };
    let opts = RunOptions {
        machine: Machine {
            tcg_thread: crib_vmtest::TcgThread::default(),
            memory_mib: 2048,
            cpus: 2,
            accel: Accel::Tcg,
            cmdline: String::new(),
        },
        boot_timeout: Duration::from_secs(300),
        out_dir: out_dir.to_path_buf(),
        detector: Arc::new(Detector::new()),
        progress: true,
        silent_console_timeout: None,
    };
    let report = crib_vmtest::runner::boot(kernel, &job, &opts).context("booting the kernel")?;
    if let Some(p) = report.boot_problem() {
        bail!("VM: {p} (console: {})", report.console_log.display());
    }
    let cmd = report
        .commands
        .first()
        .context("VM: the guest ran no command")?;
    if cmd.status.is_failure() {
        let tail: Vec<&str> = cmd.output.lines().rev().take(5).collect();
        bail!(
            "VM: {name} in the guest: {} ({})",
            cmd.status.label(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(())
}
