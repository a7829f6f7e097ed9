//! Shared test helpers: the kernel BTF corpus, the workspace spec set, and
//! compiling C fixtures with clang.
#![allow(dead_code)]

use crib_btf::compat::Kernel;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The three corpus kernels, as (label, file name).
pub const CORPUS: [(&str, &str); 3] = [
    ("6.1", "btf-6.1.0-56-cloud-amd64.raw.xz"),
    ("6.12", "btf-6.12.117+deb12-cloud-amd64.raw.xz"),
    ("6.18", "btf-6.18.44-host.raw.xz"),
];

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The corpus directory: `$CRIB_BTF_CORPUS`, else `<workspace>/../shared/btf`.
/// Panics (fails the test) with where it looked and how to build one.
pub fn corpus_dir() -> PathBuf {
    let candidates: Vec<PathBuf> = match std::env::var_os("CRIB_BTF_CORPUS") {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![workspace_root().join("../shared/btf")],
    };
    for d in &candidates {
        if CORPUS.iter().all(|(_, f)| d.join(f).is_file()) {
            return d.clone();
        }
    }
    panic!(
        "kernel BTF corpus not found: looked in {} for {}. Set CRIB_BTF_CORPUS=DIR, or build one \
         with `cargo xtask btf-corpus --out DIR` (the two Debian kernels) plus \
         `cargo xtask btf-corpus --out DIR sys` on a 6.18.44 host.",
        candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        CORPUS
            .iter()
            .map(|(_, f)| *f)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The corpus kernels, loaded once per test binary, labelled `6.1`,
/// `6.12`, `6.18`, with paths relative to the corpus (stable snapshots).
pub fn corpus() -> &'static [Kernel] {
    static K: std::sync::OnceLock<Vec<Kernel>> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let dir = corpus_dir();
        CORPUS
            .iter()
            .map(|(label, file)| {
                let btf = crib_btf::load(dir.join(file))
                    .unwrap_or_else(|e| panic!("loading corpus kernel: {e}"));
                Kernel::new(*label, PathBuf::from(file), btf)
            })
            .collect()
    })
}

/// The workspace's real `kfunc-specs/` (`$CRIB_SPEC_DIR` overrides).
pub fn real_specs() -> crib_spec::SpecSet {
    let dir = std::env::var_os("CRIB_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("kfunc-specs"));
    crib_spec::load_dir(&dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Compile a C fixture with `clang -O2 -g -target bpf -c` into `out`.
pub fn clang_bpf(src: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let obj = out.join(
        src.file_stem()
            .map(|s| format!("{}.bpf.o", s.to_string_lossy()))
            .unwrap_or_else(|| "fixture.bpf.o".into()),
    );
    let res = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .args(extra)
        .arg(src)
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap_or_else(|e| {
            panic!("running clang (apt-get install clang; listed in xtask deps BASE): {e}")
        });
    assert!(
        res.status.success(),
        "clang failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    obj
}
