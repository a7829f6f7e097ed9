//! `cargo xtask bench compat`: `crib compat` on the three corpus kernels
//! against `bpftool btf dump file X` of each, in the same run.
//!
//! The corpus is decompressed once beforehand (not timed); both tools then
//! read the same raw BTF files. Runs are interleaved so machine noise hits
//! both alike; we print median, min and max, and the ratio of the whole
//! 3-kernel check to bpftool's dump of one kernel (target: below 1).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CORPUS: [&str; 3] = [
    "btf-6.1.0-56-cloud-amd64.raw.xz",
    "btf-6.12.117+deb12-cloud-amd64.raw.xz",
    "btf-6.18.44-host.raw.xz",
];

#[derive(clap::Args)]
pub struct Args {
    /// Timed runs of each command.
    #[arg(long, default_value_t = 15)]
    pub runs: usize,
    /// Corpus directory (default: $CRIB_BTF_CORPUS or ../shared/btf).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            runs: 15,
            corpus: None,
        }
    }
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn time(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    let d = start.elapsed();
    // crib compat exits 1 on incompatibilities; only 2+ is an error.
    if st.code().is_none_or(|c| c >= 2) {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(d)
}

fn corpus_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("CRIB_BTF_CORPUS").map(PathBuf::from))
        .unwrap_or_else(|| crate::workspace_root().join("../shared/btf"))
}

/// Decompress the corpus into `dir` (untimed); returns the raw files.
fn prepare(corpus: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    CORPUS
        .iter()
        .map(|f| {
            let src = corpus.join(f);
            let btf = crib_btf::load(&src).context(
                "corpus kernel missing or bad (build one with `cargo xtask btf-corpus`)",
            )?;
            let dst = dir.join(f.trim_end_matches(".xz"));
            std::fs::write(&dst, btf.bytes())?;
            Ok(dst)
        })
        .collect()
}

pub fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    crate::deps::ensure(&["bpftool"])?;
    let root = crate::workspace_root();
    let raw = prepare(&corpus_dir(args.corpus), &root.join("target/bench-compat"))?;
    eprintln!("[bench compat] building crib (release)");
    let st = Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "crib-cli",
            "--bin",
            "crib",
        ])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !st.success() {
        bail!("cargo build --release -p crib-cli failed");
    }
    let crib = root.join("target/release/crib");
    let crib_cmd = || {
        let mut c = Command::new(&crib);
        c.arg("compat").arg("--spec").arg(root.join("kfunc-specs"));
        for r in &raw {
            c.arg("--kernel").arg(r);
        }
        c
    };
    // Warm the page cache and check both commands work.
    time(&mut crib_cmd())?;
    for r in &raw {
        time(Command::new("bpftool").args(["btf", "dump", "file"]).arg(r))?;
    }
    let mut crib_t = Vec::new();
    let mut bpftool_t: Vec<Vec<Duration>> = vec![Vec::new(); raw.len()];
    for _ in 0..args.runs {
        crib_t.push(time(&mut crib_cmd())?);
        for (i, r) in raw.iter().enumerate() {
            bpftool_t[i].push(time(
                Command::new("bpftool").args(["btf", "dump", "file"]).arg(r),
            )?);
        }
    }
    let c = stats(crib_t);
    println!("bench compat: {} runs each, interleaved", args.runs);
    println!(
        "  crib compat, 3 kernels + spec      median {}  (min {}, max {})",
        ms(c.median),
        ms(c.min),
        ms(c.max)
    );
    let mut fastest = Duration::MAX;
    for (r, t) in raw.iter().zip(bpftool_t) {
        let s = stats(t);
        fastest = fastest.min(s.median);
        let name = r
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        println!(
            "  bpftool btf dump file {name:<38} median {}  (min {}, max {})",
            ms(s.median),
            ms(s.min),
            ms(s.max)
        );
    }
    let ratio = c.median.as_secs_f64() / fastest.as_secs_f64();
    println!(
        "  ratio: crib (3 kernels) / bpftool (fastest single kernel) = {ratio:.2}  -> target {}",
        if ratio < 1.0 { "met" } else { "MISSED" }
    );
    Ok(())
}
