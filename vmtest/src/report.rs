//! What a boot produced: per-command results, boot outcome, timings; and
//! their renderings (summary table, results.json, JUnit XML).

use crate::qemu::Accel;
use crate::splat::Splat;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Exit code a command uses to say "skipped" (the automake convention).
pub const SKIP_EXIT_CODE: i32 = 77;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    /// Killed after its timeout.
    TimedOut,
    /// Exited 0 but the kernel logged a splat while it ran.
    Splat,
    /// Never started (boot failed, or the guest died before it).
    NotRun,
    /// Started, but the guest died or stopped answering before it ended.
    Lost,
}

impl Status {
    pub fn is_failure(self) -> bool {
        !matches!(self, Status::Passed | Status::Skipped)
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "pass",
            Status::Failed => "FAIL",
            Status::Skipped => "skip",
            Status::TimedOut => "TIMEOUT",
            Status::Splat => "SPLAT",
            Status::NotRun => "NOT RUN",
            Status::Lost => "LOST",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CommandResult {
    pub name: String,
    pub command: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// stdout+stderr (lossy UTF-8, the last 64 KiB).
    pub output: String,
    pub splats: Vec<Splat>,
    /// Why, when the status is not self-explanatory.
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootOutcome {
    /// The guest reached its job and finished it.
    Ok,
    /// No sign of our init within the boot timeout (or QEMU died first).
    NeverStarted { detail: String },
    /// The guest died or hung after starting (panic, timeout, ...).
    Died { detail: String },
    /// The guest init reported it could not set up (FATAL line).
    InitFailed { detail: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct BootReport {
    pub kernel: String,
    pub runner: String,
    pub accel: Accel,
    pub outcome: BootOutcome,
    /// From spawning QEMU to the guest's READY.
    pub boot_seconds: Option<f64>,
    /// Guest uptime when it said READY (the rest of `boot_seconds` is QEMU
    /// start, firmware and kernel decompression).
    pub guest_uptime_at_ready: Option<f64>,
    /// From spawning QEMU to the first command's exit status.
    pub first_result_seconds: Option<f64>,
    pub total_seconds: f64,
    pub commands: Vec<CommandResult>,
    /// Splats outside any command (boot, shutdown).
    pub boot_splats: Vec<Splat>,
    pub console_log: PathBuf,
    /// Last console lines, kept when the boot went wrong.
    pub console_tail: Option<String>,
    /// Set when an earlier attempt died before the guest init said READY
    /// (a reason outside the tests: `Oops: int3` under TCG, say) and this
    /// report is the one retry. The dead attempt is reported, never passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flaky: Option<FlakyBoot>,
}

/// A boot attempt that died before the guest init was ready.
#[derive(Clone, Debug, Serialize)]
pub struct FlakyBoot {
    /// Why it died (`boot_problem` of that attempt).
    pub detail: String,
    /// The lines of its console that say how (Oops, RIP, panic), or its tail.
    pub console_excerpt: String,
    /// Where that attempt's files are.
    pub run_dir: PathBuf,
}

impl BootReport {
    /// `report.json` in the boot's output directory (best effort: the
    /// report itself is the result, the file is for people).
    pub fn write_json(&self, out_dir: &Path) {
        if let Ok(json) = serde_json::to_string_pretty(self) {
            let _ = std::fs::write(out_dir.join("report.json"), json);
        }
    }

    /// The guest died (or never answered) before its init said READY:
    /// nothing of the job ran, so the job is not to blame.
    pub fn died_before_ready(&self) -> bool {
        self.boot_seconds.is_none()
            && matches!(
                self.outcome,
                BootOutcome::NeverStarted { .. } | BootOutcome::Died { .. }
            )
    }

    /// The splat lines of a dead boot's console, or its last lines.
    pub fn console_excerpt(&self) -> String {
        let tail = self.console_tail.as_deref().unwrap_or("");
        let key: Vec<&str> = tail
            .lines()
            .filter(|l| {
                ["Oops", "RIP:", "Kernel panic", "BUG:", "general protection"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .take(6)
            .collect();
        if key.is_empty() {
            let lines: Vec<&str> = tail.lines().collect();
            lines[lines.len().saturating_sub(6)..].join(" | ")
        } else {
            key.join(" | ")
        }
    }

    pub fn failed(&self) -> bool {
        !matches!(self.outcome, BootOutcome::Ok)
            || !self.boot_splats.is_empty()
            || self.commands.iter().any(|c| c.status.is_failure())
    }

    pub fn count(&self, s: Status) -> usize {
        self.commands.iter().filter(|c| c.status == s).count()
    }

    /// One line explaining a failed boot, if it failed as a whole.
    pub fn boot_problem(&self) -> Option<String> {
        match &self.outcome {
            BootOutcome::Ok if self.boot_splats.is_empty() => None,
            BootOutcome::Ok => Some(format!(
                "kernel splat outside tests: {}",
                self.boot_splats[0].title
            )),
            BootOutcome::NeverStarted { detail } => Some(format!("guest never started: {detail}")),
            BootOutcome::Died { detail } => Some(format!("guest died: {detail}")),
            BootOutcome::InitFailed { detail } => Some(format!("guest init failed: {detail}")),
        }
    }
}

/// Keep at most the last `max` bytes of `bytes`, as text.
pub fn tail_text(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// A fixed-width table of every command of every boot; a failed boot gets a
/// `(boot)` row and its reason on the next line (outside the columns).
pub fn summary_table(reports: &[BootReport]) -> String {
    // (cells, note printed under the row)
    let mut rows: Vec<([String; 4], Option<String>)> = vec![(
        [
            "kernel".to_string(),
            "test".to_string(),
            "result".to_string(),
            "time".to_string(),
        ],
        None,
    )];
    for r in reports {
        if let Some(f) = &r.flaky {
            rows.push((
                [
                    r.kernel.clone(),
                    "(boot)".into(),
                    "flaky".into(),
                    String::new(),
                ],
                Some(format!(
                    "first attempt died before READY, retried once: {} [{}]",
                    f.detail, f.console_excerpt
                )),
            ));
        }
        if let Some(p) = r.boot_problem() {
            rows.push((
                [
                    r.kernel.clone(),
                    "(boot)".into(),
                    "FAIL".into(),
                    format!("{:.1}s", r.total_seconds),
                ],
                Some(p),
            ));
        }
        for c in &r.commands {
            let mut res = c.status.label().to_string();
            if c.status == Status::Failed {
                if let Some(code) = c.exit_code {
                    res = format!("FAIL ({code})");
                }
            }
            rows.push((
                [
                    r.kernel.clone(),
                    c.name.clone(),
                    res,
                    format!("{:.1}s", c.seconds),
                ],
                None,
            ));
        }
    }
    let mut w = [0usize; 4];
    for (row, _) in &rows {
        for (i, cell) in row.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (row, note) in &rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(n) = note {
            out.push_str(&format!("{:w0$}  -> {n}\n", "", w0 = w[0]));
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one testsuite per boot, one testcase per command, plus a
/// `(boot)` testcase when the boot itself failed.
pub fn junit_xml(reports: &[BootReport]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in reports {
        let boot_fail = r.boot_problem();
        let failures = r.commands.iter().filter(|c| c.status.is_failure()).count()
            + usize::from(boot_fail.is_some());
        let tests = r.commands.len() + usize::from(boot_fail.is_some());
        s.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{}\" time=\"{:.3}\">\n",
            xml_escape(&format!("{}/{}", r.runner, r.kernel)),
            r.count(Status::Skipped),
            r.total_seconds
        ));
        if let Some(f) = &r.flaky {
            // Reported, never passed: JUnit has no "flaky", so a skipped
            // testcase whose message says what happened.
            s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"(boot attempt 1)\">\n      <skipped message=\"flaky: {}\"/>\n      <system-out>{}</system-out>\n    </testcase>\n",
                xml_escape(&r.kernel),
                xml_escape(&f.detail),
                xml_escape(&f.console_excerpt)
            ));
        }
        if let Some(p) = boot_fail {
            s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"(boot)\" time=\"{:.3}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(&r.kernel),
                r.boot_seconds.unwrap_or(0.0),
                xml_escape(&p),
                xml_escape(r.console_tail.as_deref().unwrap_or(""))
            ));
        }
        for c in &r.commands {
            s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n",
                xml_escape(&r.kernel),
                xml_escape(&c.name),
                c.seconds
            ));
            match c.status {
                Status::Passed => {}
                Status::Skipped => s.push_str("      <skipped/>\n"),
                st => {
                    let mut msg = st.label().to_string();
                    if let Some(d) = &c.detail {
                        msg = format!("{msg}: {d}");
                    }
                    let mut body = c.output.clone();
                    for sp in &c.splats {
                        body.push_str("\n--- kernel splat ---\n");
                        body.push_str(&sp.excerpt);
                    }
                    s.push_str(&format!(
                        "      <failure message=\"{}\">{}</failure>\n",
                        xml_escape(&msg),
                        xml_escape(&body)
                    ));
                }
            }
            s.push_str(&format!(
                "      <system-out>{}</system-out>\n    </testcase>\n",
                xml_escape(&c.output)
            ));
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
