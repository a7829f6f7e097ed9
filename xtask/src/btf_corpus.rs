//! `cargo xtask btf-corpus [--out DIR] [PACKAGE...]`: rebuild a kernel BTF
//! corpus from Debian linux-image packages: `apt-get download`, unpack the
//! .deb, find the vmlinuz, decompress it and take `.BTF` (crib-btf's own
//! loader, the same one `crib compat` uses), write `btf-<version>.raw.xz`
//! and a `SHA256SUMS` of the uncompressed files. The pseudo-package `sys`
//! adds the running kernel's /sys/kernel/btf/vmlinux as
//! `btf-<version>-host.raw.xz` (how the corpus' 6.18 file was made).
//!
//! `--corpus`: the portability corpus instead ([`CORPUS`]: bookworm's 6.1
//! and 6.12, trixie's 6.12, 7.0, 7.2 and 7.3 in the generic, cloud and rt
//! flavours, and the host kernel), each BTF cached under
//! `~/.cache/crib-kit/btf/` by package and version (fetched once), then
//! `crib compat` of every spec'd item and every `target/bpf/*.bpf.o` on
//! all of them, written to `docs/portability.md`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

mod corpus;

/// The two Debian cloud kernels of the shared corpus.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "linux-image-6.1.0-56-cloud-amd64-unsigned",
    "linux-image-6.12.117+deb12-cloud-amd64-unsigned",
];

#[derive(clap::Args)]
pub struct Args {
    /// Output directory (default: target/btf-corpus).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// linux-image packages to download (default: the corpus' cloud
    /// kernels); `sys` = the running kernel's BTF.
    pub packages: Vec<String>,
    /// The portability corpus (cached) and its compat report in
    /// docs/portability.md.
    #[arg(long, conflicts_with_all = ["packages", "out"])]
    pub corpus: bool,
    /// With --corpus: print the report, do not write docs/portability.md.
    #[arg(long, requires = "corpus")]
    pub no_docs: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.corpus {
        return corpus::run(!args.no_docs);
    }
    crate::deps::ensure(&["xz-utils", "dpkg", "coreutils"])?;
    let out = args
        .out
        .unwrap_or_else(|| crate::workspace_root().join("target/btf-corpus"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let packages: Vec<String> = if args.packages.is_empty() {
        DEFAULT_PACKAGES.iter().map(|s| s.to_string()).collect()
    } else {
        args.packages
    };
    let work = out.join(".work");
    let mut sums = Vec::new();
    for pkg in &packages {
        let (name, sum) = if pkg == "sys" {
            running_kernel(&out)?
        } else {
            one_package(pkg, &work, &out)?
        };
        println!("{sum}  {name}");
        sums.push(format!("{sum}  {name}\n"));
    }
    let _ = std::fs::remove_dir_all(&work);
    let list = out.join("SHA256SUMS");
    std::fs::write(&list, sums.concat()).with_context(|| format!("writing {}", list.display()))?;
    eprintln!(
        "[btf-corpus] wrote {} kernel(s) to {}",
        packages.len(),
        out.display()
    );
    Ok(())
}

/// The vmlinuz in an unpacked kernel package and the version its name
/// carries (`boot/vmlinuz-<version>`).
/// Newer packages (7.2 on) keep it as `usr/lib/modules/<version>/vmlinuz`.
fn vmlinuz_of(pkg: &str, root: &Path) -> Result<(PathBuf, String)> {
    let boot = root.join("boot");
    if boot.is_dir() {
        if let Some(v) = find(&boot, |n| n.starts_with("vmlinuz-"))? {
            let version = v
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .unwrap_or(pkg)
                .to_string();
            return Ok((v, version));
        }
    }
    let modules = root.join("usr/lib/modules");
    if modules.is_dir() {
        for e in std::fs::read_dir(&modules)
            .with_context(|| format!("reading {}", modules.display()))?
            .flatten()
        {
            let v = e.path().join("vmlinuz");
            if v.is_file() {
                return Ok((v, e.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    bail!("{pkg}: no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in the package")
}

/// `dpkg-deb -x DEB ROOT`.
fn unpack(deb: &Path, root: &Path) -> Result<()> {
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(root)
        .status()
        .context("running dpkg-deb")?;
    if !st.success() {
        bail!("dpkg-deb -x {} failed", deb.display());
    }
    Ok(())
}

/// Download and extract one package; returns (raw file name, sha256).
fn one_package(pkg: &str, work: &Path, out: &Path) -> Result<(String, String)> {
    let dir = work.join(pkg);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    eprintln!("[btf-corpus] apt-get download {pkg}");
    let st = Command::new("apt-get")
        .args(["-o", "APT::Sandbox::User=root", "download", pkg])
        .current_dir(&dir)
        .status()
        .context("running apt-get download")?;
    if !st.success() {
        bail!("apt-get download {pkg} failed: is the name right and `apt-get update` done? (`apt-cache policy {pkg}`)");
    }
    let deb = find(&dir, |n| n.ends_with(".deb"))?
        .with_context(|| format!("apt-get download {pkg} left no .deb in {}", dir.display()))?;
    let root = dir.join("root");
    unpack(&deb, &root)?;
    let (vmlinuz, version) = vmlinuz_of(pkg, &root)?;
    eprintln!("[btf-corpus] {}: extracting .BTF", vmlinuz.display());
    let btf = crib_btf::load(&vmlinuz)?;
    write_compressed(&btf, &format!("btf-{version}.raw"), out)
}

/// `/sys/kernel/btf/vmlinux` as `btf-<X.Y.Z>-host.raw.xz`.
fn running_kernel(out: &Path) -> Result<(String, String)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("reading /proc/sys/kernel/osrelease")?;
    let version = release.trim().split('-').next().unwrap_or("unknown");
    eprintln!("[btf-corpus] {}", crib_btf::SYS_VMLINUX);
    let btf = crib_btf::load(crib_btf::SYS_VMLINUX)?;
    write_compressed(&btf, &format!("btf-{version}-host.raw"), out)
}

/// Write `name` (raw BTF), hash it, xz it; returns (name, sha256).
fn write_compressed(btf: &crib_btf::Btf, name: &str, out: &Path) -> Result<(String, String)> {
    let raw = out.join(name);
    std::fs::write(&raw, btf.bytes()).with_context(|| format!("writing {}", raw.display()))?;
    let sum = sha256(&raw)?;
    let xz = out.join(format!("{name}.xz"));
    let _ = std::fs::remove_file(&xz);
    let st = Command::new("xz")
        .args(["-9", "-T1", "--force"])
        .arg(&raw)
        .status()
        .context("running xz")?;
    if !st.success() {
        bail!("xz {} failed", raw.display());
    }
    eprintln!("[btf-corpus] {} ({} types)", xz.display(), btf.type_count());
    Ok((name.to_string(), sum))
}

fn find(dir: &Path, pred: impl Fn(&str) -> bool) -> Result<Option<PathBuf>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in rd {
        let p = e?.path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(&pred) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn sha256(path: &Path) -> Result<String> {
    let o = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("running sha256sum")?;
    if !o.status.success() {
        bail!("sha256sum {} failed", path.display());
    }
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
        .context("sha256sum printed nothing")
}
