//! `crib_verifier`: the CRIB verifier accept/reject suite (`tests/verifier/`).
//!
//! `build --vmlinux <CRIB vmlinux>` (host) compiles every program;
//! `run` (inside a VM booted on the CRIB kernel) loads each program as the
//! program types its header names, checks the verifier's verdict (and log
//! message for rejects), runs accepted ones through BPF_PROG_RUN where asked,
//! checks the test_run policy of CRIB programs, and prints a pass/fail table.

mod build;
mod directives;
mod fixture;
mod load;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use directives::{Directives, ProgType, Verdict};
use load::{LoadResult, RunAttrs};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "crib_verifier", about = "CRIB verifier accept/reject suite")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Dump vmlinux.h from a CRIB kernel and compile every program.
    Build {
        /// vmlinux of the CRIB kernel (from `cargo xtask kernel build`).
        #[arg(long)]
        vmlinux: PathBuf,
        #[arg(long, default_value_os_t = default_objs())]
        out: PathBuf,
    },
    /// Build from the running kernel's BTF into OUT, then run (in the VM).
    All {
        #[arg(long, default_value = "/tmp/crib-verifier")]
        out: PathBuf,
    },
    /// Load and run every compiled program against the running kernel.
    Run {
        #[arg(long, default_value_os_t = default_objs())]
        objs: PathBuf,
    },
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn progs_dir() -> PathBuf {
    manifest_dir().join("verifier/progs")
}

fn default_objs() -> PathBuf {
    manifest_dir().join("../target/crib-verifier")
}

fn main() -> std::process::ExitCode {
    // Verifier logs are captured per program; libbpf's own chatter is noise.
    libbpf_rs::set_print(None);
    match dispatch(Cli::parse().cmd) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("crib_verifier: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<bool> {
    match cmd {
        Cmd::Build { vmlinux, out } => {
            let kfuncs = manifest_dir().join("../bpf/include");
            let objs = build::build(&vmlinux, &progs_dir(), &kfuncs, &out)?;
            println!("built {} programs into {}", objs.len(), out.display());
            Ok(true)
        }
        Cmd::All { out } => {
            let kfuncs = manifest_dir().join("../bpf/include");
            let btf = Path::new("/sys/kernel/btf/vmlinux");
            let objs = build::build(btf, &progs_dir(), &kfuncs, &out)?;
            println!("built {} programs into {}", objs.len(), out.display());
            run_all(&out)
        }
        Cmd::Run { objs } => run_all(&objs),
    }
}

struct Row {
    pass: bool,
    ty: String,
    name: String,
    detail: String,
}

fn run_all(objs: &Path) -> Result<bool> {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        anyhow::bail!("/sys/kernel/btf/vmlinux missing: not a BTF kernel");
    }
    let fx = fixture::Fixture::new()?;
    let ctx = fx.ctx()?;
    let skb_info_version = skb_info_version()?;
    println!("kernel: struct bpf_crib_skb_info version {skb_info_version}");
    let mut rows = Vec::new();
    for src in build::sources(&progs_dir())? {
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text =
            std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
        let d = match directives::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                rows.push(Row {
                    pass: false,
                    ty: "-".into(),
                    name,
                    detail: format!("bad header: {e}"),
                });
                continue;
            }
        };
        let obj = objs.join(build::object_name(&src));
        for &ty in &d.types {
            let (pass, detail) = match check_one(&obj, ty, &d, &fx, &ctx, skb_info_version) {
                Ok(r) => r,
                Err(e) => (false, format!("{e:#}")),
            };
            rows.push(Row {
                pass,
                ty: ty.to_string(),
                name: name.clone(),
                detail,
            });
        }
    }
    rows.extend(test_run_policy(objs, &ctx));

    println!("{:<5} {:<13} {:<32} detail", "", "type", "program");
    for r in &rows {
        let s = if r.pass { "PASS" } else { "FAIL" };
        println!("{s:<5} {:<13} {:<32} {}", r.ty, r.name, r.detail);
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!(
        "{} checks: {} passed, {failed} failed",
        rows.len(),
        rows.len() - failed
    );
    Ok(failed == 0)
}

fn check_one(
    obj: &Path,
    ty: ProgType,
    d: &Directives,
    fx: &fixture::Fixture,
    ctx: &fixture::TestCtx,
    skb_info_version: u32,
) -> Result<(bool, String)> {
    let (run, expect_rfd) = d.expected(skb_info_version);
    if !obj.is_file() {
        anyhow::bail!(
            "{}: not built (crib_verifier build --vmlinux ...)",
            obj.display()
        );
    }
    let sleepable = d.sleepable && ty != ProgType::SocketFilter;
    let res = load::load(obj, ty, sleepable)?;
    Ok(match (&d.verdict, res) {
        (Verdict::Accept, LoadResult::Accepted(prog)) => match run {
            None => (true, "accepted".into()),
            Some(want) => {
                fx.drain_restored()?;
                let got = load::test_run(
                    prog.fd()?,
                    RunAttrs {
                        ctx_in: Some(&ctx.bytes()),
                        ..Default::default()
                    },
                );
                match got {
                    Err(errno) => (
                        false,
                        format!("accepted, but BPF_PROG_RUN failed: errno {errno}"),
                    ),
                    Ok(v) if v != want => {
                        (false, format!("accepted, ran, returned {v} (want {want})"))
                    }
                    Ok(_) => match (fx.check_pipe(), expect_rfd) {
                        (Err(e), _) => (false, format!("ran -> {want}, but {e:#}")),
                        (Ok(()), rfd) => match rfd {
                            None => (true, format!("accepted, ran -> {want}")),
                            Some(n) => {
                                let got = fx.drain_restored()?;
                                if got == n {
                                    (true, format!("accepted, ran -> {want}, {n} datagram(s) restored as expected"))
                                } else {
                                    (false, format!("ran -> {want}, but {got} datagram(s) restored (want {n})"))
                                }
                            }
                        },
                    },
                }
            }
        },
        (Verdict::Accept, LoadResult::Rejected { error, log }) => {
            (false, format!("rejected ({error}): {}", log_tail(&log)))
        }
        (Verdict::Reject(want), LoadResult::Rejected { log, .. }) => {
            // `A || B`: kernels word the same refusal differently (7.x
            // added hints such as "resource-owning pointer").
            if want.split(" || ").any(|w| log.contains(w)) {
                (true, format!("rejected: {want}"))
            } else {
                (
                    false,
                    format!("rejected, but log lacks `{want}`: {}", log_tail(&log)),
                )
            }
        }
        (Verdict::Reject(want), LoadResult::Accepted(_)) => {
            (false, format!("accepted, expected a rejection (`{want}`)"))
        }
    })
}

/// Which version of `struct bpf_crib_skb_info` the running kernel has
/// (by its size in the kernel's BTF).
fn skb_info_version() -> Result<u32> {
    use libbpf_rs::btf::{types::Struct, Btf, HasSize};
    let btf = Btf::from_vmlinux().context("reading /sys/kernel/btf/vmlinux")?;
    let s: Struct<'_> = btf
        .type_by_name("bpf_crib_skb_info")
        .context("kernel BTF has no struct bpf_crib_skb_info: not a CRIB kernel")?;
    match s.size() {
        40 => Ok(1),
        48 => Ok(2),
        n => anyhow::bail!("struct bpf_crib_skb_info is {n} bytes: unknown version"),
    }
}

/// The CRIB test_run takes ctx_in and nothing else, and no shorter ctx
/// than the program reads.
fn test_run_policy(objs: &Path, ctx: &fixture::TestCtx) -> Vec<Row> {
    let obj = objs.join("sock_from_file.bpf.o");
    let row = |pass: bool, name: &str, detail: String| Row {
        pass,
        ty: "crib".into(),
        name: format!("test_run: {name}"),
        detail,
    };
    let prog = match load::load(&obj, ProgType::Crib, true) {
        Ok(LoadResult::Accepted(p)) => p,
        Ok(LoadResult::Rejected { error, .. }) => {
            return vec![row(
                false,
                "policy",
                format!("sock_from_file.bpf.o not accepted: {error}"),
            )]
        }
        Err(e) => return vec![row(false, "policy", format!("{e:#}"))],
    };
    let fd = match prog.fd() {
        Ok(fd) => fd,
        Err(e) => return vec![row(false, "policy", format!("{e:#}"))],
    };
    let bytes = ctx.bytes();
    let data = [0u8; 64];
    let mut out = vec![0u8; bytes.len()];
    let cases: Vec<(&str, RunAttrs<'_>)> = vec![
        (
            "data_in",
            RunAttrs {
                ctx_in: Some(&bytes),
                data_in: Some(&data),
                ..Default::default()
            },
        ),
        (
            "ctx_out",
            RunAttrs {
                ctx_in: Some(&bytes),
                ctx_out: Some(&mut out),
                ..Default::default()
            },
        ),
        (
            "repeat",
            RunAttrs {
                ctx_in: Some(&bytes),
                repeat: 2,
                ..Default::default()
            },
        ),
        (
            "short ctx",
            RunAttrs {
                ctx_in: Some(&bytes[..4]),
                ..Default::default()
            },
        ),
        ("no ctx", RunAttrs::default()),
    ];
    cases
        .into_iter()
        .map(|(name, attrs)| match load::test_run(fd, attrs) {
            Err(22) => row(true, name, "refused with EINVAL".into()),
            Err(e) => row(false, name, format!("refused with errno {e}, want EINVAL")),
            Ok(v) => row(false, name, format!("ran (returned {v}), want EINVAL")),
        })
        .collect()
}

/// The last few meaningful lines of a verifier log.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}
