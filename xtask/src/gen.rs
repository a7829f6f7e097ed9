//! `cargo xtask gen [--check]`: write the files derived from kfunc-specs/
//! (see `crib_spec::gen`), or with `--check` fail naming each stale or
//! missing one without writing anything.

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Do not write; exit non-zero when a generated file is stale or missing.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let spec_dir = root.join("kfunc-specs");
    // Spec errors are `file:line: message` lines; print them as they are.
    let set = crib_spec::load_dir(&spec_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.check {
        let stale = crib_spec::gen::check_all(&root, &set).context("reading generated files")?;
        if stale.is_empty() {
            println!("generated files are up to date");
            return Ok(());
        }
        for s in &stale {
            eprintln!("{s}");
        }
        bail!(
            "{} generated file(s) stale; run `cargo xtask gen`",
            stale.len()
        );
    }
    let written = crib_spec::gen::write_all(&root, &set).context("writing generated files")?;
    if written.is_empty() {
        println!("generated files are up to date");
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
