//! CRIU's own ZDTM suite in the VM lanes: the curated tests of
//! `tests/zdtm/criu/curated.txt`, minus `denylist.txt`, each in each flavor
//! as its own guest command (its own timeout and cgroup: a test that hangs
//! is killed and reported, one that leaves processes behind is cleaned up
//! before the next), with CRIU from the kit's cache.
//!
//! Verdicts per test and flavor: `pass`, `crfail` (the test's .desc says
//! C/R must fail, and it did: CRIU's own expected failure), `xfail`
//! (denylisted as failing, and it failed), `fail`, `xpass` (denylisted as
//! failing but passed: a stale line, a failure), `timed_out`, `skipped`
//! (zdtm says the flavor or feature is not there), `denied` (left out by
//! the denylist, with its reason).

use super::build::CriuBuild;
use anyhow::{bail, Context, Result};
use crib_vmtest::{BootReport, GuestCommand, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the lists live.
pub fn lists_dir() -> PathBuf {
    crate::workspace_root().join("tests/zdtm/criu")
}

/// `env00` -> `zdtm/static/env00`; a name with a directory is kept
/// (`zdtm/crib/crib_udp_rcvq`: the kit's own tests).
pub fn full_name(name: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("zdtm/static/{name}")
    }
}

/// A curated test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZTest {
    /// `zdtm/static/env00`.
    pub name: String,
    pub group: String,
}

/// `curated.txt`: `# group` headers, then one test name a line.
pub fn parse_curated(text: &str, file: &Path) -> Result<Vec<ZTest>> {
    let mut out: Vec<ZTest> = Vec::new();
    let mut group = String::from("ungrouped");
    let mut blank_before = true;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() {
            blank_before = true;
            continue;
        }
        if let Some(g) = l.strip_prefix('#') {
            // A comment right after a blank line starts a group.
            if blank_before {
                group = g.trim().to_string();
            }
            blank_before = false;
            continue;
        }
        blank_before = false;
        let plain = l
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
        if !plain || l.starts_with('/') || l.contains("..") {
            bail!(
                "{}:{}: `{l}` is not a ZDTM test name",
                file.display(),
                i + 1
            );
        }
        let name = full_name(l);
        if out.iter().any(|t| t.name == name) {
            bail!("{}:{}: {l} is listed twice", file.display(), i + 1);
        }
        out.push(ZTest {
            name,
            group: group.clone(),
        });
    }
    if out.is_empty() {
        bail!("{}: no tests", file.display());
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Skip,
    Fail,
}

/// One line of `denylist.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deny {
    pub test: String,
    pub kernel: Option<String>,
    pub flavor: Option<String>,
    pub expect: Expect,
    pub reason: String,
}

impl Deny {
    fn applies(&self, test: &str, kernel: &str, flavor: &str) -> bool {
        self.test == test
            && self.kernel.as_deref().is_none_or(|k| k == kernel)
            && self.flavor.as_deref().is_none_or(|f| f == flavor)
    }
}

/// `denylist.txt`: `NAME [kernel=K] [flavor=F] skip|fail # reason`.
pub fn parse_denylist(text: &str, file: &Path, known: &[ZTest]) -> Result<Vec<Deny>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), i + 1);
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (body, reason) = match l.split_once('#') {
            Some((b, r)) if !r.trim().is_empty() => (b.trim(), r.trim().to_string()),
            _ => bail!("{}: every line needs `# reason`", at()),
        };
        let mut words = body.split_whitespace();
        let name = words
            .next()
            .with_context(|| format!("{}: no test name", at()))?;
        let test = full_name(name);
        if !known.iter().any(|t| t.name == test) {
            bail!("{}: {name} is not in curated.txt", at());
        }
        let (mut kernel, mut flavor, mut expect) = (None, None, None);
        for w in words {
            if let Some(k) = w.strip_prefix("kernel=") {
                kernel = Some(k.to_string());
            } else if let Some(f) = w.strip_prefix("flavor=") {
                flavor = Some(f.to_string());
            } else if w == "skip" {
                expect = Some(Expect::Skip);
            } else if w == "fail" {
                expect = Some(Expect::Fail);
            } else {
                bail!(
                    "{}: unknown word `{w}` (kernel=K, flavor=F, skip, fail)",
                    at()
                );
            }
        }
        let expect = expect.with_context(|| format!("{}: say `skip` or `fail`", at()))?;
        out.push(Deny {
            test,
            kernel,
            flavor,
            expect,
            reason,
        });
    }
    Ok(out)
}

/// The two lists, read and checked.
pub fn load_lists() -> Result<(Vec<ZTest>, Vec<Deny>)> {
    let dir = lists_dir();
    let cur = dir.join("curated.txt");
    let text =
        std::fs::read_to_string(&cur).with_context(|| format!("reading {}", cur.display()))?;
    let tests = parse_curated(&text, &cur)?;
    let den = dir.join("denylist.txt");
    let text =
        std::fs::read_to_string(&den).with_context(|| format!("reading {}", den.display()))?;
    let deny = parse_denylist(&text, &den, &tests)?;
    Ok((tests, deny))
}

/// What one lane runs.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The lane's name (`debian-6.12`, `patched`, `patched+crib`): what
    /// `kernel=` of the denylist matches.
    pub kernel: String,
    pub flavors: Vec<String>,
    /// At most this many tests of each group (CI), or all (`None`).
    pub per_group: Option<usize>,
    /// Only these tests (empty: all), whatever `per_group` says.
    pub only: Vec<String>,
}

/// One test in one flavor, and what the denylist says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub test: String,
    pub flavor: String,
    pub deny: Option<Deny>,
}

impl Case {
    pub fn command_name(&self) -> String {
        format!("{}:{}", self.test, self.flavor)
    }
}

/// The cases of a selection, in list order.
pub fn select(tests: &[ZTest], deny: &[Deny], sel: &Selection) -> Vec<Case> {
    let mut per: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for t in tests {
        if !sel.only.is_empty() {
            if !sel.only.contains(&t.name) {
                continue;
            }
        } else {
            let n = per.entry(t.group.as_str()).or_default();
            if sel.per_group.is_some_and(|max| *n >= max) {
                continue;
            }
            *n += 1;
        }
        for f in &sel.flavors {
            out.push(Case {
                test: t.name.clone(),
                flavor: f.clone(),
                deny: deny
                    .iter()
                    .find(|d| d.applies(&t.name, &sel.kernel, f))
                    .cloned(),
            });
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Crfail,
    Xfail,
    Skipped,
    Denied,
    Fail,
    Xpass,
    TimedOut,
}

impl Verdict {
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Xpass | Verdict::TimedOut)
    }
    /// What the per-kernel comparison compares (an xfail and a fail are
    /// the same outcome of the test itself).
    pub fn outcome(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Crfail => "crfail",
            Verdict::Xfail | Verdict::Fail => "fail",
            Verdict::Xpass => "pass",
            Verdict::Skipped => "skipped",
            Verdict::Denied => "denied",
            Verdict::TimedOut => "timed_out",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CaseResult {
    pub test: String,
    pub flavor: String,
    pub verdict: Verdict,
    pub seconds: f64,
    /// The deny reason, the failure's detail, or CRIU's log tail.
    pub note: String,
}

/// Whether the test's `.desc` in the tree marks it `crfail`.
pub fn is_crfail(tree: &Path, test: &str) -> bool {
    std::fs::read_to_string(tree.join("test").join(format!("{test}.desc")))
        .is_ok_and(|d| d.contains("crfail"))
}

/// The guest commands of a lane: copy the tree to the guest's tmpfs, `criu
/// check` (must say "Looks good."), `criu check --extra` (reported), then
/// one command per case that the denylist does not skip.
pub fn commands(
    b: &CriuBuild,
    cases: &[Case],
    plugin_dir: Option<&Path>,
    ignore_crfail: &[String],
) -> Vec<GuestCommand> {
    let q = crib_vmtest::job::sh_quote;
    let tree = "/tmp/criu";
    let criu = b.criu.display().to_string();
    let src = b.tree.display().to_string();
    let mut v = vec![
        GuestCommand {
            name: "zdtm/prepare".into(),
            command: format!(
                "rm -rf {tree} && mkdir -p {tree} && cd {s} && cp -a test lib crit scripts {tree}/",
                s = q(&src)
            ),
            timeout: Duration::from_secs(300),
        },
        GuestCommand {
            name: "criu/check".into(),
            command: format!(
                "out=$({c} check 2>&1); rc=$?; printf '%s\\n' \"$out\"; [ $rc -eq 0 ] && printf '%s' \"$out\" | grep -q 'Looks good.'",
                c = q(&criu)
            ),
            timeout: Duration::from_secs(120),
        },
        GuestCommand {
            // Reported, not gating: the features it lists and why.
            name: "criu/check-extra".into(),
            command: format!("{c} check --extra 2>&1; {c} check --all 2>&1; true", c = q(&criu)),
            timeout: Duration::from_secs(120),
        },
    ];
    let runner = lists_dir().join("run-one.sh").display().to_string();
    for c in cases {
        if c.deny.as_ref().is_some_and(|d| d.expect == Expect::Skip) {
            continue;
        }
        // CRIU finds plugins in CRIU_LIBS_DIR (zdtm sets it to its own
        // test/plugins; the crib plugin goes there when asked for).
        let plugin = match plugin_dir {
            Some(d) => format!(
                "cp {}/*.so {tree}/test/plugins/ && ",
                q(&d.display().to_string())
            ),
            None => String::new(),
        };
        // The kit's list may run a crfail test as an ordinary one (the
        // plugin lane: C/R must now succeed); the test is not edited.
        let extra = if ignore_crfail.contains(&c.test) {
            " --ignore-crfail"
        } else {
            ""
        };
        v.push(GuestCommand {
            name: c.command_name(),
            command: format!(
                "{plugin}{r} {tree} {c} {t} {f}{extra}",
                r = q(&runner),
                c = q(&criu),
                t = q(&c.test),
                f = q(&c.flavor)
            ),
            timeout: Duration::from_secs(240),
        });
    }
    v
}

/// Classify a boot's command results into case results.
pub fn verdicts(
    b: &CriuBuild,
    cases: &[Case],
    report: &BootReport,
    ignore_crfail: &[String],
) -> Vec<CaseResult> {
    cases
        .iter()
        .map(|c| {
            let base = |verdict, seconds, note: String| CaseResult {
                test: c.test.clone(),
                flavor: c.flavor.clone(),
                verdict,
                seconds,
                note,
            };
            if let Some(d) = c.deny.as_ref().filter(|d| d.expect == Expect::Skip) {
                return base(Verdict::Denied, 0.0, d.reason.clone());
            }
            let Some(r) = report.commands.iter().find(|r| r.name == c.command_name()) else {
                return base(Verdict::Fail, 0.0, "no result from the guest".into());
            };
            let tail = || {
                let lines: Vec<&str> = r.output.lines().collect();
                lines[lines.len().saturating_sub(12)..].join("\n")
            };
            let expect_fail = c.deny.as_ref().filter(|d| d.expect == Expect::Fail);
            let (verdict, note) = match (r.status, expect_fail) {
                (Status::Passed, None)
                    if is_crfail(&b.tree, &c.test) && !ignore_crfail.contains(&c.test) =>
                {
                    (
                        Verdict::Crfail,
                        "C/R failed, as CRIU expects (crfail in its .desc)".into(),
                    )
                }
                (Status::Passed, None) => (Verdict::Pass, String::new()),
                (Status::Passed, Some(d)) => (
                    Verdict::Xpass,
                    format!(
                        "passed, but denylist.txt expects it to fail ({}): remove the line",
                        d.reason
                    ),
                ),
                (Status::Skipped, _) => (Verdict::Skipped, skip_reason(&r.output)),
                (Status::TimedOut, _) => (
                    Verdict::TimedOut,
                    format!("{}\n{}", r.detail.clone().unwrap_or_default(), tail()),
                ),
                (_, Some(d)) => (Verdict::Xfail, d.reason.clone()),
                (st, None) => (
                    Verdict::Fail,
                    format!(
                        "{}{}\n{}",
                        st.label(),
                        r.detail
                            .as_deref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default(),
                        tail()
                    ),
                ),
            };
            base(verdict, r.seconds, note)
        })
        .collect()
}

fn skip_reason(output: &str) -> String {
    output
        .lines()
        .find(|l| l.starts_with("Skipping "))
        .unwrap_or("skipped by zdtm")
        .to_string()
}

/// Counts of a lane's results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub passed: usize,
    pub crfail: usize,
    pub xfail: usize,
    pub skipped: usize,
    pub denied: usize,
    pub failed: usize,
}

pub fn tally(results: &[CaseResult]) -> Tally {
    let mut t = Tally::default();
    for r in results {
        if r.verdict.is_failure() {
            t.failed += 1;
            continue;
        }
        match r.verdict {
            Verdict::Pass => t.passed += 1,
            Verdict::Crfail => t.crfail += 1,
            Verdict::Xfail => t.xfail += 1,
            Verdict::Skipped => t.skipped += 1,
            Verdict::Denied => t.denied += 1,
            Verdict::Fail | Verdict::Xpass | Verdict::TimedOut => {}
        }
    }
    t
}

/// Cases whose outcome differs between two lanes (same test and flavor).
pub fn differences(a: &[CaseResult], b: &[CaseResult]) -> Vec<String> {
    let mut out = Vec::new();
    for x in a {
        if let Some(y) = b.iter().find(|y| y.test == x.test && y.flavor == x.flavor) {
            if x.verdict.outcome() != y.verdict.outcome() {
                out.push(format!(
                    "{}:{}: {} vs {}",
                    x.test,
                    x.flavor,
                    x.verdict.outcome(),
                    y.verdict.outcome()
                ));
            }
        }
    }
    out
}

/// A fixed-width table of a lane's results (failures with their notes).
pub fn render(kernel: &str, results: &[CaseResult]) -> String {
    let t = tally(results);
    let mut s = format!(
        "\nZDTM on {kernel}: {} passed, {} crfail (CRIU's expected failures), {} xfail, {} skipped by zdtm, {} denied, {} FAILED\n",
        t.passed, t.crfail, t.xfail, t.skipped, t.denied, t.failed
    );
    for r in results.iter().filter(|r| r.verdict != Verdict::Pass) {
        let note = r.note.lines().next().unwrap_or_default();
        s.push_str(&format!(
            "  {:<44} {:<3} {:<10} {note}\n",
            r.test.trim_start_matches("zdtm/static/"),
            r.flavor,
            format!("{:?}", r.verdict).to_lowercase()
        ));
    }
    s
}

/// What one ZDTM lane boots and runs.
#[derive(Debug, Clone)]
pub struct LaneArgs {
    pub selection: Selection,
    /// The vmtest.toml target (kernel) to boot.
    pub boot: String,
    /// crfail tests this lane runs as ordinary ones (`--ignore-crfail`).
    pub ignore_crfail: Vec<String>,
    /// Load the crib CRIU plugin from this directory.
    pub plugin_dir: Option<PathBuf>,
    pub accel: Option<crib_vmtest::Accel>,
}

/// A finished lane.
#[derive(Debug, Clone)]
pub struct LaneRun {
    pub kernel: String,
    /// The lane ran with the crib plugin.
    pub plugin: bool,
    pub results: Vec<CaseResult>,
    pub run_dir: PathBuf,
    /// The boot failed, or `criu check` did not say "Looks good.".
    pub problem: Option<String>,
    pub seconds: f64,
}

/// Guest memory for ZDTM: the tree copy and the tests' dumps live in tmpfs.
const MEMORY_MIB: u32 = 2048;

/// Boot `kernel` (resolved from `a.selection.kernel`) once and run the
/// lane's commands in it.
pub fn run_lane(a: &LaneArgs, b: &CriuBuild, kernel: &crib_vmtest::Kernel) -> Result<LaneRun> {
    let clock = crate::vmtest::output::Clock::start();
    let (tests, deny) = load_lists()?;
    let cases = select(&tests, &deny, &a.selection);
    let kernel_name = &a.selection.kernel;
    let boot = &a.boot;
    let run_dir = crate::vmtest::output::new_run_dir(&format!("zdtm-{kernel_name}"))?;
    let cfg = crate::vmtest::load_config(Path::new("vmtest.toml"))?;
    let target = cfg
        .target(boot)
        .cloned()
        .unwrap_or(crib_vmtest::config::Target {
            name: boot.clone(),
            kernel: boot.clone(),
            memory: None,
            cpus: None,
            boot_timeout: None,
            cmdline: None,
            tcg_thread: None,
            command: None,
            timeout: None,
        });
    let mut plan = cfg.resolve(&target);
    plan.memory_mib = plan.memory_mib.max(MEMORY_MIB);
    plan.commands = commands(b, &cases, a.plugin_dir.as_deref(), &a.ignore_crfail);
    let (accel, why) = crate::vmtest::pick_accel(a.accel, kernel, &run_dir, &clock)?;
    clock.say(&format!(
        "zdtm {kernel_name}: {} case(s) ({} test(s) x {}), {} denied; booting",
        cases.len(),
        cases.len() / a.selection.flavors.len().max(1),
        a.selection.flavors.join(","),
        cases
            .iter()
            .filter(|c| c.deny.as_ref().is_some_and(|d| d.expect == Expect::Skip))
            .count()
    ));
    let det = crate::vmtest::detector()?;
    let dir = run_dir.join(kernel_name.replace('+', "-"));
    let report = crate::vmtest::boot_one(
        crate::vmtest::Runner::Qemu,
        kernel,
        &plan,
        &crate::vmtest::job_for(&plan),
        accel,
        &dir,
        &det,
    )?;
    crate::vmtest::output::write_results(
        &run_dir,
        std::slice::from_ref(&report),
        accel.name(),
        &why,
        &clock,
    )?;
    let check = report.commands.iter().find(|c| c.name == "criu/check");
    let problem = report.boot_problem().or_else(|| match check {
        Some(c) if c.status == Status::Passed => None,
        Some(c) => Some(format!(
            "criu check did not say \"Looks good.\" ({}): {}",
            c.status.label(),
            c.output
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )),
        None => Some("criu check did not run".into()),
    });
    let results = verdicts(b, &cases, &report, &a.ignore_crfail);
    let json = serde_json::json!({
        "kernel": kernel_name,
        "criu": b.key,
        "flavors": a.selection.flavors,
        "per_group": a.selection.per_group,
        "plugin": a.plugin_dir,
        "problem": problem,
        "tally": tally(&results),
        "results": results,
        "criu_check_extra": report.commands.iter().find(|c| c.name == "criu/check-extra").map(|c| c.output.clone()),
    });
    std::fs::write(
        run_dir.join("zdtm.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    std::fs::write(run_dir.join("zdtm-junit.xml"), junit(kernel_name, &results))?;
    print!("{}", render(kernel_name, &results));
    if let Some(c) = report
        .commands
        .iter()
        .find(|c| c.name == "criu/check-extra")
    {
        for l in check_extra_findings(&c.output) {
            println!("  criu check --extra/--all: {l}");
        }
    }
    if let Some(p) = &problem {
        println!("  problem: {p}");
    }
    Ok(LaneRun {
        kernel: kernel_name.clone(),
        plugin: a.plugin_dir.is_some(),
        results,
        run_dir,
        problem,
        seconds: clock.secs(),
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .chars()
        .map(|c| {
            if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// The warnings and errors of `criu check --extra` and `--all` (what the
/// kernel lacks for CRIU's optional features), each once.
pub fn check_extra_findings(output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in output.lines() {
        let l = l.trim();
        if !(l.starts_with("Warn") || l.starts_with("Error")) {
            continue;
        }
        // "Warn  (criu/cr-check.c:1165): Loginuid restore is OFF." -> the message.
        let msg = l.split_once("): ").map(|(_, m)| m).unwrap_or(l).to_string();
        if !out.contains(&msg) {
            out.push(msg);
        }
    }
    out
}

/// JUnit XML: one testcase per test and flavor.
pub fn junit(kernel: &str, results: &[CaseResult]) -> String {
    let t = tally(results);
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"zdtm/{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        xml(kernel),
        results.len(),
        t.failed,
        t.skipped + t.denied
    );
    for r in results {
        s.push_str(&format!(
            "    <testcase classname=\"zdtm.{}\" name=\"{}:{}\" time=\"{:.3}\">",
            xml(kernel),
            xml(&r.test),
            xml(&r.flavor),
            r.seconds
        ));
        match r.verdict {
            Verdict::Pass | Verdict::Crfail | Verdict::Xfail => {}
            Verdict::Skipped | Verdict::Denied => {
                s.push_str(&format!("<skipped message=\"{}\"/>", xml(&r.note)))
            }
            v => s.push_str(&format!(
                "<failure message=\"{:?}\">{}</failure>",
                v,
                xml(&r.note)
            )),
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("curated.txt")
    }

    #[test]
    fn curated_groups_and_errors() {
        let t = parse_curated(
            "# head comment\n\n# files\nfd\nfd01\n\n# pipes\npipe00\n",
            p(),
        )
        .expect("parse");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].group, "files");
        assert_eq!(t[2].name, "zdtm/static/pipe00");
        assert_eq!(t[2].group, "pipes");
        let e = parse_curated("fd\nfd\n", p()).expect_err("twice");
        assert!(
            e.to_string().contains("curated.txt:2: fd is listed twice"),
            "{e}"
        );
        let e = parse_curated("f d\n", p()).expect_err("space");
        assert!(e.to_string().contains("not a ZDTM test name"), "{e}");
        assert!(parse_curated("# only a comment\n", p()).is_err());
    }

    #[test]
    fn denylist_lines_need_a_reason_and_a_known_test() {
        let known = parse_curated("fd\npipe00\n", p()).expect("parse");
        let d = parse_denylist(
            "# c\nfd kernel=debian-6.12 flavor=ns fail # no nft in the guest\npipe00 skip # slow\n",
            Path::new("denylist.txt"),
            &known,
        )
        .expect("parse");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kernel.as_deref(), Some("debian-6.12"));
        assert_eq!(d[0].expect, Expect::Fail);
        assert!(d[0].applies("zdtm/static/fd", "debian-6.12", "ns"));
        assert!(!d[0].applies("zdtm/static/fd", "patched", "ns"));
        for bad in [
            "fd fail\n",
            "nosuch skip # r\n",
            "fd maybe # r\n",
            "fd kernel=x # r\n",
        ] {
            assert!(
                parse_denylist(bad, Path::new("d"), &known).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn selection_takes_a_prefix_of_each_group_per_flavor() {
        let t = parse_curated("# a\nx1\nx2\nx3\n\n# b\ny1\n", p()).expect("parse");
        let sel = Selection {
            kernel: "patched".into(),
            flavors: vec!["h".into(), "ns".into()],
            per_group: Some(2),
            only: vec![],
        };
        let c = select(&t, &[], &sel);
        let names: Vec<String> = c.iter().map(Case::command_name).collect();
        assert_eq!(
            names,
            [
                "zdtm/static/x1:h",
                "zdtm/static/x1:ns",
                "zdtm/static/x2:h",
                "zdtm/static/x2:ns",
                "zdtm/static/y1:h",
                "zdtm/static/y1:ns"
            ]
        );
    }

    #[test]
    fn the_committed_lists_hold_at_least_100_tests_and_parse() {
        let (tests, deny) = load_lists().unwrap_or_else(|e| panic!("{e:#}"));
        assert!(tests.len() >= 100, "{} tests", tests.len());
        assert!(tests
            .iter()
            .any(|t| t.name == "zdtm/static/socket_udp-corked"));
        // socket_udp-corked must run (its crfail is the baseline), never be skipped.
        assert!(!deny
            .iter()
            .any(|d| d.test == "zdtm/static/socket_udp-corked" && d.expect == Expect::Skip));
    }

    #[test]
    fn outcomes_compare_across_kernels() {
        let r = |t: &str, v| CaseResult {
            test: t.into(),
            flavor: "h".into(),
            verdict: v,
            seconds: 0.0,
            note: String::new(),
        };
        let a = [
            r("x", Verdict::Pass),
            r("y", Verdict::Xfail),
            r("z", Verdict::Crfail),
        ];
        let b = [
            r("x", Verdict::Fail),
            r("y", Verdict::Fail),
            r("z", Verdict::Crfail),
        ];
        assert_eq!(differences(&a, &b), ["x:h: pass vs fail"]);
    }

    #[test]
    fn check_extra_findings_are_deduplicated() {
        let out = "Warn  (criu/cr-check.c:1165): Loginuid restore is OFF.\nLooks good but\nWarn  (criu/cr-check.c:1165): Loginuid restore is OFF.\nError (criu/cr-check.c:1007): failed to mount autofs: No such device\n";
        assert_eq!(
            check_extra_findings(out),
            [
                "Loginuid restore is OFF.",
                "failed to mount autofs: No such device"
            ]
        );
    }

    proptest! {
        #[test]
        fn list_parsers_never_panic(text in "[ -~\n]{0,300}") {
            let _ = parse_curated(&text, p());
            let known = parse_curated("fd\n", p()).expect("parse");
            let _ = parse_denylist(&text, p(), &known);
        }
    }
}
