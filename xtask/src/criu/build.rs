//! Building CRIU from the pinned upstream tarball plus the kit's series,
//! cached under `criu/<key>/` of the kit's cache:
//!
//! ```text
//! criu/dl/criu_4.2.1.orig.tar.xz      the tarball (checked against base.toml)
//! criu/<key>/src/                     the tree: git repo, series applied with
//!                                     `git am`, built in place (zdtm.py runs
//!                                     from it), test/zdtm/crib/ = our tests
//! criu/<key>/prefix/sbin/criu         installed criu; plugins: prefix/lib/criu
//! criu/<key>/build.log, DONE          log, and the stamp written last
//! ```
//!
//! Key: hash(tarball sha256, patches 1..N, our ZDTM test sources, the
//! build recipe, gcc's version). Nothing goes on the system PATH.

use super::pin::{self, Pin};
use crate::kernel::Patch;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Changes whenever the recipe below changes what it builds.
const RECIPE: &str =
    "crib-kit criu v2: make criu lib crit; make -C test/zdtm all; umount2 zdtm_ct; crib tests";

/// Debian 12 packages CRIU 4.2 and its ZDTM suite build and run with
/// (zdtm.py uses Debian's python3 with protobuf and yaml, `ip`, `nft`;
/// CRIU calls iptables-save/-restore for network namespaces).
pub const PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "git",
    "protobuf-c-compiler",
    "libprotobuf-c-dev",
    "libprotobuf-dev",
    "protobuf-compiler",
    "python3",
    "python3-protobuf",
    "python3-yaml",
    "libnl-3-dev",
    "libnl-route-3-dev",
    "libnet1-dev",
    "libcap-dev",
    "libaio-dev",
    "libgnutls28-dev",
    "libnftables-dev",
    "libbsd-dev",
    "uuid-dev",
    "iproute2",
    "nftables",
    // CRIU saves a network namespace's rules with iptables-save.
    "iptables",
    "kmod",
];

/// A finished build.
#[derive(Debug, Clone)]
pub struct CriuBuild {
    pub key: String,
    pub dir: PathBuf,
    /// The built tree (zdtm.py runs from `tree/test`).
    pub tree: PathBuf,
    /// `prefix/sbin/criu`.
    pub criu: PathBuf,
    /// Where CRIU looks for plugins (`PLUGINDIR`, `--libdir` default).
    pub plugin_dir: PathBuf,
    /// How many patches of the series are applied.
    pub patches: usize,
}

impl CriuBuild {
    fn at(dir: PathBuf, key: String, patches: usize) -> CriuBuild {
        CriuBuild {
            tree: dir.join("src"),
            criu: dir.join("prefix/sbin/criu"),
            plugin_dir: dir.join("prefix/lib/criu"),
            key,
            dir,
            patches,
        }
    }

    /// `crit` from the tree (Debian's python refuses a pip install): the
    /// command words to run it.
    pub fn crit(&self) -> Vec<String> {
        vec![
            "env".into(),
            format!(
                "PYTHONPATH={}:{}",
                self.tree.join("lib").display(),
                self.tree.join("crit").display()
            ),
            "/usr/bin/python3".into(),
            "-m".into(),
            "crit".into(),
        ]
    }
}

/// Our own ZDTM-protocol tests, copied into `test/zdtm/crib/` of the tree.
pub fn own_tests_dir() -> PathBuf {
    crate::workspace_root().join("tests/zdtm/criu/crib")
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn cache_key(pin: &Pin, patches: &[Patch], compiler: &str) -> Result<String> {
    let mut material = format!(
        "{RECIPE}\ntarball {} {}\ncc {compiler}\n",
        pin.tarball, pin.sha256
    )
    .into_bytes();
    for p in patches {
        let bytes = fs::read(&p.path).with_context(|| format!("reading {}", p.path.display()))?;
        material.extend_from_slice(format!("patch {} {}\n", p.name, bytes.len()).as_bytes());
        material.extend_from_slice(&bytes);
    }
    for f in files_of(&own_tests_dir()) {
        let bytes = fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        material.extend_from_slice(
            format!("test {} {}\n", name.unwrap_or_default(), bytes.len()).as_bytes(),
        );
        material.extend_from_slice(&bytes);
    }
    let full = crate::kernel::sha256_bytes(&material)?;
    Ok(format!("{}-{}", pin.upstream_version(), &full[..16]))
}

/// The cached build of the tarball plus patches 1..`upto` (all when
/// `None`, none with `Some(0)`), built when missing.
pub fn ensure_built(upto: Option<usize>) -> Result<CriuBuild> {
    let root = crate::workspace_root();
    let pin = pin::load(&root)?;
    let all = pin::series(&root)?;
    let patches = match upto {
        None => &all[..],
        Some(n) if n <= all.len() => &all[..n],
        Some(n) => bail!("--upto {n}: the CRIU series has {} patches", all.len()),
    };
    crate::deps::ensure(PACKAGES)?;
    let compiler = crate::kernel::compiler_version()?;
    let key = cache_key(&pin, patches, &compiler)?;
    let cache = crib_vmtest::cache::root().join("criu");
    let dir = cache.join(&key);
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let _lock = crate::lock::Lock::acquire(&cache.join("lock"), "criu")?;
    if dir.join("DONE").is_file() {
        eprintln!("[criu] cached build {key}");
        return Ok(CriuBuild::at(dir, key, patches.len()));
    }
    let tarball = pin::fetch(&pin, &cache.join("dl"))?;
    let t = Instant::now();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("build.log");
    let b = CriuBuild::at(dir.clone(), key.clone(), patches.len());
    let result = build_into(&b, &tarball, patches, &log);
    if let Err(e) = result {
        // Keep the log for the error message, drop the tree.
        let _ = fs::remove_dir_all(&b.tree);
        return Err(e);
    }
    let stamp = serde_json::json!({
        "key": key,
        "tarball": pin.tarball,
        "sha256": pin.sha256,
        "patches": patches.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "compiler": compiler,
        "seconds": t.elapsed().as_secs_f64(),
    });
    fs::write(dir.join("DONE"), serde_json::to_string_pretty(&stamp)?)?;
    eprintln!(
        "[criu] built {key} in {:.0} s ({} patch(es)): {}",
        t.elapsed().as_secs_f64(),
        patches.len(),
        b.criu.display()
    );
    Ok(b)
}

/// Debian's python and tools first (zdtm and CRIU's build scripts use
/// `python3` from PATH and need Debian's protobuf module).
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

fn step(log: &Path, what: &str, cmd: &mut Command) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    use std::io::Write;
    writeln!(f, "\n=== {what}: {cmd:?}")?;
    let st = cmd
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f)
        .status()
        .with_context(|| format!("{what}: starting {cmd:?}"))?;
    if !st.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n  ");
        bail!(
            "criu build: {what} failed ({st}); end of {}:\n  {tail}",
            log.display()
        );
    }
    Ok(())
}

fn build_into(b: &CriuBuild, tarball: &Path, patches: &[Patch], log: &Path) -> Result<()> {
    let src = &b.tree;
    fs::create_dir_all(src)?;
    eprintln!("[criu] unpacking {}", tarball.display());
    step(
        log,
        "unpack",
        Command::new("tar")
            .arg("-C")
            .arg(src)
            .args(["--strip-components=1", "-xf"])
            .arg(tarball),
    )?;
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args([
            "-c",
            "user.name=crib-kit",
            "-c",
            "user.email=crib-kit@example.invalid",
        ])
        .args(args)
        .current_dir(src);
        c
    };
    step(log, "git init", &mut git(&["init", "-q"]))?;
    step(log, "git add", &mut git(&["add", "-A", "-f"]))?;
    step(
        log,
        "git commit",
        &mut git(&["commit", "-q", "-m", "criu upstream tarball"]),
    )?;
    for p in patches {
        let path = p.path.display().to_string();
        step(
            log,
            &format!("git am {}", p.name),
            &mut git(&["am", "-q", &path]),
        )
        .with_context(|| format!("CRIU patch {} does not apply", p.name))?;
    }
    let own = own_tests_dir();
    if own.is_dir() {
        let dest = src.join("test/zdtm/crib");
        fs::create_dir_all(&dest)?;
        for f in files_of(&own) {
            if let Some(name) = f.file_name() {
                fs::copy(&f, dest.join(name))
                    .with_context(|| format!("copying {}", f.display()))?;
            }
        }
    }
    let jobs = format!(
        "-j{}",
        std::thread::available_parallelism().map_or(2, |n| n.get())
    );
    let prefix = format!("PREFIX={}", b.dir.join("prefix").display());
    // PLUGINDIR is compiled in (CR_PLUGIN_DEFAULT): it must be given here.
    let plugindir = format!("PLUGINDIR={}", b.plugin_dir.display());
    eprintln!("[criu] building criu, lib, crit ({jobs})");
    step(
        log,
        "make criu lib crit",
        Command::new("make")
            .args([jobs.as_str(), &prefix, &plugindir, "criu", "lib", "crit"])
            .current_dir(src),
    )?;
    eprintln!("[criu] building the ZDTM tests");
    step(
        log,
        "make -C test/zdtm all",
        Command::new("make")
            .args([jobs.as_str(), "-C", "test/zdtm", "all"])
            .current_dir(src),
    )?;
    // zdtm.py builds these at its first run; in a guest under TCG that
    // would cost every lane minutes.
    step(
        log,
        "make -C test umount2 zdtm_ct",
        Command::new("make")
            .args(["-C", "test", "umount2", "zdtm_ct"])
            .current_dir(src),
    )?;
    if src.join("test/zdtm/crib/Makefile").is_file() {
        step(
            log,
            "make -C test/zdtm/crib",
            Command::new("make")
                .args([jobs.as_str(), "-C", "test/zdtm/crib"])
                .current_dir(src),
        )?;
    }
    step(
        log,
        "make install",
        Command::new("make")
            .args([&prefix, &plugindir, "install-criu", "install-lib"])
            .current_dir(src),
    )?;
    fs::create_dir_all(&b.plugin_dir)?;
    if !b.criu.is_file() {
        bail!(
            "criu build: {} is missing after make install",
            b.criu.display()
        );
    }
    Ok(())
}
