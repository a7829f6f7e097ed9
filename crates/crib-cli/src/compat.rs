//! `crib compat`: check kernels (BTF) and compiled BPF objects against the
//! kfunc specs and print the matrix.
//!
//! Exit status: 0 = every required item compatible, 1 = incompatibilities
//! (see `crib_btf::compat` for how absence counts) that no `--suppress`
//! entry matches, 2 = bad input or usage (including a malformed
//! suppression file).

use anyhow::{bail, Context, Result};
use crib_btf::compat::{Kernel, Options, Suppressions};
use crib_btf::load::{label_for, SYS_VMLINUX};
use crib_btf::{report, Mode};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 = every required item compatible; 1 = an incompatibility \
(absence counts only with --require-present) that no --suppress entry matches; 2 = bad input \
or usage (including a malformed suppression file).\n\
JSON schema: docs/compat-json.md"
)]
pub struct Args {
    /// Directory of kfunc spec files.
    #[arg(long, default_value = "kfunc-specs")]
    spec: PathBuf,
    /// Kernel BTF to check: `PATH`, `LABEL=PATH`, or `sys` for
    /// /sys/kernel/btf/vmlinux. Raw BTF (optionally .xz/.gz/.zst), an ELF
    /// with .BTF (vmlinux) or a compressed kernel image (vmlinuz).
    #[arg(long = "kernel", required = true, value_name = "[LABEL=]PATH")]
    kernels: Vec<String>,
    /// Compiled BPF object whose kfunc calls and CO-RE relocations to check.
    #[arg(long = "object", value_name = "X.bpf.o")]
    objects: Vec<PathBuf>,
    /// Output: a terminal table, JSON (docs/compat-json.md) or Markdown.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Exact int sizes/signedness, const on pointer targets, array lengths.
    #[arg(long)]
    strict: bool,
    /// Also fail when a required item is absent from a kernel.
    #[arg(long)]
    require_present: bool,
    /// Suppression file (TOML, `[[suppress]]` entries with `item`, `reason`
    /// and optional `kernel`, `field`, `code`): matching findings stay in
    /// the report, marked suppressed, and do not count towards the exit
    /// status; an entry that matches nothing is a warning.
    #[arg(long, value_name = "FILE")]
    suppress: Option<PathBuf>,
    /// Print how long each phase took to stderr.
    #[arg(long)]
    timings: bool,
}

/// `LABEL=PATH`, `PATH` or `sys` -> (label, path).
fn parse_kernel_arg(arg: &str) -> (String, PathBuf) {
    if arg == "sys" {
        return ("sys".into(), PathBuf::from(SYS_VMLINUX));
    }
    if let Some((label, path)) = arg.split_once('=') {
        if !label.is_empty() && !label.contains('/') {
            let path = if path == "sys" { SYS_VMLINUX } else { path };
            return (label.into(), PathBuf::from(path));
        }
    }
    let path = PathBuf::from(arg);
    (label_for(&path), path)
}

fn load_kernels(args: &[String]) -> Result<Vec<Kernel>> {
    let specs: Vec<(String, PathBuf)> = args.iter().map(|a| parse_kernel_arg(a)).collect();
    for (i, (label, _)) in specs.iter().enumerate() {
        if specs[..i].iter().any(|(l, _)| l == label) {
            bail!("two kernels are labelled `{label}`: name them with --kernel LABEL=PATH");
        }
    }
    // Decompressing and indexing are independent per kernel.
    std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .into_iter()
            .map(|(label, path)| s.spawn(move || Kernel::load(label, path)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r.map_err(anyhow::Error::from),
                Err(_) => Err(anyhow::anyhow!("kernel loader thread panicked")),
            })
            .collect()
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let t0 = Instant::now();
    // Read first: a bad suppression file is a usage error, found before
    // the kernels are decompressed.
    let suppressions = args
        .suppress
        .as_deref()
        .map(Suppressions::load)
        .transpose()?;
    let spec = load_spec(&args.spec)?;
    let t_spec = t0.elapsed();
    let kernels = load_kernels(&args.kernels)?;
    let t_kernels = t0.elapsed();
    let mode = if args.strict {
        Mode::Strict
    } else {
        Mode::Relaxed
    };
    let mut objects = Vec::new();
    for path in &args.objects {
        let obj = crib_btf::object::open(path)?;
        let mut r = crib_btf::object::analyze(&obj, &kernels, mode);
        // The spec says which program types each kfunc is registered for.
        r.apply_prog_types(&|name| {
            spec.kfuncs().find(|k| k.name == name).map(|k| {
                k.prog_types
                    .iter()
                    .map(|t| t.spec_name().to_string())
                    .collect()
            })
        });
        objects.push(r);
    }
    let opts = Options {
        mode,
        require_present: args.require_present,
    };
    let mut r = crib_btf::check(&spec, &kernels, objects, opts);
    if let Some(s) = &suppressions {
        r.suppress(s);
        // A stale entry is also said on stderr, whatever the format.
        for u in r.stale_suppressions() {
            eprintln!(
                "crib: warning: {}:{}: stale suppression (item={}): matches no finding",
                u.file, u.line, u.item
            );
        }
    }
    let t_check = t0.elapsed();
    let out = match args.format {
        Format::Table => report::table(&r),
        Format::Json => report::json(&r) + "\n",
        Format::Markdown => report::markdown(&r),
    };
    print!("{out}");
    if args.timings {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "timings: spec {:.2} ms, kernels {:.2} ms, check {:.2} ms, report {:.2} ms",
            ms(t_spec),
            ms(t_kernels - t_spec),
            ms(t_check - t_kernels),
            ms(t0.elapsed() - t_check)
        );
    }
    Ok(if r.summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn load_spec(dir: &Path) -> Result<crib_spec::SpecSet> {
    if !dir.is_dir() {
        bail!(
            "{}: spec directory not found (pass --spec DIR)",
            dir.display()
        );
    }
    crib_spec::load_dir(dir).with_context(|| format!("loading specs from {}", dir.display()))
}
