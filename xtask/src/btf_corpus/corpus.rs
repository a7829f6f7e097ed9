//! The portability corpus: which kernels, where their BTF comes from, the
//! cache, and the `crib compat` report over all of them.

use super::{sha256, unpack, vmlinuz_of, write_compressed};
use crate::apt::PrivateApt;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a corpus kernel's package is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The machine's own apt (bookworm).
    System,
    /// The kit's private apt configuration (trixie, trixie-backports, sid).
    Private,
    /// `/sys/kernel/btf/vmlinux` of the running kernel.
    Host,
}

/// One kernel of the corpus.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    /// Column name in the report.
    pub label: &'static str,
    /// The package holding its vmlinuz (from 7.x Debian splits the image:
    /// `linux-binary-*` has the kernel, `linux-modules-*` the modules).
    pub package: &'static str,
    pub origin: Origin,
}

/// At least 8 real kernels: two LTS bases in two Debian builds each, the
/// 7.x line, a cloud and an rt flavour (other configs), and the host.
pub const CORPUS: &[Member] = &[
    Member {
        label: "6.1-bookworm",
        package: "linux-image-6.1.0-57-amd64-unsigned",
        origin: Origin::System,
    },
    Member {
        label: "6.12-bookworm",
        package: "linux-image-6.12.117+deb12-amd64-unsigned",
        origin: Origin::System,
    },
    Member {
        label: "6.12-trixie",
        package: "linux-image-6.12.117+deb13-amd64-unsigned",
        origin: Origin::Private,
    },
    Member {
        label: "7.0",
        package: "linux-binary-7.0.13+deb13-amd64",
        origin: Origin::Private,
    },
    Member {
        label: "7.2",
        package: "linux-binary-7.2.12+deb13-amd64",
        origin: Origin::Private,
    },
    Member {
        label: "7.3",
        package: "linux-binary-7.3.4+deb13-amd64",
        origin: Origin::Private,
    },
    Member {
        label: "7.3-cloud",
        package: "linux-binary-7.3.4+deb13-cloud-amd64",
        origin: Origin::Private,
    },
    Member {
        label: "7.3-rt",
        package: "linux-binary-7.3.4+deb13-rt-amd64",
        origin: Origin::Private,
    },
    Member {
        label: "host",
        package: "sys",
        origin: Origin::Host,
    },
];

/// `btf/` of the kit's cache.
pub fn cache_dir() -> PathBuf {
    crib_vmtest::cache::root().join("btf")
}

/// The version the machine's own apt would download of `pkg`.
fn system_version(pkg: &str) -> Result<String> {
    crate::apt::candidate_version(
        Command::new("apt-cache"),
        pkg,
        "this machine's apt lists (`apt-get update`?)",
    )
}

/// A file name part from a package version (`+`, `:`, `~` kept apart).
fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The cached BTF of one member, fetched when its package version is new.
fn fetch(m: &Member, apt: &PrivateApt) -> Result<PathBuf> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if m.origin == Origin::Host {
        // Never cached: the host kernel can change under us.
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .context("reading /proc/sys/kernel/osrelease")?;
        let name = format!("btf-{}-host.raw", file_part(release.trim()));
        let btf = crib_btf::load(crib_btf::SYS_VMLINUX)?;
        write_compressed(&btf, &name, &dir)?;
        return Ok(dir.join(format!("{name}.xz")));
    }
    let version = match m.origin {
        Origin::System => system_version(m.package)?,
        _ => apt.version(m.package)?,
    };
    let cached = dir.join(format!(
        "btf-{}_{}.raw.xz",
        file_part(m.package),
        file_part(&version)
    ));
    if cached.is_file() {
        eprintln!("[btf-corpus] {}: cached {}", m.label, cached.display());
        return Ok(cached);
    }
    let work = dir.join(format!(".work-{}", file_part(m.package)));
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "[btf-corpus] {}: downloading {} {version}",
        m.label, m.package
    );
    let deb = match m.origin {
        Origin::System => {
            std::fs::create_dir_all(&work)?;
            let st = Command::new("apt-get")
                .args(["-q", "-o", "APT::Sandbox::User=root", "download"])
                .arg(format!("{}={version}", m.package))
                .current_dir(&work)
                .status()
                .context("running apt-get download")?;
            if !st.success() {
                bail!("apt-get download {}={version} failed", m.package);
            }
            super::find(&work, |n| n.ends_with(".deb"))?
                .with_context(|| format!("apt-get download {} left no .deb", m.package))?
        }
        _ => apt.download(m.package, &work)?,
    };
    let root = work.join("root");
    unpack(&deb, &root)?;
    let (vmlinuz, _) = vmlinuz_of(m.package, &root)?;
    let btf = crib_btf::load(&vmlinuz)
        .with_context(|| format!("{}: reading .BTF of {}", m.package, vmlinuz.display()))?;
    let raw = cached.with_extension("");
    let name = raw
        .file_name()
        .and_then(|n| n.to_str())
        .context("cache file name")?
        .to_string();
    write_compressed(&btf, &name, &dir)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(cached)
}

/// Markers of the generated part of docs/portability.md.
const BEGIN: &str =
    "<!-- BEGIN generated by `cargo xtask btf-corpus --corpus`: do not edit by hand -->";
const END: &str = "<!-- END generated by `cargo xtask btf-corpus --corpus` -->";

pub fn run(write_docs: bool) -> Result<()> {
    crate::deps::ensure(&["xz-utils", "dpkg", "coreutils"])?;
    let apt = PrivateApt::new()?;
    let mut kernels = Vec::new();
    let mut rows = Vec::new();
    for m in CORPUS {
        let path = fetch(m, &apt).with_context(|| format!("corpus kernel {}", m.label))?;
        let sum = sha256(&path)?;
        rows.push(format!(
            "| {} | `{}` | {} | `{}` |",
            m.label,
            m.package,
            match m.origin {
                Origin::System => "bookworm (the machine's apt)",
                Origin::Private => "trixie / backports / sid (private apt)",
                Origin::Host => "/sys/kernel/btf/vmlinux",
            },
            &sum[..16]
        ));
        kernels.push((m.label, path));
    }
    let objects = objects()?;
    let report = compat(&kernels, &objects, "markdown")?;
    let programs = program_table(&kernels, &compat(&kernels, &objects, "json")?)?;
    let mut text = String::new();
    text.push_str(BEGIN);
    text.push_str("\n\n| kernel | package | from | sha256 of the .xz (16) |\n|---|---|---|---|\n");
    for r in &rows {
        text.push_str(r);
        text.push('\n');
    }
    text.push_str(&format!(
        "\n`crib compat` of every spec'd item and of {} on these kernels:\n\n",
        objects
            .iter()
            .filter_map(|o| o.file_name().and_then(|n| n.to_str()))
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text.push_str("Per program (libbpf loads each alone: `yes` = predicted to load):\n\n");
    text.push_str(&programs);
    text.push('\n');
    text.push_str(report.trim_end());
    text.push('\n');
    text.push_str(END);
    if write_docs {
        let doc = crate::workspace_root().join("docs/portability.md");
        let old =
            std::fs::read_to_string(&doc).with_context(|| format!("reading {}", doc.display()))?;
        let (Some(a), Some(b)) = (old.find(BEGIN), old.find(END)) else {
            bail!("{}: no generated-section markers", doc.display());
        };
        let new = format!("{}{}{}", &old[..a], text, &old[b + END.len()..]);
        std::fs::write(&doc, new).with_context(|| format!("writing {}", doc.display()))?;
        eprintln!("[btf-corpus] {} regenerated", doc.display());
    } else {
        println!("{text}");
    }
    Ok(())
}

/// `target/bpf/*.bpf.o`, built first.
fn objects() -> Result<Vec<PathBuf>> {
    let root = crate::workspace_root();
    let st = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "-q", "-p", "crib-harness", "-p", "crib-cli"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !st.success() {
        bail!("cargo build -p crib-harness -p crib-cli failed");
    }
    // Relative to the workspace (crib runs there): the report names them so.
    Ok(crate::vmtest::bpf_objects(&root)?
        .into_iter()
        .map(|p| p.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(p))
        .collect())
}

/// `crib compat --format FORMAT` over the corpus: exit 0 or 1 (an
/// incompatibility is a finding of the report, not a failure of it).
fn compat(kernels: &[(&str, PathBuf)], objects: &[PathBuf], format: &str) -> Result<String> {
    let root = crate::workspace_root();
    let crib = root.join("target/debug/crib");
    let mut c = Command::new(&crib);
    c.current_dir(&root).args(["compat", "--format", format]);
    for (label, p) in kernels {
        c.arg("--kernel").arg(format!("{label}={}", p.display()));
    }
    for o in objects {
        c.arg("--object").arg(o);
    }
    let out = c
        .output()
        .with_context(|| format!("running {}", crib.display()))?;
    match out.status.code() {
        Some(0 | 1) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => bail!(
            "crib compat failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// A Markdown table, program by kernel, from compat's JSON report.
fn program_table(kernels: &[(&str, PathBuf)], json: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(json).context("crib compat --format json: not JSON")?;
    let mut t = String::from("| program |");
    for (label, _) in kernels {
        t.push_str(&format!(" {label} |"));
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(kernels.len()));
    t.push('\n');
    let objects = v["objects"].as_array().context("compat JSON: no objects")?;
    for o in objects {
        let path = o["path"].as_str().unwrap_or("?");
        let obj = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(path)
            .trim_end_matches(".bpf.o");
        for p in o["programs"].as_array().into_iter().flatten() {
            if p["autoload"].as_bool() == Some(false) {
                continue;
            }
            t.push_str(&format!("| {obj}/{} |", p["name"].as_str().unwrap_or("?")));
            for r in p["results"].as_array().into_iter().flatten() {
                t.push_str(match r["loads"].as_bool() {
                    Some(true) => " yes |",
                    Some(false) => " no |",
                    None => " ? |",
                });
            }
            t.push('\n');
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_has_eight_real_kernels_and_the_flavours() {
        let real = CORPUS.iter().filter(|m| m.origin != Origin::Host).count();
        assert!(real >= 8, "{real} packaged kernels");
        assert!(CORPUS.iter().any(|m| m.package.contains("-cloud-")));
        assert!(CORPUS.iter().any(|m| m.package.contains("-rt-")));
        assert!(CORPUS.iter().any(|m| m.origin == Origin::Host));
        let mut labels: Vec<_> = CORPUS.iter().map(|m| m.label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), CORPUS.len(), "labels are unique");
    }

    #[test]
    fn cache_names_keep_versions_apart() {
        assert_eq!(file_part("6.12.117-1~deb12u1"), "6.12.117-1_deb12u1");
        assert_eq!(file_part("1:2+x"), "1_2+x");
    }
}
