//! Kernel module selection for stock kernels: find the modules the guest
//! needs (virtio PCI, virtio console, 9p) in an unpacked `lib/modules/<ver>`
//! tree, follow their `depends=` from `.modinfo`, and return them in load
//! order. Modules built into the kernel (`modules.builtin`) are skipped.

use crate::error::{io, Error, Result};
use object::{Object, ObjectSection};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules the guest init needs, by name; their dependencies follow.
pub const GUEST_MODULES: &[&str] = &["virtio_pci", "virtio_console", "9pnet_virtio", "9p"];

/// Modules tests use when the kernel has them as modules (socket diag for
/// the procfs engine and CRIU; nf_tables for CRIU's network lock, after
/// crc32c_generic, the `softdep` of its libcrc32c that `depends=` does not
/// name; nf_conntrack_netlink, which CRIU dumps a netns's conntrack
/// table with; tun and veth for ZDTM's network tests; binfmt_misc, which ZDTM's
/// container runner mounts); absent ones are skipped.
pub const OPTIONAL_MODULES: &[&str] = &[
    "unix_diag",
    "inet_diag",
    "tcp_diag",
    "udp_diag",
    "raw_diag",
    "netlink_diag",
    "af_packet_diag",
    "crc32c_generic",
    "nf_tables",
    "nf_conntrack_netlink",
    "tun",
    "veth",
    "binfmt_misc",
];

/// Canonical module name: `-` and `_` are the same to the kernel.
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// Module name of a file name like `9pnet_virtio.ko.xz`.
fn module_name(file: &str) -> Option<String> {
    let stem = file
        .strip_suffix(".ko")
        .or_else(|| file.strip_suffix(".ko.xz"))
        .or_else(|| file.strip_suffix(".ko.zst"))
        .or_else(|| file.strip_suffix(".ko.gz"))?;
    Some(canonical(stem))
}

/// Every `.ko*` file under `dir`, by canonical module name.
pub fn index(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(module_name)
            {
                out.insert(name, path);
            }
        }
    }
    Ok(out)
}

/// Names listed in a `modules.builtin` file (paths like `kernel/x/y.ko`).
pub fn builtin(modules_builtin: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(modules_builtin).map_err(io(modules_builtin))?;
    Ok(text
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .filter_map(module_name)
        .collect())
}

/// Read a module file, decompressing `.xz` (Debian 6.12 ships them so).
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(io(path))?;
    let name = path.to_string_lossy();
    if name.ends_with(".xz") {
        let mut out = Vec::new();
        let mut dec = liblzma::read::XzDecoder::new(raw.as_slice());
        std::io::Read::read_to_end(&mut dec, &mut out).map_err(io(path))?;
        Ok(out)
    } else if name.ends_with(".ko") {
        Ok(raw)
    } else {
        Err(Error::BadFile {
            path: path.to_path_buf(),
            detail: "unsupported module compression (only .ko and .ko.xz)".into(),
        })
    }
}

/// The `depends=` list of a module's `.modinfo` section.
pub fn depends(elf: &[u8], path: &Path) -> Result<Vec<String>> {
    let bad = |detail: String| Error::BadFile {
        path: path.to_path_buf(),
        detail,
    };
    let file = object::File::parse(elf).map_err(|e| bad(format!("not an ELF module: {e}")))?;
    let Some(section) = file.section_by_name(".modinfo") else {
        return Err(bad("no .modinfo section".into()));
    };
    let data = section
        .data()
        .map_err(|e| bad(format!("reading .modinfo: {e}")))?;
    Ok(parse_depends(data))
}

/// `.modinfo` is a run of NUL-terminated `key=value` strings.
pub fn parse_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|b| *b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(canonical)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// One module ready for the initramfs: its name and uncompressed bytes.
pub struct Module {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Resolve `wanted` and their dependencies to a load order (dependencies
/// first). A wanted module that is neither a file nor built in is an error.
pub fn resolve(
    wanted: &[&str],
    files: &BTreeMap<String, PathBuf>,
    builtin: &BTreeSet<String>,
) -> Result<Vec<Module>> {
    resolve_into(wanted, files, builtin, &mut BTreeSet::new())
}

/// [`resolve`], skipping modules already in `done` (and adding to it).
fn resolve_into(
    wanted: &[&str],
    files: &BTreeMap<String, PathBuf>,
    builtin: &BTreeSet<String>,
    done: &mut BTreeSet<String>,
) -> Result<Vec<Module>> {
    let mut order = Vec::new();
    for w in wanted {
        visit(
            &canonical(w),
            files,
            builtin,
            done,
            &mut Vec::new(),
            &mut order,
        )?;
    }
    Ok(order)
}

/// The guest modules in load order, and after them whichever optional
/// modules exist (loaded in the background while the root is mounted).
pub fn resolve_guest(
    files: &BTreeMap<String, PathBuf>,
    builtin: &BTreeSet<String>,
) -> Result<(Vec<Module>, Vec<Module>)> {
    let mut done = BTreeSet::new();
    let required = resolve_into(GUEST_MODULES, files, builtin, &mut done)?;
    let optional: Vec<&str> = OPTIONAL_MODULES
        .iter()
        .copied()
        .filter(|m| files.contains_key(*m))
        .collect();
    let extra = resolve_into(&optional, files, builtin, &mut done)?;
    Ok((required, extra))
}

/// The module set a cache entry was built for (stale when this changes).
pub fn wanted_key() -> String {
    // v2: required modules in `order`, optional ones in `extra`.
    format!(
        "v2|{}|{}",
        GUEST_MODULES.join(","),
        OPTIONAL_MODULES.join(",")
    )
}

fn visit(
    name: &str,
    files: &BTreeMap<String, PathBuf>,
    builtin: &BTreeSet<String>,
    done: &mut BTreeSet<String>,
    stack: &mut Vec<String>,
    order: &mut Vec<Module>,
) -> Result<()> {
    if done.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) {
        return Err(Error::Invalid(format!(
            "module dependency cycle: {} -> {name}",
            stack.join(" -> ")
        )));
    }
    let Some(path) = files.get(name) else {
        if builtin.contains(name) {
            done.insert(name.to_string());
            return Ok(());
        }
        return Err(Error::Invalid(format!(
            "module {name} is neither built in nor shipped with the kernel"
        )));
    };
    let bytes = read_module(path)?;
    stack.push(name.to_string());
    for dep in depends(&bytes, path)? {
        visit(&dep, files, builtin, done, stack, order)?;
    }
    stack.pop();
    done.insert(name.to_string());
    order.push(Module {
        name: name.to_string(),
        bytes,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_depends_list() {
        let info = b"license=GPL\0depends=netfs,9pnet\0intree=Y\0";
        assert_eq!(parse_depends(info), vec!["netfs", "9pnet"]);
        assert!(parse_depends(b"depends=\0").is_empty());
    }

    #[test]
    fn names_from_files() {
        assert_eq!(
            module_name("9pnet_virtio.ko.xz").as_deref(),
            Some("9pnet_virtio")
        );
        assert_eq!(module_name("virtio-rng.ko").as_deref(), Some("virtio_rng"));
        assert_eq!(module_name("README"), None);
    }

    #[test]
    fn builtin_missing_module_is_skipped_unknown_is_error() {
        let files = BTreeMap::new();
        let builtin: BTreeSet<String> = ["virtio_pci".to_string()].into();
        assert!(resolve(&["virtio_pci"], &files, &builtin)
            .map(|v| v.is_empty())
            .unwrap_or(false));
        assert!(resolve(&["9p"], &files, &builtin).is_err());
    }
}
