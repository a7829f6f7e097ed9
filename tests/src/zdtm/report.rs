//! Results: one [`Outcome`] per test and engine; a table and JSON lines.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Failed, and the descriptor says this engine is expected to fail.
    Xfail,
    /// Passed although expected to fail: the descriptor is stale (not ok).
    Xpass,
    /// The descriptor says the test does not apply to this engine/kernel.
    NotApplicable,
}

impl Status {
    pub fn ok(self) -> bool {
        matches!(self, Status::Pass | Status::Xfail | Status::NotApplicable)
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Xfail => "XFAIL",
            Status::Xpass => "XPASS",
            Status::NotApplicable => "n/a",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub test: String,
    pub engine: String,
    pub status: Status,
    /// The test's own words (`FAIL: ...`) or the runner's.
    pub reason: String,
    pub dump_ms: u64,
    pub restore_ms: u64,
    pub total_ms: u64,
    /// Engine per dump operation, and gaps procfs filled (JSON only).
    pub engines: String,
}

/// A fixed-width table, one line per outcome.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:<22} {:<9} {:<6} {:>8} {:>10} {:>8}  {}\n",
        "test", "engine", "result", "dump_ms", "restore_ms", "total_ms", "reason"
    );
    for o in outcomes {
        s.push_str(&format!(
            "{:<22} {:<9} {:<6} {:>8} {:>10} {:>8}  {}\n",
            o.test,
            o.engine,
            o.status.label(),
            o.dump_ms,
            o.restore_ms,
            o.total_ms,
            o.reason
        ));
    }
    s
}

/// JSON lines: one object per outcome.
pub fn json_lines(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .filter_map(|o| serde_json::to_string(o).ok())
        .map(|l| l + "\n")
        .collect()
}
