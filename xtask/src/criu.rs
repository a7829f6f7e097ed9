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
    /// Kernels (repeatable; default: debian-6.12 and patched).
    #[arg(long = "kernel", value_name = "KERNEL")]
    pub kernels: Vec<String>,
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
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneShapes {
    pub kernels: Vec<String>,
    pub ci: LaneShape,
    pub full: LaneShape,
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
    let kernels = if a.kernels.is_empty() {
        shapes.kernels.clone()
    } else {
        a.kernels.clone()
    };
    let flavors = if a.flavors.is_empty() {
        shape.flavors.clone()
    } else {
        a.flavors.clone()
    };
    let accel = match a.accel.as_str() {
        "auto" => None,
        x => Some(x.parse().map_err(anyhow::Error::msg)?),
    };
    crate::deps::ensure(crate::deps::VM)?;
    let b = build::ensure_built(None)?;
    // Kernels first, one at a time (the patched one may need a build),
    // then the boots side by side: each guest's TCG runs on one host thread.
    let clock = crate::vmtest::output::Clock::start();
    let resolved: Vec<(String, crib_vmtest::Kernel)> = kernels
        .iter()
        .map(|k| Ok((k.clone(), crate::vmtest::resolve_kernel(k, &clock)?)))
        .collect::<Result<_>>()?;
    // One accelerator for every lane (a KVM probe from each thread at once
    // would race on the cached verdict).
    let accel = match (accel, resolved.first()) {
        (None, Some((_, k))) => {
            let dir = crate::vmtest::output::new_run_dir("zdtm-accel")?;
            Some(crate::vmtest::pick_accel(None, k, &dir, &clock)?.0)
        }
        (a, _) => a,
    };
    let lane = |k: &String| zdtm::LaneArgs {
        selection: zdtm::Selection {
            kernel: k.clone(),
            flavors: flavors.clone(),
            per_group: shape.per_group,
            only: a
                .tests
                .iter()
                .map(|t| {
                    if t.starts_with("zdtm/") {
                        t.clone()
                    } else {
                        format!("zdtm/static/{t}")
                    }
                })
                .collect(),
        },
        plugin_dir: None,
        accel,
    };
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::new();
    for chunk in resolved.chunks(parallel.max(1)) {
        let results: Vec<Result<zdtm::LaneRun>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(k, kernel)| {
                    let args = lane(k);
                    let b = &b;
                    s.spawn(move || zdtm::run_lane(&args, b, kernel))
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

/// Lines that say what differs between the first run and each other one.
pub fn kernel_differences(runs: &[zdtm::LaneRun]) -> Vec<String> {
    let Some((first, rest)) = runs.split_first() else {
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
            let n = pin::series(&crate::workspace_root())?.len();
            for upto in 0..=n {
                let b = build::ensure_built(Some(upto))?;
                println!("criu + {upto} of {n} patch(es): builds ({})", b.key);
            }
            Ok(())
        }
    }
}
