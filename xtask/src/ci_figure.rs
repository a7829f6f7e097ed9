//! The README's cold-CI figure, written by the tool and never typed in:
//! `cargo xtask fresh --full` splices it between `<!-- CI-FIGURE -->` and
//! `<!-- /CI-FIGURE -->` from the run it just measured, and `cargo xtask
//! fresh --ci-figure LOG` does the same from the saved output of an earlier
//! `fresh --full` (which names its run directory, where the inner
//! `.ci/run`'s log with its lane table is kept).

// A step read back from saved output has no note.
use crate::fresh::StepResult as Step;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const BEGIN: &str = "<!-- CI-FIGURE -->";
pub const END: &str = "<!-- /CI-FIGURE -->";

/// One row of the lane table `cargo xtask test` prints last.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub name: String,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub secs: f64,
    pub note: String,
}

/// The lane table of a `cargo xtask test` log (the rows between its
/// `lane passed failed skipped secs` header and `all lanes took`).
pub fn parse_lanes(log: &str) -> Result<Vec<Lane>> {
    let mut lines = log.lines();
    lines
        .by_ref()
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["lane", "passed", "failed", "skipped", "secs"])
        })
        .context("no lane table (the run did not get to its summary)")?;
    let mut out = Vec::new();
    for l in lines {
        if l.starts_with("all lanes took") || l.trim().is_empty() {
            break;
        }
        let mut w = l.split_whitespace();
        let name = w.next().unwrap_or_default().to_string();
        let mut num = |what: &str| -> Result<f64> {
            w.next()
                .and_then(|x| x.parse::<f64>().ok())
                .with_context(|| format!("lane table row {l:?}: no {what}"))
        };
        let passed = num("passed")? as u64;
        let failed = num("failed")? as u64;
        let skipped = num("skipped")? as u64;
        let secs = num("secs")?;
        out.push(Lane {
            name,
            passed,
            failed,
            skipped,
            secs,
            note: w.collect::<Vec<_>>().join(" "),
        });
    }
    if out.is_empty() {
        bail!("the lane table has no rows");
    }
    Ok(out)
}

/// The steps and the run directory from the output of `cargo xtask fresh`
/// (its closing summary: `fresh root (logs in DIR)`, then a line a step).
pub fn parse_steps(out: &str) -> Result<(PathBuf, Vec<Step>)> {
    let mut lines = out.lines();
    let dir = lines
        .by_ref()
        .find_map(|l| {
            l.trim()
                .strip_prefix("fresh root (logs in ")
                .and_then(|r| r.strip_suffix(')'))
        })
        .context("no `fresh root (logs in DIR)` line: not the output of cargo xtask fresh")?;
    let mut steps = Vec::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            [name, verdict @ ("pass" | "FAIL"), secs, "s", ..] => steps.push(Step {
                name: name.to_string(),
                ok: *verdict == "pass",
                secs: secs
                    .parse()
                    .with_context(|| format!("step {name}: seconds {secs:?}"))?,
                note: String::new(),
            }),
            _ => break,
        }
    }
    if steps.is_empty() {
        bail!("the fresh summary lists no steps");
    }
    Ok((PathBuf::from(dir), steps))
}

fn min_s(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{} min {} s", s / 60, s % 60)
}

/// The README block (markers included).
pub fn render(date: &str, machine: &str, steps: &[Step], lanes: &[Lane]) -> Result<String> {
    let ci = steps
        .iter()
        .find(|s| s.name == "ci-run")
        .context("no ci-run step: the figure needs `cargo xtask fresh --full`")?;
    let all: f64 = steps.iter().map(|s| s.secs).sum();
    let mut o = format!(
        "{BEGIN}\n**CI time, measured cold** (written by `cargo xtask fresh --full`, {date}, {machine}: \
         `.ci/run` in a new debootstrap root with empty caches, so every apt install, crate \
         download, the CRIU build and both patched kernels' builds are in it): **{}** for \
         `.ci/run`{} ({} with the root's set-up).\n\n| lane | passed | failed | skipped | time |\n|---|---|---|---|---|\n",
        min_s(ci.secs),
        if ci.ok { "" } else { ", which FAILED" },
        min_s(all)
    );
    for l in lanes {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} s |\n",
            l.name, l.passed, l.failed, l.skipped, l.secs
        ));
    }
    let failed: Vec<&Lane> = lanes.iter().filter(|l| l.failed > 0).collect();
    if !failed.is_empty() {
        o.push_str("\nFailed lanes:\n");
        for l in failed {
            o.push_str(&format!("- {}: {}\n", l.name, l.note));
        }
    }
    o.push_str(END);
    Ok(o)
}

/// `readme` with the block between the markers replaced by `block`.
pub fn splice(readme: &str, block: &str, file: &Path) -> Result<String> {
    let (Some(a), Some(b)) = (readme.find(BEGIN), readme.find(END)) else {
        bail!("{}: no {BEGIN} ... {END} markers", file.display());
    };
    if b < a {
        bail!("{}: {END} comes before {BEGIN}", file.display());
    }
    Ok(format!(
        "{}{block}{}",
        &readme[..a],
        &readme[b + END.len()..]
    ))
}

/// "Model name (N cores)" of this machine, from /proc/cpuinfo.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model} ({cores} cores)")
}

/// The date a fresh run started, from its directory's name (its start
/// time, YYYYMMDD-HHMMSS).
fn run_date(run_dir: &Path) -> Result<String> {
    let stamp = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stamp.get(0..8) {
        Some(d) if d.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]))
        }
        _ => bail!("{}: not a fresh run's directory", run_dir.display()),
    }
}

/// Write the figure of a fresh run into the workspace's README.
pub fn write_readme(steps: &[Step], run_dir: &Path) -> Result<()> {
    let date = run_date(run_dir)?;
    let log = run_dir.join("ci-run.log");
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let lanes = parse_lanes(&text).with_context(|| log.display().to_string())?;
    let block = render(&date, &machine(), steps, &lanes)?;
    let readme = crate::workspace_root().join("README.md");
    let old = std::fs::read_to_string(&readme)
        .with_context(|| format!("reading {}", readme.display()))?;
    std::fs::write(&readme, splice(&old, &block, &readme)?)
        .with_context(|| format!("writing {}", readme.display()))?;
    println!("README.md: CI figure written from {}", run_dir.display());
    Ok(())
}

/// `cargo xtask fresh --ci-figure LOG`: the figure from a saved run.
pub fn from_saved_output(out_log: &Path) -> Result<()> {
    let out = std::fs::read_to_string(out_log)
        .with_context(|| format!("reading {}", out_log.display()))?;
    let (dir, steps) = parse_steps(&out).with_context(|| out_log.display().to_string())?;
    write_readme(&steps, &dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI_LOG: &str = "[test] lint lane\n\
        lane                  passed  failed  skipped     secs  note\n\
        lint                       2       0        0       28  \n\
        host                     391       0       10      110  10 VM-only tests\n\
        zdtm:patched-7.3          33       1        3      420  1 FAILED; /work/x\n\
        all lanes took 2000 s\n\
        total: 426 passed, 1 failed, 13 skipped\n";

    const FRESH_OUT: &str = "noise\n\
        \nfresh root (logs in /work/main/target/fresh/20261202-160914)\n\
        \x20 machine                  pass      95 s  \n\
        \x20 clone                    pass       3 s  \n\
        \x20 ci-run                   pass    3100 s  \n\
        xtask: done\n";

    #[test]
    fn the_lane_table_and_the_steps_are_read_back() {
        let lanes = parse_lanes(CI_LOG).expect("lanes");
        assert_eq!(lanes.len(), 3);
        assert_eq!(lanes[2].name, "zdtm:patched-7.3");
        assert_eq!(
            (lanes[2].passed, lanes[2].failed, lanes[2].skipped),
            (33, 1, 3)
        );
        assert_eq!(lanes[1].note, "10 VM-only tests");
        let (dir, steps) = parse_steps(FRESH_OUT).expect("steps");
        assert!(dir.ends_with("20261202-160914"));
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[2].secs, 3100.0);
    }

    #[test]
    fn the_block_is_rendered_and_spliced_between_its_markers() {
        let (_, steps) = parse_steps(FRESH_OUT).expect("steps");
        let block = render(
            "2026-12-02",
            "Some CPU (2 cores)",
            &steps,
            &parse_lanes(CI_LOG).expect("lanes"),
        )
        .expect("render");
        insta::assert_snapshot!(block);
        let readme = format!("intro\n{BEGIN}\nold figure\n{END}\nrest\n");
        let new = splice(&readme, &block, Path::new("README.md")).expect("splice");
        assert!(new.starts_with("intro\n") && new.ends_with("\nrest\n"));
        assert!(!new.contains("old figure"));
    }

    #[test]
    fn bad_input_names_what_is_missing() {
        let e = parse_lanes("no table here").expect_err("no table");
        assert!(e.to_string().contains("no lane table"), "{e}");
        let e = parse_steps("nothing").expect_err("no summary");
        assert!(e.to_string().contains("logs in"), "{e}");
        let e = splice("no markers", "x", Path::new("README.md")).expect_err("markers");
        assert!(e.to_string().contains("README.md"), "{e}");
        let no_ci = [Step {
            name: "clone".into(),
            ok: true,
            secs: 1.0,
            note: String::new(),
        }];
        let e = run_date(Path::new("/tmp/not-a-run")).expect_err("no stamp");
        assert!(e.to_string().contains("/tmp/not-a-run"), "{e}");
        assert!(render("d", "m", &no_ci, &[]).is_err());
    }
}
