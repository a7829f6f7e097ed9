//! `cargo xtask criu ...`: CRIU 4.2 from Debian's source, built with the
//! kit's own patches (`crates/crib-criu/patches/`), cached outside the
//! repository and never put on the system PATH; its `criu check` and its
//! own ZDTM suite in the VM lanes.
//!
//! - `criu build [--upto N]`: fetch, verify, patch, build, cache ([`build`]).
//! - `criu check-patches`: every prefix of the series applies and builds.
//! - `criu zdtm [--kernel K]... [--full]`: CRIU's ZDTM suite in VM lanes
//!   ([`zdtm`]), with the per-kernel comparison.

pub mod build;
pub mod pin;
pub mod plugin;
pub mod zdtm;

use anyhow::Result;

/// The environment variable that hands the kit's CRIU to tests and
/// benchmarks (`tests/src/zdtm/criu.rs`, `crates/crib-bench/src/criu.rs`).
pub const CRIU_ENV: &str = "CRIB_CRIU";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Build CRIU (cached by tarball + patches + compiler) and print where.
    Build {
        /// Apply only the first N patches of the series (0: stock CRIU).
        #[arg(long)]
        upto: Option<usize>,
    },
    /// Check the CRIU series: every prefix applies and builds.
    CheckPatches,
    /// Run CRIU's ZDTM suite (tests/zdtm/criu/curated.txt minus the
    /// denylist) in VM lanes and compare the kernels' verdicts.
    Zdtm(ZdtmArgs),
}

#[derive(clap::Args, Clone)]
pub struct ZdtmArgs {
    /// Lanes (repeatable; default: every lane of tests/zdtm/criu/lanes.toml:
    /// debian-6.12, patched, patched-7.3, and patched+crib with the crib
    /// plugin).
    #[arg(long = "lane", value_name = "LANE")]
    pub lanes: Vec<String>,
    /// Every curated test in every flavor (default: the CI part,
    /// tests/zdtm/criu/lanes.toml).
    #[arg(long)]
    pub full: bool,
    /// Flavors (comma-separated), instead of the lane's.
    #[arg(long, value_delimiter = ',')]
    pub flavors: Vec<String>,
    /// Only these curated tests (repeatable; `env00` or `zdtm/static/env00`).
    #[arg(long = "test", short = 't', value_name = "NAME")]
    pub tests: Vec<String>,
    /// auto | kvm | tcg
    #[arg(long, default_value = "auto")]
    pub accel: String,
}

/// The CI and full shapes of the ZDTM lanes (`tests/zdtm/criu/lanes.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneShape {
    pub flavors: Vec<String>,
    /// Tests per group of curated.txt (absent: all).
    pub per_group: Option<usize>,
    /// A smaller sample on these kernels (lane name -> tests per group).
    #[serde(default)]
    pub per_group_on: std::collections::BTreeMap<String, usize>,
}

impl LaneShape {
    /// Tests per group on the lane of kernel `k`.
    pub fn per_group_for(&self, k: &str) -> Option<usize> {
        self.per_group_on.get(k).copied().or(self.per_group)
    }
}

/// The lane with the crib CRIU plugin loaded.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLane {
    /// Lane name (denylist `kernel=`), e.g. `patched+crib`.
    pub name: String,
    /// The kernel it boots (the CRIB kfuncs are needed).
    pub kernel: String,
    /// Flavors with `--full`.
    pub flavors: Vec<String>,
    /// Flavors in the CI part (absent: `flavors`).
    #[serde(default)]
    pub ci_flavors: Option<Vec<String>>,
    /// Its tests: curated names (CI and full alike).
    pub tests: Vec<String>,
    /// crfail tests it runs as ordinary ones (the plugin makes C/R work).
    pub ignore_crfail: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneShapes {
    pub kernels: Vec<String>,
    pub ci: LaneShape,
    pub full: LaneShape,
    pub plugin: PluginLane,
}

pub fn lane_shapes() -> Result<LaneShapes> {
    let p = zdtm::lists_dir().join("lanes.toml");
    let text =
        std::fs::read_to_string(&p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.message()))
}

/// Run the ZDTM lanes; `Err` when a lane could not run. The runs are
/// returned for the caller's verdict (failures, per-kernel differences).
pub fn zdtm_lanes(a: &ZdtmArgs) -> Result<Vec<zdtm::LaneRun>> {
    let shapes = lane_shapes()?;
    let shape = if a.full { &shapes.full } else { &shapes.ci };
    let accel = match a.accel.as_str() {
        "auto" => None,
        x => Some(x.parse().map_err(anyhow::Error::msg)?),
    };
    let only: Vec<String> = a.tests.iter().map(|t| zdtm::full_name(t)).collect();
    // A --test that names nothing would run an empty lane and pass.
    let (curated, _) = zdtm::load_lists()?;
    for t in &only {
        let plugin_test = shapes.plugin.tests.iter().any(|p| zdtm::full_name(p) == *t);
        if !plugin_test && !curated.iter().any(|c| c.name == *t) {
            anyhow::bail!(
                "--test {t}: not in tests/zdtm/criu/curated.txt nor the plugin lane's tests (lanes.toml); the kit's own are zdtm/crib/NAME"
            );
        }
    }
    // The lanes: each stock kernel without the plugin, then the plugin lane.
    let all: Vec<String> = shapes
        .kernels
        .iter()
        .cloned()
        .chain(std::iter::once(shapes.plugin.name.clone()))
        .collect();
    let wanted: Vec<String> = if a.lanes.is_empty() {
        all.clone()
    } else {
        for l in &a.lanes {
            if !all.contains(l) {
                anyhow::bail!(
                    "--lane {l}: tests/zdtm/criu/lanes.toml has {}",
                    all.join(", ")
                );
            }
        }
        a.lanes.clone()
    };
    let mut lanes: Vec<zdtm::LaneArgs> = Vec::new();
    for k in shapes.kernels.iter().filter(|k| wanted.contains(k)) {
        lanes.push(zdtm::LaneArgs {
            selection: zdtm::Selection {
                kernel: k.clone(),
                flavors: if a.flavors.is_empty() {
                    shape.flavors.clone()
                } else {
                    a.flavors.clone()
                },
                per_group: shape.per_group_for(k),
                only: only.clone(),
            },
            boot: k.clone(),
            ignore_crfail: vec![],
            plugin_dir: None,
            accel,
        });
    }
    if wanted.contains(&shapes.plugin.name) {
        let p = &shapes.plugin;
        let dir = plugin::build(false)?;
        lanes.push(zdtm::LaneArgs {
            selection: zdtm::Selection {
                kernel: p.name.clone(),
                flavors: if !a.flavors.is_empty() {
                    a.flavors.clone()
                } else if a.full {
                    p.flavors.clone()
                } else {
                    p.ci_flavors.clone().unwrap_or_else(|| p.flavors.clone())
                },
                per_group: None,
                only: if only.is_empty() {
                    p.tests.iter().map(|t| zdtm::full_name(t)).collect()
                } else {
                    only.clone()
                },
            },
            boot: p.kernel.clone(),
            ignore_crfail: p.ignore_crfail.iter().map(|t| zdtm::full_name(t)).collect(),
            plugin_dir: Some(dir),
            accel,
        });
    }
    crate::deps::ensure(crate::deps::VM)?;
    let b = build::ensure_built(None)?;
    // Kernels first, one at a time (the patched one may need a build),
    // then the boots side by side: each guest's TCG runs on one host thread.
    let clock = crate::vmtest::output::Clock::start();
    let mut kernels: Vec<(String, crib_vmtest::Kernel)> = Vec::new();
    for l in &lanes {
        if !kernels.iter().any(|(n, _)| *n == l.boot) {
            kernels.push((
                l.boot.clone(),
                crate::vmtest::resolve_kernel(&l.boot, &clock)?,
            ));
        }
    }
    // One accelerator for every lane (a KVM probe from each thread at once
    // would race on the cached verdict).
    let accel = match (accel, kernels.first()) {
        (None, Some((_, k))) => {
            let dir = crate::vmtest::output::new_run_dir("zdtm-accel")?;
            Some(crate::vmtest::pick_accel(None, k, &dir, &clock)?.0)
        }
        (a, _) => a,
    };
    for l in &mut lanes {
        l.accel = accel;
    }
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::new();
    for chunk in lanes.chunks(parallel.max(1)) {
        let results: Vec<Result<zdtm::LaneRun>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|l| {
                    let kernel = kernels.iter().find(|(n, _)| *n == l.boot).map(|(_, k)| k);
                    let b = &b;
                    s.spawn(move || match kernel {
                        Some(k) => zdtm::run_lane(l, b, k),
                        None => Err(anyhow::anyhow!("kernel {} not resolved", l.boot)),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a ZDTM lane thread panicked")))
                })
                .collect()
        });
        for r in results {
            runs.push(r?);
        }
    }
    Ok(runs)
}

/// Lines that say what differs between the first stock lane and each
/// other stock lane (the plugin lane differs by design: it makes crfail
/// tests pass).
pub fn kernel_differences(runs: &[zdtm::LaneRun]) -> Vec<String> {
    let stock: Vec<&zdtm::LaneRun> = runs.iter().filter(|r| !r.plugin).collect();
    let Some((first, rest)) = stock.split_first() else {
        return Vec::new();
    };
    rest.iter()
        .flat_map(|r| {
            zdtm::differences(&first.results, &r.results)
                .into_iter()
                .map(move |d| format!("{} vs {}: {d}", first.kernel, r.kernel))
        })
        .collect()
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Build { upto } => {
            let b = build::ensure_built(upto)?;
            println!(
                "criu {} ({} patch(es) of the kit)",
                b.criu.display(),
                b.patches
            );
            println!("tree {}", b.tree.display());
            println!("plugins {}", b.plugin_dir.display());
            println!("crit {}", b.crit().join(" "));
            Ok(())
        }
        Cmd::Zdtm(z) => {
            let runs = zdtm_lanes(&z)?;
            let diffs = kernel_differences(&runs);
            let mut bad = Vec::new();
            for r in &runs {
                println!(
                    "{}: {:.0} s, results in {}",
                    r.kernel,
                    r.seconds,
                    r.run_dir.display()
                );
                let t = zdtm::tally(&r.results);
                if t.failed > 0 {
                    bad.push(format!("{}: {} failed", r.kernel, t.failed));
                }
                if let Some(p) = &r.problem {
                    bad.push(format!("{}: {p}", r.kernel));
                }
            }
            for d in &diffs {
                println!("verdict differs: {d}");
                bad.push(d.clone());
            }
            if !bad.is_empty() {
                anyhow::bail!("ZDTM: {}", bad.join("; "));
            }
            Ok(())
        }
        Cmd::CheckPatches => {
            let series = pin::series(&crate::workspace_root())?;
            let n = series.len();
            // The kernel's checkpatch.pl (CRIU follows the kernel's style).
            let (ktree, _) = crate::kernel::apply_only(None)?;
            let script = ktree.join("scripts/checkpatch.pl");
            let mut bad = Vec::new();
            for p in &series {
                let problems = crate::patches::checkpatch_foreign(&script, p)?;
                if problems.is_empty() {
                    println!("checkpatch ok   {}", p.name);
                } else {
                    println!("checkpatch FAIL {}", p.name);
                    for l in &problems {
                        println!("    {l}");
                    }
                    bad.push(p.name.clone());
                }
            }
            for upto in 0..=n {
                let b = build::ensure_built(Some(upto))?;
                println!(
                    "criu + {upto} of {n} patch(es): applies and builds ({})",
                    b.key
                );
            }
            if !bad.is_empty() {
                anyhow::bail!("checkpatch findings in {}", bad.join(", "));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_lanes_give_patched_7_3_a_smaller_ci_sample() {
        let s = lane_shapes().expect("tests/zdtm/criu/lanes.toml parses");
        assert!(s.kernels.iter().any(|k| k == "patched-7.3"));
        let ci = s.ci.per_group.expect("CI is a sample");
        let on_7_3 = s.ci.per_group_for("patched-7.3").expect("sample");
        assert!(on_7_3 < ci, "{on_7_3} vs {ci}");
        assert_eq!(s.ci.per_group_for("patched"), Some(ci));
        assert_eq!(s.full.per_group_for("patched-7.3"), None, "--full runs all");
        // The plugin lane's CI flavors are a part of what --full runs.
        let ci_flavors = s.plugin.ci_flavors.as_ref().expect("a CI part");
        assert!(!ci_flavors.is_empty() && ci_flavors.len() < s.plugin.flavors.len());
        assert!(ci_flavors.iter().all(|f| s.plugin.flavors.contains(f)));
    }

    #[test]
    fn an_unknown_key_in_a_lane_shape_is_an_error() {
        let e = toml::from_str::<LaneShape>("flavors = [\"h\"]\nper_grup = 3\n").expect_err("typo");
        assert!(e.to_string().contains("per_grup"), "{e}");
    }
}
