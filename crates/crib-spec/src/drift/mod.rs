//! Drift between the specs and a kernel tree carrying the CRIB series, for
//! `cargo xtask patches check`.
//!
//! What is scanned (kept simple on purpose): every `*.c` file under
//! [`SCAN_DIRS`] that contains `BTF_ID_FLAGS(func, ` or `__bpf_kfunc` and
//! either lies under `kernel/bpf/crib/` or mentions `bpf_crib_`,
//! `bpf_iter_crib_` or a spec'd crib kfunc name. In those files a
//! registration or definition is "CRIB" when its name is a spec'd crib
//! kfunc, starts with `bpf_crib_`/`bpf_iter_crib_`, or the file lies under
//! `kernel/bpf/crib/`; spec'd upstream kfuncs are never CRIB. Reported:
//! a crib kfunc not registered or not defined, a CRIB kfunc not in the
//! spec, flags that differ (as sets), prototypes that differ (whitespace
//! and integer spellings normalized: `u32` = `__u32` = `unsigned int`),
//! and `include/uapi/linux/bpf_crib.h` differing from the generated text.
//! Program-type registration is not checked.

pub mod scan;

use crate::cdecl::{parse_named, parse_type};
use crate::gen::{first_difference, prototype, uapi_header};
use crate::model::{CType, Kfunc, Loc, SpecSet};
use scan::{definitions, registrations};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Directories (relative to the tree root) searched recursively.
pub const SCAN_DIRS: &[&str] = &["kernel/bpf", "net", "fs"];

/// Where the series must put the generated uapi header.
pub const UAPI_PATH: &str = "include/uapi/linux/bpf_crib.h";

/// One difference between spec and kernel tree. File paths in [`Loc`]s
/// are relative to the tree root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A crib kfunc with no `BTF_ID_FLAGS` registration.
    NotRegistered {
        name: String,
    },
    /// A crib kfunc registered but with no `__bpf_kfunc` definition.
    NotDefined {
        name: String,
        registered: Loc,
    },
    /// A CRIB kfunc in the tree that no spec describes.
    Extra {
        name: String,
        at: Loc,
    },
    FlagsDiffer {
        name: String,
        at: Loc,
        spec: String,
        tree: String,
    },
    PrototypeDiffers {
        name: String,
        at: Loc,
        spec: String,
        tree: String,
    },
    UapiMissing {
        path: PathBuf,
    },
    UapiDiffers {
        path: PathBuf,
        line: usize,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::NotRegistered { name } => write!(
                f,
                "{name}: spec'd crib kfunc has no BTF_ID_FLAGS(func, {name}, ...) in the tree"
            ),
            Drift::NotDefined { name, registered } => {
                write!(f, "{registered}: {name}: registered but no `__bpf_kfunc ... {name}(...)` definition found")
            }
            Drift::Extra { name, at } => write!(f, "{at}: {name}: CRIB kfunc not in kfunc-specs/"),
            Drift::FlagsDiffer {
                name,
                at,
                spec,
                tree,
            } => {
                write!(
                    f,
                    "{at}: {name}: flags differ: spec `{spec}`, tree `{tree}`"
                )
            }
            Drift::PrototypeDiffers {
                name,
                at,
                spec,
                tree,
            } => {
                write!(
                    f,
                    "{at}: {name}: prototype differs: spec `{spec}`, tree `{tree}`"
                )
            }
            Drift::UapiMissing { path } => write!(
                f,
                "{}: missing (copy kernel-patches/generated/bpf_crib.h)",
                path.display()
            ),
            Drift::UapiDiffers { path, line } => {
                write!(
                    f,
                    "{}:{line}: differs from kernel-patches/generated/bpf_crib.h",
                    path.display()
                )
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("{}: not a kernel tree (no kernel/bpf/)", .0.display())]
    NotAKernelTree(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A C source given to [`check_sources`]; `path` is relative to the tree.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// Scan `tree_root` (see the module doc for what is read) and compare.
pub fn check_kernel_tree(set: &SpecSet, tree_root: &Path) -> Result<Vec<Drift>, DriftError> {
    if !tree_root.join("kernel/bpf").is_dir() {
        return Err(DriftError::NotAKernelTree(tree_root.to_path_buf()));
    }
    let mut files = Vec::new();
    for d in SCAN_DIRS {
        collect_c_files(&tree_root.join(d), &mut files)?;
    }
    files.sort();
    let names = crib_names(set);
    let mut sources = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).map_err(|source| DriftError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let rel = path.strip_prefix(tree_root).unwrap_or(&path).to_path_buf();
        if is_candidate(&rel, &text, &names) {
            sources.push(SourceFile {
                path: rel,
                text: text.into_owned(),
            });
        }
    }
    let uapi_path = tree_root.join(UAPI_PATH);
    let uapi = match std::fs::read_to_string(&uapi_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(DriftError::Io {
                path: uapi_path,
                source,
            })
        }
    };
    // Mainline dropped KF_TRUSTED_ARGS (every kfunc argument is trusted by
    // default): on such a tree the spec's flag is implied, not written.
    let btf_h = tree_root.join("include/linux/btf.h");
    let trusted_default = match std::fs::read_to_string(&btf_h) {
        Ok(t) => !t.contains("#define KF_TRUSTED_ARGS"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(DriftError::Io {
                path: btf_h,
                source,
            })
        }
    };
    Ok(check_sources_on(
        set,
        &sources,
        uapi.as_deref(),
        trusted_default,
    ))
}

fn collect_c_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DriftError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(DriftError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| DriftError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|source| DriftError::Io {
            path: path.clone(),
            source,
        })?;
        if ft.is_dir() {
            collect_c_files(&path, out)?;
        } else if ft.is_file() && path.extension().is_some_and(|e| e == "c") {
            out.push(path);
        }
    }
    Ok(())
}

fn crib_names(set: &SpecSet) -> BTreeSet<&str> {
    set.kfuncs()
        .filter(|k| k.origin.is_crib())
        .map(|k| k.name.as_str())
        .collect()
}

fn in_crib_dir(rel: &Path) -> bool {
    rel.starts_with("kernel/bpf/crib")
}

fn is_candidate(rel: &Path, text: &str, names: &BTreeSet<&str>) -> bool {
    (text.contains("BTF_ID_FLAGS(func, ") || text.contains("__bpf_kfunc"))
        && (in_crib_dir(rel)
            || text.contains("bpf_crib_")
            || text.contains("bpf_iter_crib_")
            || names.iter().any(|n| text.contains(n)))
}

/// The comparison itself, on sources already read (`uapi`: the tree's
/// `include/uapi/linux/bpf_crib.h`, `None` when absent).
pub fn check_sources(set: &SpecSet, sources: &[SourceFile], uapi: Option<&str>) -> Vec<Drift> {
    check_sources_on(set, sources, uapi, false)
}

/// [`check_sources`] on a tree where kfunc arguments are trusted by default
/// (`trusted_default`: no `KF_TRUSTED_ARGS` in `<linux/btf.h>`, mainline
/// since 6.18): a spec's `KF_TRUSTED_ARGS` is then expected to be absent.
pub fn check_sources_on(
    set: &SpecSet,
    sources: &[SourceFile],
    uapi: Option<&str>,
    trusted_default: bool,
) -> Vec<Drift> {
    let names = crib_names(set);
    let upstream: BTreeSet<&str> = set
        .kfuncs()
        .filter(|k| !k.origin.is_crib())
        .map(|k| k.name.as_str())
        .collect();
    let is_crib = |rel: &Path, name: &str| {
        !upstream.contains(name)
            && (names.contains(name)
                || name.starts_with("bpf_crib_")
                || name.starts_with("bpf_iter_crib_")
                || in_crib_dir(rel))
    };
    let mut regs = Vec::new();
    let mut defs = Vec::new();
    for s in sources {
        regs.extend(
            registrations(&s.text)
                .into_iter()
                .filter(|r| is_crib(&s.path, &r.name))
                .map(|r| (s.path.clone(), r)),
        );
        defs.extend(
            definitions(&s.text)
                .into_iter()
                .filter(|d| is_crib(&s.path, &d.name))
                .map(|d| (s.path.clone(), d)),
        );
    }
    let loc = |p: &Path, line: u32| Loc {
        file: p.to_path_buf(),
        line,
    };
    let mut out = Vec::new();
    for k in set.kfuncs().filter(|k| k.origin.is_crib()) {
        let my_regs: Vec<_> = regs.iter().filter(|(_, r)| r.name == k.name).collect();
        let my_defs: Vec<_> = defs.iter().filter(|(_, d)| d.name == k.name).collect();
        if my_regs.is_empty() {
            out.push(Drift::NotRegistered {
                name: k.name.clone(),
            });
        }
        let spec_flags: BTreeSet<&str> = k
            .flags
            .iter()
            .filter(|f| !(trusted_default && **f == crate::model::KfFlag::TrustedArgs))
            .map(|f| f.c_name())
            .collect();
        for (p, r) in &my_regs {
            let tree_flags: BTreeSet<&str> = r.flags.iter().map(String::as_str).collect();
            if tree_flags != spec_flags {
                out.push(Drift::FlagsDiffer {
                    name: k.name.clone(),
                    at: loc(p, r.line),
                    spec: crate::gen::flags_expr(k),
                    tree: r.flags.join(" | "),
                });
            }
        }
        if let (Some((p, r)), true) = (my_regs.first(), my_defs.is_empty()) {
            out.push(Drift::NotDefined {
                name: k.name.clone(),
                registered: loc(p, r.line),
            });
        }
        for (p, d) in &my_defs {
            if !same_prototype(k, d) {
                out.push(Drift::PrototypeDiffers {
                    name: k.name.clone(),
                    at: loc(p, d.line),
                    spec: prototype(k),
                    tree: format!(
                        "{}{}{}({})",
                        d.ret,
                        if d.ret.ends_with('*') { "" } else { " " },
                        d.name,
                        if d.args.is_empty() {
                            "void".to_string()
                        } else {
                            d.args.join(", ")
                        }
                    ),
                });
            }
        }
    }
    let mut seen_extra = BTreeSet::new();
    let extras = regs
        .iter()
        .map(|(p, r)| (p, &r.name, r.line))
        .chain(defs.iter().map(|(p, d)| (p, &d.name, d.line)));
    for (p, name, line) in extras {
        if !names.contains(name.as_str()) && seen_extra.insert(name.clone()) {
            out.push(Drift::Extra {
                name: name.clone(),
                at: loc(p, line),
            });
        }
    }
    let path = PathBuf::from(UAPI_PATH);
    match uapi {
        None => out.push(Drift::UapiMissing { path }),
        Some(text) => {
            if let Some(line) = first_difference(text, &uapi_header(set)) {
                out.push(Drift::UapiDiffers { path, line });
            }
        }
    }
    out
}

/// Integers compare by size and signedness only (`u32` = `__u32`).
fn canonical(ty: &CType) -> CType {
    match ty {
        CType::Int { bytes, signed, .. } => CType::Int {
            name: String::new(),
            bytes: *bytes,
            signed: *signed,
        },
        CType::Ptr { is_const, pointee } => CType::Ptr {
            is_const: *is_const,
            pointee: Box::new(canonical(pointee)),
        },
        CType::Array { elem, len } => CType::Array {
            elem: Box::new(canonical(elem)),
            len: *len,
        },
        other => other.clone(),
    }
}

fn same_prototype(k: &Kfunc, d: &scan::Definition) -> bool {
    let ret_ok = parse_type(&d.ret).is_ok_and(|t| canonical(&t) == canonical(&k.ret));
    ret_ok
        && d.args.len() == k.args.len()
        && d.args.iter().zip(&k.args).all(|(text, a)| {
            parse_named(text)
                .is_ok_and(|(ty, name)| name == a.name && canonical(&ty) == canonical(&a.ty))
        })
}
