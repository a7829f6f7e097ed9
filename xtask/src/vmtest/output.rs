//! Run directories, progress lines with elapsed time, and the files a run
//! leaves: results.json, junit.xml, summary.txt.

use anyhow::{Context, Result};
use crib_vmtest::report::{junit_xml, summary_table};
use crib_vmtest::{BootReport, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }
    pub fn say(&self, msg: &str) {
        eprintln!("[vmtest +{:6.1}s] {msg}", self.0.elapsed().as_secs_f64());
    }
    pub fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) from the system clock.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A fresh `target/vmtest/<timestamp>[-N]/`, with `target/vmtest/latest`
/// pointing at it.
pub fn new_run_dir(kind: &str) -> Result<PathBuf> {
    let base = crate::workspace_root().join("target/vmtest");
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let stamp = format!("{}-{kind}", timestamp());
    let mut dir = base.join(&stamp);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("{stamp}-{n}"));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let latest = base.join("latest");
    let _ = std::fs::remove_file(&latest);
    if let Some(name) = dir.file_name() {
        let _ = std::os::unix::fs::symlink(name, &latest);
    }
    Ok(dir)
}

#[derive(Serialize)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

#[derive(Serialize)]
struct Results<'a> {
    run_dir: &'a Path,
    accel: &'a str,
    accel_reason: &'a str,
    seconds: f64,
    counts: Counts,
    boots: &'a [BootReport],
}

/// (passed, failed, skipped); a failed boot counts as one failure.
pub fn counts(reports: &[BootReport]) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for r in reports {
        c.0 += r.count(Status::Passed);
        c.2 += r.count(Status::Skipped);
        c.1 += r.commands.iter().filter(|x| x.status.is_failure()).count();
        c.1 += usize::from(r.boot_problem().is_some());
    }
    c
}

/// Print the summary table and write results.json, junit.xml, summary.txt.
pub fn write_results(
    dir: &Path,
    reports: &[BootReport],
    accel: &str,
    accel_reason: &str,
    clock: &Clock,
) -> Result<()> {
    let table = summary_table(reports);
    let (passed, failed, skipped) = counts(reports);
    let total_line = format!(
        "{passed} passed, {failed} failed, {skipped} skipped in {:.1}s",
        clock.secs()
    );
    eprintln!("\n{table}{total_line}\nresults: {}", dir.display());
    for r in reports {
        for c in r.commands.iter().filter(|c| c.status.is_failure()) {
            eprintln!(
                "\n--- {} / {}: {}{}",
                r.kernel,
                c.name,
                c.status.label(),
                c.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
            let tail: Vec<&str> = c.output.lines().collect();
            for l in &tail[tail.len().saturating_sub(15)..] {
                // Verifier logs have very long lines; the full text is in outputs/.
                let cut: String = l.chars().take(200).collect();
                eprintln!("    {cut}");
            }
            for s in &c.splats {
                eprintln!("    kernel splat:\n{}", indent(&s.excerpt));
            }
        }
        if let (Some(p), Some(t)) = (r.boot_problem(), &r.console_tail) {
            eprintln!(
                "\n--- {} boot: {p}\n{}",
                r.kernel,
                indent(&last_lines(t, 25))
            );
            eprintln!("    (full console: {})", r.console_log.display());
        }
    }
    let results = Results {
        run_dir: dir,
        accel,
        accel_reason,
        seconds: clock.secs(),
        counts: Counts {
            passed,
            failed,
            skipped,
        },
        boots: reports,
    };
    let write = |name: &str, text: String| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    write("results.json", serde_json::to_string_pretty(&results)?)?;
    write("junit.xml", junit_xml(reports))?;
    write("summary.txt", format!("{table}{total_line}\n"))?;
    Ok(())
}

fn last_lines(t: &str, n: usize) -> String {
    let l: Vec<&str> = t.lines().collect();
    l[l.len().saturating_sub(n)..].join("\n")
}

fn indent(t: &str) -> String {
    t.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
