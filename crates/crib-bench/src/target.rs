//! The prepared process: `crib-bench-target` (next to this binary), started
//! per size and stopped by closing its standard input.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Target {
    child: Child,
    dir: PathBuf,
    pub pid: i32,
    pub fds: u64,
    pub maps: u64,
}

/// `crib-bench-target` from the directory this binary lives in.
pub fn binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating crib-bench")?;
    let p = me.with_file_name("crib-bench-target");
    if !p.is_file() {
        bail!(
            "{}: not found (build it: cargo build --release -p crib-tests --bins)",
            p.display()
        );
    }
    Ok(p)
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Parse `ready pid=P fds=F maps=M`.
pub fn parse_ready(line: &str) -> Option<(i32, u64, u64)> {
    if !line.starts_with("ready ") {
        return None;
    }
    let pid = i32::try_from(field(line, "pid")?).ok()?;
    Some((pid, field(line, "fds")?, field(line, "maps")?))
}

impl Target {
    pub fn start(n: u64, socket_groups: u64, scratch: &Path, timeout: Duration) -> Result<Target> {
        let bin = binary()?;
        let dir = scratch.join(format!("target-{n}-{}", std::process::id()));
        let mut child = Command::new(&bin)
            .arg("--fds")
            .arg(n.to_string())
            .arg("--maps")
            .arg(n.to_string())
            .arg("--sockets")
            .arg(socket_groups.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("target stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let start = Instant::now();
        let line = match rx.recv_timeout(timeout) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "crib-bench-target (n={n}) not ready after {:?}",
                    start.elapsed()
                );
            }
        };
        let Some((pid, fds, maps)) = parse_ready(line.trim()) else {
            let _ = child.kill();
            let out = child.wait_with_output().ok();
            let err = out.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string());
            bail!(
                "crib-bench-target (n={n}) failed: {}",
                err.unwrap_or_default()
            );
        };
        Ok(Target {
            child,
            dir,
            pid,
            fds,
            maps,
        })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // Closing stdin lets it exit and clean its files; kill if it lingers.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run a command to completion or kill it at `timeout`; stdout/stderr are
/// returned (both are expected to be small).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ready;

    #[test]
    fn ready_line() {
        assert_eq!(
            parse_ready("ready pid=42 fds=1003 maps=1031"),
            Some((42, 1003, 1031))
        );
        assert_eq!(parse_ready("ready pid=x fds=1 maps=1"), None);
        assert_eq!(parse_ready("error: setrlimit"), None);
    }
}
