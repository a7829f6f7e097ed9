//! Shared setup for the VM tests: a stock kernel and run options with tight
//! timeouts. These tests boot real kernels under QEMU (TCG here): slow, few.

#![allow(dead_code)]

use crib_vmtest::splat::Detector;
use crib_vmtest::{Accel, GuestCommand, Job, Kernel, Machine, RunOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The stock kernel the harness tests boot (fetched and cached once).
pub fn kernel() -> Kernel {
    match Kernel::resolve("debian-6.12") {
        Ok(k) => k,
        Err(e) => panic!("cannot get the debian-6.12 kernel for VM tests: {e}"),
    }
}

pub fn out_dir(test: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/vmtest/harness-tests");
    let d = root.join(test);
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn options(test: &str, boot_timeout: u64) -> RunOptions {
    RunOptions {
        machine: Machine {
            tcg_thread: crib_vmtest::TcgThread::default(),
            accel: Accel::Tcg,
            memory_mib: 512,
            cpus: 2,
            cmdline: String::new(),
        },
        boot_timeout: Duration::from_secs(boot_timeout),
        out_dir: out_dir(test),
        detector: Arc::new(Detector::new()),
        progress: true,
        silent_console_timeout: None,
    }
}

pub fn cmd(name: &str, command: &str, timeout: u64) -> GuestCommand {
    GuestCommand {
        name: name.into(),
        command: command.into(),
        timeout: Duration::from_secs(timeout),
    }
}

pub fn job(commands: Vec<GuestCommand>) -> Job {
    Job {
        cwd: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        env: vec![],
        tmpfs: vec!["/tmp".into(), "/run".into()],
        share: None,
        commands,
    }
}
