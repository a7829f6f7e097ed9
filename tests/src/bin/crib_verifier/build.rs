//! Host side: vmlinux.h from the CRIB kernel, then clang for every program.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `*.bpf.c` in `dir`, sorted.
pub fn sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.to_string_lossy().ends_with(".bpf.c") {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("{}: no *.bpf.c programs", dir.display());
    }
    Ok(out)
}

/// The object file name of a source (`x.bpf.c` -> `x.bpf.o`).
pub fn object_name(src: &Path) -> String {
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}.o", name.trim_end_matches(".c"))
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Dump `vmlinux.h` from `vmlinux` into `out`, compile every program of
/// `progs` into `out`; returns the objects.
pub fn build(
    vmlinux: &Path,
    progs: &Path,
    kfuncs_include: &Path,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    if !vmlinux.is_file() {
        bail!(
            "{}: no such kernel image (build it: cargo xtask kernel build)",
            vmlinux.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = run(
        Command::new("bpftool")
            .args(["btf", "dump", "file"])
            .arg(vmlinux)
            .args(["format", "c"]),
        "bpftool btf dump",
    )?;
    // A CRIB kernel's BTF has the CRIB structs; kfuncs.h must not repeat them.
    let has_crib_types = String::from_utf8_lossy(&header).contains("struct bpf_crib_skb_info {");
    let vmlinux_h = out.join("vmlinux.h");
    std::fs::write(&vmlinux_h, header)
        .with_context(|| format!("writing {}", vmlinux_h.display()))?;

    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let mut objs = Vec::new();
    for src in sources(progs)? {
        let obj = out.join(object_name(&src));
        run(
            Command::new(&clang)
                .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"])
                .args(has_crib_types.then_some("-DCRIB_VMLINUX_HAS_CRIB_TYPES"))
                .arg("-I")
                .arg(out)
                .arg("-I")
                .arg(progs)
                .arg("-I")
                .arg(kfuncs_include)
                .arg("-c")
                .arg(&src)
                .arg("-o")
                .arg(&obj),
            &format!("clang {}", src.display()),
        )?;
        objs.push(obj);
    }
    Ok(objs)
}
