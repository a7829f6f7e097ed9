//! The QEMU command line: kernel + generated initramfs, console on stdout,
//! the result port on a unix socket, the host root read-only over 9p.

use crate::kernel::Kernel;
use serde::Serialize;
use std::path::Path;
use std::process::{Command, Stdio};

pub const QEMU: &str = "qemu-system-x86_64";

/// How the guest CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(format!("unknown accelerator `{s}` (kvm, tcg, auto)")),
        }
    }
}

/// How TCG maps guest vCPUs onto host threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TcgThread {
    /// One host thread per vCPU (`-accel tcg,thread=multi`, QEMU's default
    /// on x86 hosts). Cross-modifying code is not coherent between vCPUs:
    /// a kernel patching its text (jump labels, static calls, alternatives)
    /// while another vCPU runs it can die with `Oops: int3`.
    Multi,
    /// All vCPUs round-robin on one host thread (`thread=single`): guest
    /// code patching is seen by every vCPU at once. The default: see
    /// docs/architecture.md, "Boot reliability", for the soak figures.
    #[default]
    Single,
}

impl TcgThread {
    pub fn name(self) -> &'static str {
        match self {
            TcgThread::Multi => "multi",
            TcgThread::Single => "single",
        }
    }
}

impl std::str::FromStr for TcgThread {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "multi" => Ok(TcgThread::Multi),
            "single" => Ok(TcgThread::Single),
            _ => Err(format!("unknown TCG threading `{s}` (single, multi)")),
        }
    }
}

/// Machine shape of one boot.
#[derive(Clone, Debug)]
pub struct Machine {
    pub memory_mib: u32,
    pub cpus: u32,
    pub accel: Accel,
    /// TCG only: how vCPUs map onto host threads.
    pub tcg_thread: TcgThread,
    /// Appended to our own kernel command line.
    pub cmdline: String,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            memory_mib: 1024,
            cpus: 2,
            accel: Accel::Tcg,
            tcg_thread: TcgThread::default(),
            cmdline: String::new(),
        }
    }
}

/// Our part of the kernel command line. `quiet` keeps the boot log off the
/// (slow, emulated) serial console; dmesg comes back over the port anyway.
pub fn base_cmdline() -> &'static str {
    "console=ttyS0 panic=-1 quiet nokaslr rdinit=/init"
}

pub struct Paths<'a> {
    pub initrd: &'a Path,
    pub socket: &'a Path,
    /// Job script (host path, read by the guest through the 9p root).
    pub job: Option<&'a Path>,
    /// Read-write 9p share (mount tag `cribout`).
    pub share: Option<&'a Path>,
}

pub fn command(kernel: &Kernel, m: &Machine, p: &Paths) -> Command {
    let mut c = Command::new(QEMU);
    c.args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    c.args(["-machine", "pc"]);
    match m.accel {
        Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => c.args([
            "-accel",
            &format!("tcg,thread={}", m.tcg_thread.name()),
            "-cpu",
            "max",
        ]),
    };
    c.arg("-m").arg(format!("{}M", m.memory_mib));
    c.arg("-smp").arg(m.cpus.to_string());
    c.args([
        "-chardev",
        "stdio,id=con,signal=off",
        "-serial",
        "chardev:con",
    ]);
    c.args(["-monitor", "none"]);
    c.arg("-kernel").arg(&kernel.image);
    c.arg("-initrd").arg(p.initrd);
    let mut append = base_cmdline().to_string();
    match p.job {
        Some(job) => append.push_str(&format!(" crib_job={}", job.display())),
        None => append.push_str(" crib_probe=1"),
    }
    if !m.cmdline.is_empty() {
        append.push(' ');
        append.push_str(&m.cmdline);
    }
    c.arg("-append").arg(append);
    c.args(["-device", "virtio-serial-pci,id=vser"]);
    c.arg("-chardev")
        .arg(format!("socket,id=res,path={}", p.socket.display()));
    c.args([
        "-device",
        "virtserialport,bus=vser.0,chardev=res,name=crib.result",
    ]);
    if p.job.is_some() {
        c.args([
            "-fsdev",
            "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device",
            "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        ]);
    }
    if let Some(share) = p.share {
        c.arg("-fsdev").arg(format!(
            "local,id=cribout,path={},security_model=none",
            share.display()
        ));
        c.args(["-device", "virtio-9p-pci,fsdev=cribout,mount_tag=cribout"]);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}
