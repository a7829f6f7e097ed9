//! Choosing the accelerator: KVM only where a probe boot shows it works,
//! else TCG. On some hosts `/dev/kvm` opens but a KVM guest hangs without
//! printing a byte, so the probe gives up after a few silent seconds, and
//! its verdict is cached per machine boot (`kvm-probe.json` in the kit's
//! cache, keyed by the host's boot id, QEMU's version and whether
//! `/dev/kvm` exists): the probe costs once per machine, not once per run.

use crate::error::{io, Result};
use crate::kernel::Kernel;
use crate::qemu::{Accel, Machine};
use crate::report::BootOutcome;
use crate::runner::{self, RunOptions};
use crate::splat::Detector;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A KVM guest that works prints the kernel banner within a second;
/// a hung one prints nothing.
pub const SILENT_PROBE: Duration = Duration::from_secs(5);
/// The whole probe boot, when the console does speak.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the cached verdict depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeKey {
    pub boot_id: String,
    pub qemu: String,
    pub kvm_device: bool,
}

impl ProbeKey {
    pub fn current() -> ProbeKey {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let qemu = std::process::Command::new(crate::qemu::QEMU)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_default();
        ProbeKey {
            boot_id,
            qemu,
            kvm_device: Path::new("/dev/kvm").exists(),
        }
    }
}

/// A probe's verdict, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub key: ProbeKey,
    pub kvm_usable: bool,
    pub why: String,
}

/// `kvm-probe.json` in the kit's cache.
pub fn cache_file() -> PathBuf {
    crate::cache::root().join("kvm-probe.json")
}

/// The cached verdict for `key`, if there is one (a stale or unreadable
/// file is no verdict).
pub fn cached(file: &Path, key: &ProbeKey) -> Option<Verdict> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: Verdict = serde_json::from_str(&text).ok()?;
    (v.key == *key).then_some(v)
}

fn store(file: &Path, v: &Verdict) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = file.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, file).map_err(io(file))
}

/// Boot `kernel` once under `accel` with our initramfs (no 9p, no job):
/// `(true, how long)` when the guest init reported, else `(false, why)`.
pub fn probe(kernel: &Kernel, accel: Accel, out_dir: &Path) -> Result<(bool, String)> {
    if accel == Accel::Kvm {
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            return Ok((false, format!("/dev/kvm: {e}")));
        }
    }
    let opts = RunOptions {
        machine: Machine {
            accel,
            memory_mib: 256,
            cpus: 1,
            // The banner right away, so that silence means a hang.
            cmdline: "earlyprintk=serial,ttyS0,115200 loglevel=7".into(),
            ..Machine::default()
        },
        boot_timeout: PROBE_TIMEOUT,
        out_dir: out_dir.to_path_buf(),
        detector: Arc::new(Detector::new()),
        progress: false,
        silent_console_timeout: Some(SILENT_PROBE),
    };
    let r = runner::probe(kernel, &opts)?;
    Ok(match r.outcome {
        BootOutcome::Ok => (
            true,
            format!("probe boot reached init in {:.1}s", r.total_seconds),
        ),
        BootOutcome::NeverStarted { detail }
        | BootOutcome::Died { detail }
        | BootOutcome::InitFailed { detail } => (false, detail),
    })
}

/// The accelerator to use: `forced` if given, else the cached verdict for
/// this machine boot, else a probe boot (whose verdict is then cached in
/// `cache`). Returns the choice and why.
pub fn choose(
    kernel: &Kernel,
    forced: Option<Accel>,
    out_dir: &Path,
    cache: &Path,
) -> Result<(Accel, String)> {
    if let Some(a) = forced {
        return Ok((a, "forced by --accel".into()));
    }
    let key = ProbeKey::current();
    if !key.kvm_device {
        return Ok((Accel::Tcg, "no /dev/kvm; using TCG".into()));
    }
    let v = match cached(cache, &key) {
        Some(v) => Verdict {
            why: format!("{} (cached in {})", v.why, cache.display()),
            ..v
        },
        None => {
            let (ok, why) = probe(kernel, Accel::Kvm, &out_dir.join("kvm-probe"))?;
            let v = Verdict {
                key,
                kvm_usable: ok,
                why,
            };
            // A verdict that cannot be cached only costs the next run a probe.
            let _ = store(cache, &v);
            v
        }
    };
    Ok(if v.kvm_usable {
        (Accel::Kvm, format!("KVM works: {}", v.why))
    } else {
        (Accel::Tcg, format!("KVM unusable: {}; using TCG", v.why))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ProbeKey {
        ProbeKey {
            boot_id: "b".into(),
            qemu: "QEMU emulator version 7.2.0".into(),
            kvm_device: true,
        }
    }

    #[test]
    fn a_verdict_is_reused_only_for_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("kvm-probe.json");
        assert_eq!(cached(&f, &key()), None);
        let v = Verdict {
            key: key(),
            kvm_usable: false,
            why: "no console output".into(),
        };
        store(&f, &v).expect("store");
        assert_eq!(cached(&f, &key()), Some(v));
        let rebooted = ProbeKey {
            boot_id: "other".into(),
            ..key()
        };
        assert_eq!(cached(&f, &rebooted), None);
        let new_qemu = ProbeKey {
            qemu: "QEMU emulator version 9.0".into(),
            ..key()
        };
        assert_eq!(cached(&f, &new_qemu), None);
        std::fs::write(&f, "{ not json").expect("write");
        assert_eq!(cached(&f, &key()), None);
    }
}
