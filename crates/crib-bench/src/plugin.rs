//! `crib-bench plugin`: what the crib CRIU plugin adds to `criu dump` and
//! `criu restore` of a process with N UDP sockets, each with a datagram
//! waiting (CRIU alone drops those queues; with the plugin they are
//! carried). Same target, same CRIU, one run: plugin directory empty vs
//! holding `crib.so`. Needs the patched kernel (the CRIB kfuncs).

use crate::target::run_bounded;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// UDP sockets of the target, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    sizes: Vec<usize>,
    /// Dump + restore cycles per size and setting.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Directory holding crib.so.
    #[arg(long)]
    plugin_dir: PathBuf,
    /// Scratch directory for images.
    #[arg(long, default_value = "/tmp/crib-bench-plugin")]
    scratch: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Serialize, Debug, Clone)]
pub struct SizeRun {
    pub sockets: usize,
    /// Wall time of `criu dump` (ms) per repetition, without / with the plugin.
    pub dump_ms: [Vec<f64>; 2],
    /// Wall time of `criu restore -d` (ms) per repetition.
    pub restore_ms: [Vec<f64>; 2],
    /// Datagrams the plugin images held (sum over sockets), last rep.
    pub carried_datagrams: usize,
}

#[derive(Serialize, Debug)]
pub struct PluginRun {
    pub kernel: String,
    pub criu: String,
    pub sizes: Vec<SizeRun>,
}

fn criu(args: &[&str], libdir: &Path, dir: &Path, log: &str) -> Result<f64> {
    let bin = crate::criu::criu_bin().map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    let out = run_bounded(
        Command::new(&bin)
            .args(args)
            .arg("-D")
            .arg(dir)
            .arg("-o")
            .arg(log)
            .arg("-L")
            .arg(libdir)
            .arg("-v2"),
        Duration::from_secs(600),
    )?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        let err = crate::criu::first_error(&text).unwrap_or("no error line");
        bail!("criu {} failed ({}): {err}", args[0], out.status);
    }
    Ok(ms)
}

/// The started target and its pid (from its pidfile, once it is ready).
fn target(n: usize, pidfile: &Path) -> Result<(std::process::Child, i32)> {
    let _ = std::fs::remove_file(pidfile);
    let bin = crate::target::binary()?;
    // Its stderr goes to a file next to the images: CRIU dumps every fd
    // and cannot resolve one opened outside its mount namespace's view
    // (such as the VM job's output file, on the initramfs root).
    let errfile = pidfile.with_extension("stderr");
    let err = std::fs::File::create(&errfile)
        .with_context(|| format!("creating {}", errfile.display()))?;
    let child = Command::new(bin)
        .args(["--udp-queued", &n.to_string(), "--criu-target"])
        .arg(pidfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .context("starting crib-bench-target")?;
    for _ in 0..600 {
        if let Ok(t) = std::fs::read_to_string(pidfile) {
            if let Ok(pid) = t.trim().parse() {
                return Ok((child, pid));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "crib-bench-target --udp-queued {n} did not write {}: {}",
        pidfile.display(),
        std::fs::read_to_string(&errfile).unwrap_or_default().trim()
    )
}

fn kill(pid: i32) {
    // SAFETY: plain kill; the pid is our target's.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn carried(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("crib-udp-"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .map(|b| String::from_utf8_lossy(&b).matches("\"data\"").count())
                .sum()
        })
        .unwrap_or(0)
}

/// One dump + restore cycle; (dump ms, restore ms, datagrams carried).
fn cycle(n: usize, libdir: &Path, dir: &Path) -> Result<(f64, f64, usize)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let (mut child, pid) = target(n, &dir.with_extension("pid"))?;
    let r = (|| {
        let d = criu(&["dump", "-t", &pid.to_string()], libdir, dir, "dump.log")?;
        // CRIU killed it; reaped, its pid is free for the restore, which
        // brings it back with the same pid.
        child.wait().context("reaping the dumped target")?;
        let r = criu(&["restore", "-d"], libdir, dir, "restore.log")?;
        Ok((d, r, carried(dir)))
    })();
    kill(pid);
    // Ours only until the dump (then the status is cached): reaps it when
    // the dump failed.
    let _ = child.wait();
    r
}

pub fn run(a: Args) -> Result<()> {
    let empty = a.scratch.join("no-plugins");
    std::fs::create_dir_all(&empty)?;
    if !a.plugin_dir.join("crib.so").is_file() {
        bail!("{}: no crib.so", a.plugin_dir.display());
    }
    let mut sizes = Vec::new();
    for &n in &a.sizes {
        let mut s = SizeRun {
            sockets: n,
            dump_ms: [Vec::new(), Vec::new()],
            restore_ms: [Vec::new(), Vec::new()],
            carried_datagrams: 0,
        };
        for rep in 0..a.reps {
            // Interleaved, so that a slow moment of the machine hits both.
            for (k, libdir) in [&empty, &a.plugin_dir].into_iter().enumerate() {
                let dir = a.scratch.join(format!("n{n}-{k}"));
                let (d, r, c) = cycle(n, libdir, &dir).with_context(|| {
                    format!(
                        "{n} sockets, {}",
                        if k == 1 {
                            "with the plugin"
                        } else {
                            "CRIU alone"
                        }
                    )
                })?;
                eprintln!(
                    "[plugin] n={n} rep {rep} {}: dump {d:.0} ms, restore {r:.0} ms",
                    if k == 1 { "crib.so" } else { "alone " }
                );
                s.dump_ms[k].push(d);
                s.restore_ms[k].push(r);
                if k == 1 {
                    s.carried_datagrams = c;
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        if s.carried_datagrams != n {
            bail!(
                "{n} sockets: the plugin images hold {} datagrams, {n} expected",
                s.carried_datagrams
            );
        }
        sizes.push(s);
    }
    let run = PluginRun {
        kernel: crate::suite::kernel_release(),
        criu: crate::criu::criu_bin()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        sizes,
    };
    std::fs::write(&a.out, serde_json::to_string_pretty(&run)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    Ok(())
}
