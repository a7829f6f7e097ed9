//! The repository's own vmtest.toml and splat allowlist stay valid as
//! people add tests to them.

use crib_vmtest::config::Config;
use crib_vmtest::splat::Detector;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn repo_vmtest_toml_parses_and_has_the_lanes() {
    let path = root().join("vmtest.toml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for lane in ["patched", "debian-6.12", "debian-6.1"] {
        let t = cfg
            .target(lane)
            .unwrap_or_else(|| panic!("{}: no target {lane}", path.display()));
        let r = cfg.resolve(t);
        assert!(!r.commands.is_empty(), "lane {lane} runs no tests");
        assert!(r.commands.iter().all(|c| !c.timeout.is_zero()));
    }
    assert!(cfg.defaults.targets.as_ref().is_some_and(|t| !t.is_empty()));
}

/// `{vmlinux}` exists only for kernels we build: a host_prepare using it
/// must be limited to targets booting `patched` or `patched-<base>`.
#[test]
fn vmlinux_preparations_only_on_patched_targets() {
    let path = root().join("vmtest.toml");
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for t in &cfg.targets {
        for h in cfg.resolve(t).host_prepare {
            if h.command.contains("{vmlinux}") {
                assert!(
                    t.kernel == "patched" || t.kernel.starts_with("patched-"),
                    "{}: test {} needs {{vmlinux}} but runs on {} ({})",
                    path.display(),
                    h.test,
                    t.name,
                    t.kernel
                );
            }
        }
    }
    let patched = cfg.target("patched").map(|t| cfg.resolve(t));
    assert!(
        patched.is_some_and(|r| r.host_prepare.iter().any(|h| h.test == "verifier/crib")),
        "the verifier suite must run on the patched lane"
    );
}

#[test]
fn repo_allowlist_parses() {
    let path = root().join("vmtest/splat-allowlist.txt");
    if let Err(e) = Detector::with_allowlist(&path) {
        panic!("{e}");
    }
}

#[test]
fn allowlist_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("allow.txt");
    std::fs::write(&p, "# ok\nBUG: fine\n(oops\n").unwrap_or_else(|e| panic!("{e}"));
    let e = Detector::with_allowlist(&p)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}: line 3: bad regex", p.display())),
        "{e}"
    );
}
