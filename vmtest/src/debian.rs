//! Stock Debian kernels (`debian-6.1`, `debian-6.12`): fetched with
//! `apt-get download`, unpacked once, and cached as `vmlinuz` + the guest
//! modules (uncompressed, in load order) under
//! `~/.cache/crib-kit/kernels/<package>/`.
//!
//! The generic `-amd64-unsigned` flavour is used: the `-cloud-` flavour has no
//! 9p at all (`# CONFIG_NET_9P is not set`).

use crate::error::{io, Error, Result};
use crate::kernel::Kernel;
use crate::modules;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A stock kernel series we know how to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    V6_1,
    V6_12,
}

impl Series {
    pub fn from_label(label: &str) -> Option<Series> {
        match label {
            "debian-6.1" => Some(Series::V6_1),
            "debian-6.12" => Some(Series::V6_12),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Series::V6_1 => "debian-6.1",
            Series::V6_12 => "debian-6.12",
        }
    }

    /// Does `pkg` name a generic unsigned image of this series?
    /// (`linux-image-6.1.0-56-amd64-unsigned`, `linux-image-6.12.117+deb12-amd64-unsigned`)
    pub fn matches(self, pkg: &str) -> bool {
        let Some(rest) = pkg
            .strip_prefix("linux-image-")
            .and_then(|r| r.strip_suffix("-amd64-unsigned"))
        else {
            return false;
        };
        if rest.contains("cloud") || rest.contains("rt") {
            return false;
        }
        match self {
            Series::V6_1 => rest.starts_with("6.1.0-"),
            Series::V6_12 => rest.starts_with("6.12.") && rest.ends_with("+deb12"),
        }
    }
}

/// Numbers in a package name, for "newest" ordering.
fn version_key(pkg: &str) -> Vec<u64> {
    pkg.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `kernels/` of the kit's cache ([`crate::cache::root`]).
pub fn cache_root() -> PathBuf {
    crate::cache::root().join("kernels")
}

/// The newest cached kernel of `series`, if one is complete.
pub fn cached(series: Series, root: &Path) -> Option<Kernel> {
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if series.matches(&name) && entry.path().join("complete").exists() {
            let key = version_key(&name);
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, entry.path()));
            }
        }
    }
    best.and_then(|(_, dir)| load(series, &dir).ok())
}

/// A cached kernel directory as a [`Kernel`] (its module set rebuilt from
/// the kept `lib/modules` if it was made for another module list).
fn load(series: Series, dir: &Path) -> Result<Kernel> {
    load_labelled(series.label(), dir)
}

fn load_labelled(label: &str, dir: &Path) -> Result<Kernel> {
    let key = std::fs::read_to_string(dir.join("modules/wanted")).unwrap_or_default();
    if key != modules::wanted_key() {
        prepare_modules(dir)?;
    }
    let list = |file: &str| -> Result<Vec<PathBuf>> {
        let p = dir.join("modules").join(file);
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|m| dir.join("modules").join(m))
            .collect())
    };
    let modules = list("order")?;
    let extra_modules = list("extra")?;
    Ok(Kernel {
        label: label.to_string(),
        image: dir.join("vmlinuz"),
        modules,
        extra_modules,
        config: Some(dir.join("config")),
    })
}

/// The newest package of `series` apt knows about.
pub fn newest_package(series: Series) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["pkgnames", "linux-image-"])
        .output()
        .map_err(|err| Error::Spawn {
            program: "apt-cache".into(),
            err,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|p| series.matches(p))
        .max_by_key(|p| version_key(p))
        .map(str::to_string)
        .ok_or_else(|| Error::Kernel {
            kernel: series.label().into(),
            detail:
                "apt knows no matching linux-image-*-amd64-unsigned package (run apt-get update)"
                    .into(),
        })
}

/// Cached kernel of `series`, fetching the newest package if none is cached
/// (or if `refresh`).
pub fn ensure(series: Series, refresh: bool) -> Result<Kernel> {
    let root = cache_root();
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    // Test threads and lanes may ask for the same kernel at once on a cold
    // cache: one fetches, the others wait and then find it complete.
    let _lock = CacheLock::take(&root.join(format!("{}.lock", series.label())))?;
    if !refresh {
        if let Some(k) = cached(series, &root) {
            return Ok(k);
        }
    }
    let pkg = newest_package(series)?;
    let dir = root.join(&pkg);
    if dir.join("complete").exists() {
        return load(series, &dir);
    }
    eprintln!("[vmtest] fetching {pkg} (apt-get download)");
    fetch(&pkg, &dir)?;
    load(series, &dir)
}

/// An exclusive `flock` on a file, released when dropped (or when the
/// process dies, so a crashed fetch never leaves the cache locked).
struct CacheLock(std::fs::File);

impl CacheLock {
    fn take(path: &Path) -> Result<CacheLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        // SAFETY: flock on a descriptor we own; no memory is shared.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io(path)(std::io::Error::last_os_error()));
        }
        Ok(CacheLock(f))
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as in take(); unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().map_err(|err| Error::Spawn {
        program: what.into(),
        err,
    })?;
    if !out.status.success() {
        return Err(Error::Tool {
            program: what.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Download `pkg`, unpack it in a scratch dir, keep vmlinuz, config and the
/// guest modules, then mark the cache entry complete.
fn fetch(pkg: &str, dir: &Path) -> Result<()> {
    let scratch = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
    run(
        Command::new("apt-get")
            .arg("download")
            .arg(pkg)
            .current_dir(&scratch),
        "apt-get download",
    )?;
    let deb = std::fs::read_dir(&scratch)
        .map_err(io(&scratch))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| Error::Tool {
            program: "apt-get download".into(),
            detail: format!("no .deb appeared in {}", scratch.display()),
        })?;
    install(&[deb], &scratch, dir, pkg)
}

/// A stock kernel from Debian packages fetched by the caller: one
/// `linux-image-*`, or from 7.x the split `linux-base-*` (config),
/// `linux-binary-*` (vmlinuz) and `linux-modules-*`. Cached in `dir` (an
/// entry of [`cache_root`]) like [`ensure`]'s, labelled `label`.
pub fn ensure_from_debs(label: &str, debs: &[PathBuf], dir: &Path) -> Result<Kernel> {
    let root = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(root).map_err(io(root))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let _lock = CacheLock::take(&root.join(format!("{}.lock", name.as_deref().unwrap_or(label))))?;
    if !dir.join("complete").exists() {
        let scratch = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
        install(debs, &scratch, dir, name.as_deref().unwrap_or(label))?;
    }
    load_labelled(label, dir)
}

/// The first entry of `d` whose name starts with `prefix`.
fn first_in(d: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(d)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
}

/// Unpack `debs` into `scratch/tree`, then make the cache entry `dir`:
/// vmlinuz, config and the guest modules (from `boot/` and `lib/modules`,
/// or from `usr/lib/modules/<ver>/` where newer packages keep all three).
fn install(debs: &[PathBuf], scratch: &Path, dir: &Path, what: &str) -> Result<()> {
    let tree = scratch.join("tree");
    for deb in debs {
        run(
            Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree),
            "dpkg-deb -x",
        )?;
    }
    let missing = |detail: String| Error::BadFile {
        path: debs
            .first()
            .cloned()
            .unwrap_or_else(|| scratch.to_path_buf()),
        detail,
    };
    let moddir = first_in(&tree.join("lib/modules"), "")
        .or_else(|| first_in(&tree.join("usr/lib/modules"), ""))
        .ok_or_else(|| missing("no lib/modules/<version> in the packages".into()))?;
    let vmlinuz = first_in(&tree.join("boot"), "vmlinuz-")
        .or_else(|| Some(moddir.join("vmlinuz")).filter(|p| p.is_file()))
        .ok_or_else(|| missing("no boot/vmlinuz-* or <modules>/vmlinuz in the packages".into()))?;
    let config = first_in(&tree.join("boot"), "config-")
        .or_else(|| Some(moddir.join("config")).filter(|p| p.is_file()))
        .ok_or_else(|| missing("no boot/config-* or <modules>/config in the packages".into()))?;
    let version = moddir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::copy(&vmlinuz, dir.join("vmlinuz")).map_err(io(&vmlinuz))?;
    std::fs::copy(&config, dir.join("config")).map_err(io(&config))?;
    // virtme-ng finds modules by walking up from the image to a directory
    // holding lib/modules/<version>: give it that layout (boot/vmlinuz-<ver>).
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).map_err(io(&lib))?;
    let modules_root = moddir.parent().unwrap_or(&moddir);
    std::fs::rename(modules_root, lib.join("modules")).map_err(io(modules_root))?;
    let boot = dir.join("boot");
    std::fs::create_dir_all(&boot).map_err(io(&boot))?;
    let image = boot.join(format!("vmlinuz-{version}"));
    std::fs::copy(dir.join("vmlinuz"), &image).map_err(io(&image))?;
    prepare_modules(dir)?;
    std::fs::write(dir.join("complete"), what).map_err(io(dir.join("complete")))?;
    let _ = std::fs::remove_dir_all(scratch);
    Ok(())
}

/// Write `modules/` (uncompressed, plus `order` and `wanted`) from the
/// entry's `lib/modules/<ver>`.
fn prepare_modules(dir: &Path) -> Result<()> {
    let lib = dir.join("lib/modules");
    let moddir = std::fs::read_dir(&lib)
        .map_err(io(&lib))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .ok_or_else(|| Error::BadFile {
            path: lib.clone(),
            detail: "no kernel version directory".into(),
        })?;
    let files = modules::index(&moddir.join("kernel"))?;
    let builtin = modules::builtin(&moddir.join("modules.builtin"))?;
    let (required, extra) = modules::resolve_guest(&files, &builtin)?;
    let mods_out = dir.join("modules");
    let _ = std::fs::remove_dir_all(&mods_out);
    std::fs::create_dir_all(&mods_out).map_err(io(&mods_out))?;
    for (list, file) in [(&required, "order"), (&extra, "extra")] {
        let mut text = String::new();
        for m in list {
            let name = format!("{}.ko", m.name);
            let p = mods_out.join(&name);
            std::fs::write(&p, &m.bytes).map_err(io(&p))?;
            text.push_str(&name);
            text.push('\n');
        }
        let p = mods_out.join(file);
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    let p = mods_out.join("wanted");
    std::fs::write(&p, modules::wanted_key()).map_err(io(&p))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_matching() {
        assert!(Series::V6_1.matches("linux-image-6.1.0-56-amd64-unsigned"));
        assert!(!Series::V6_1.matches("linux-image-6.1.0-56-cloud-amd64-unsigned"));
        assert!(!Series::V6_1.matches("linux-image-6.12.117+deb12-amd64-unsigned"));
        assert!(Series::V6_12.matches("linux-image-6.12.117+deb12-amd64-unsigned"));
        assert!(!Series::V6_12.matches("linux-image-6.12.117+deb12-rt-amd64-unsigned"));
        assert!(!Series::V6_12.matches("linux-image-6.12.117+deb12-amd64"));
    }

    #[test]
    fn newest_by_numbers() {
        let mut v = [
            "linux-image-6.1.0-9-amd64-unsigned",
            "linux-image-6.1.0-56-amd64-unsigned",
        ];
        v.sort_by_key(|p| version_key(p));
        assert_eq!(v[1], "linux-image-6.1.0-56-amd64-unsigned");
    }
}
