//! `crib dump`, `crib show`, `crib restore`.

use anyhow::{bail, Context, Result};
use crib_harness::dump::{dump as run_dump, DumpRequest};
use crib_harness::engine::EngineChoice;
use crib_harness::image::{read_dir, write_dir};
use crib_harness::model::Operation;
use crib_harness::restore::{restore_and_exec, RestoreOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DumpArgs {
    /// Process to dump (pid in crib's pid namespace).
    #[arg(long)]
    pid: i32,
    /// Image directory to write (created if missing).
    #[arg(long)]
    images: PathBuf,
    /// Engine for every operation; `auto` picks the best per operation from
    /// the running kernel's BTF.
    #[arg(long, default_value = "auto")]
    engine: String,
    /// Comma-separated subset of: files, mm, sockets, queues.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Ask a resident `crib serve --socket PATH` to dump (its engines are
    /// already loaded) instead of loading them here.
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Unix socket to listen on (mode 0600; root only).
    #[arg(long)]
    socket: PathBuf,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// Image directory.
    dir: PathBuf,
    /// Print the dump as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Image directory to restore from.
    #[arg(long)]
    images: PathBuf,
    /// Also restore descriptors 0-2 (default: inherit crib's own).
    #[arg(long)]
    restore_stdio: bool,
    /// Command to exec with the restored descriptors.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

fn parse_engine(s: &str) -> Result<EngineChoice> {
    EngineChoice::parse(s)
        .with_context(|| format!("--engine {s:?}: expected auto, crib, upstream or procfs"))
}

fn parse_ops(only: &[String]) -> Result<Vec<Operation>> {
    if only.is_empty() {
        return Ok(Operation::ALL.to_vec());
    }
    let mut ops = vec![Operation::Task];
    for o in only {
        match Operation::parse(o) {
            Some(Operation::Task) | None => {
                bail!("--only {o:?}: expected files, mm, sockets or queues")
            }
            Some(op) => ops.push(op),
        }
    }
    Ok(ops)
}

/// `crib dump --server`: the dump comes from `crib serve` as image bytes.
fn dump_via_server(a: &DumpArgs, server: &std::path::Path) -> Result<ExitCode> {
    use crib_harness::serve::{Client, Request, PROTOCOL_VERSION};
    let mut c = Client::connect(server)?;
    let (resp, image) = c.call(&Request {
        version: PROTOCOL_VERSION,
        op: "dump".into(),
        pid: a.pid,
        engine: Some(a.engine.clone()),
        only: a.only.clone(),
    })?;
    if !resp.ok {
        bail!(
            "crib serve: {}",
            resp.error
                .unwrap_or_else(|| "failed without a reason".into())
        );
    }
    let image = image.context("crib serve sent no image")?;
    std::fs::create_dir_all(&a.images)
        .with_context(|| format!("creating {}", a.images.display()))?;
    let path = a.images.join(crib_harness::image::IMAGE_FILE);
    // Decode before writing: a damaged transfer is an error, not an image.
    let img = crib_harness::image::decode(&path, &image)?;
    std::fs::write(&path, &image).with_context(|| format!("writing {}", path.display()))?;
    let engines: Vec<String> = resp
        .engines
        .iter()
        .map(|(o, e)| format!("{o}={e}"))
        .collect();
    println!(
        "dumped pid {} to {} via {} ({} files, {} mappings, {} sockets, {} pipes; {})",
        a.pid,
        path.display(),
        server.display(),
        img.dump.files.len(),
        img.dump.mappings.len(),
        img.dump.sockets.len(),
        img.dump.pipes.len(),
        engines.join(" ")
    );
    for n in &resp.notes {
        if n.starts_with(crib_harness::dump::ENGINE_NOTE) {
            eprintln!("crib dump: {n}");
        } else {
            println!("note: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `crib serve --socket PATH`: answer dump requests until killed.
pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    // Resident: a dump's freed heap stays for the next one.
    crib_harness::sys::keep_freed_heap();
    let mut s = crib_harness::serve::Server::bind(&a.socket)?;
    eprintln!(
        "crib serve: listening on {} (protocol {}, root only)",
        a.socket.display(),
        crib_harness::serve::PROTOCOL_VERSION
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    s.run(&stop)?;
    Ok(ExitCode::SUCCESS)
}

pub fn dump(a: DumpArgs) -> Result<ExitCode> {
    if let Some(server) = a.server.clone() {
        return dump_via_server(&a, &server);
    }
    let req = DumpRequest {
        pid: a.pid,
        engine: parse_engine(&a.engine)?,
        ops: parse_ops(&a.only)?,
    };
    let d = run_dump(&req).with_context(|| format!("dumping pid {}", a.pid))?;
    let path = write_dir(&a.images, &d)?;
    let engines: Vec<String> = d
        .info
        .engines
        .iter()
        .map(|(op, e)| format!("{}={e}", op.name()))
        .collect();
    println!(
        "dumped pid {} to {} ({} files, {} mappings, {} sockets, {} pipes; {})",
        a.pid,
        path.display(),
        d.files.len(),
        d.mappings.len(),
        d.sockets.len(),
        d.pipes.len(),
        engines.join(" ")
    );
    for n in &d.info.notes {
        // The engine choice goes to stderr too, so it is seen where stdout
        // is a pipe: "crib dump: engine for mm: procfs (upstream passed over: ...)".
        if n.starts_with(crib_harness::dump::ENGINE_NOTE) {
            eprintln!("crib dump: {n}");
        } else {
            println!("note: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(a: ShowArgs) -> Result<ExitCode> {
    let img = read_dir(&a.dir)?;
    if a.json {
        let v = serde_json::json!({
            "dump": img.dump,
            "unknown_records": img.unknown.iter().map(|u| serde_json::json!({
                "index": u.index, "type": u.rtype, "len": u.len
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crib_harness::show::render(&img));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let img = read_dir(&a.images)?;
    let opts = RestoreOptions {
        restore_stdio: a.restore_stdio,
    };
    // Only returns on failure: success execs the command.
    let err = match restore_and_exec(&img, &a.cmd, &opts) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(anyhow::Error::new(err).context(format!("restoring {}", a.images.display())))
}
