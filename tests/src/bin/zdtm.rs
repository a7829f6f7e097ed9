//! `crib-zdtm`: run the ZDTM-style suite, or act as the restorer it uses.
//!
//! ```text
//! crib-zdtm [--engine live|procfs|upstream|crib]... [--test NAME]... [--json OUT] [--out DIR]
//! crib-zdtm restore --images DIR -- CMD...
//! ```
//! Exit status: 0 when every result is PASS, XFAIL or n/a; 1 otherwise; 2 on bad usage.

use anyhow::{bail, Context, Result};
use crib_harness::image::read_dir;
use crib_harness::restore::{restore_and_exec, RestoreOptions};
use crib_tests::zdtm::{self, report, EngineSel, RunConfig, Sabotage};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = if args.first().map(String::as_str) == Some("restore") {
        restore(&args[1..])
    } else {
        run(&args)
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crib-zdtm: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn restore(args: &[String]) -> Result<ExitCode> {
    let (opts, cmd) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => bail!("usage: crib-zdtm restore --images DIR -- CMD..."),
    };
    let images = match opts {
        [flag, dir] if flag == "--images" => PathBuf::from(dir),
        _ => bail!("usage: crib-zdtm restore --images DIR -- CMD..."),
    };
    let img = read_dir(&images)?;
    let err = match restore_and_exec(&img, cmd, &RestoreOptions::default()) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(anyhow::Error::new(err).context(format!("restoring {}", images.display())))
}

fn run(args: &[String]) -> Result<ExitCode> {
    let mut engines = Vec::new();
    let mut only = Vec::new();
    let mut json: Option<PathBuf> = None;
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "run" => {}
            "--engine" => {
                let v = val()?;
                engines.push(EngineSel::parse(v).with_context(|| {
                    format!("--engine {v:?}: expected live, procfs, upstream, crib or criu")
                })?);
            }
            "--test" => only.push(val()?.clone()),
            "--json" => json = Some(PathBuf::from(val()?)),
            "--out" => out = Some(PathBuf::from(val()?)),
            other => bail!("unknown argument {other:?} (see the doc comment of crib-zdtm)"),
        }
    }
    if engines.is_empty() {
        engines = vec![
            EngineSel::Live,
            EngineSel::Engine(crib_harness::engine::EngineKind::Procfs),
        ];
    }
    let cfg = RunConfig {
        src: zdtm::source_dir(),
        out: out.unwrap_or_else(zdtm::default_out_dir),
        restorer: std::env::current_exe().context("locating crib-zdtm itself")?,
        sabotage: Sabotage::None,
    };
    let tests = zdtm::desc::load_tests(&cfg.src)?;
    let mut outcomes = Vec::new();
    for t in tests
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.name))
    {
        for &e in &engines {
            let o = zdtm::run_test(&cfg, t, e);
            eprintln!("{:<22} {:<9} {}", o.test, o.engine, o.status.label());
            outcomes.push(o);
        }
    }
    if outcomes.is_empty() {
        bail!("no test matched {only:?}");
    }
    print!("{}", report::table(&outcomes));
    let lines = report::json_lines(&outcomes);
    let default_json = cfg.out.join("results.jsonl");
    for p in [Some(default_json), json].into_iter().flatten() {
        std::fs::write(&p, &lines).with_context(|| format!("writing {}", p.display()))?;
    }
    let bad = outcomes.iter().filter(|o| !o.status.ok()).count();
    println!("{} results, {bad} not ok", outcomes.len());
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
