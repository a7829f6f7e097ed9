//! Program-by-program loading (engine/progload.rs) against the running
//! kernel's verifier: an object with two good programs and one that every
//! verifier refuses (a load from a constant address). Needs root, clang
//! (a BASE package) and a kernel with SYSCALL programs (5.14+).

use crib_harness::engine::bpfobj::BpfError;
use crib_harness::engine::progload::{check_file, load_tolerant};
use libbpf_rs::ObjectBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = r#"
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
__attribute__((section("syscall"), used)) int good(void *ctx) { return 0; }
__attribute__((section("syscall"), used)) int bad(void *ctx)
{
	return *(volatile int *)(unsigned long)ctx + *(volatile int *)0x1000;
}
__attribute__((section("?syscall"), used)) int optional(void *ctx) { return 2; }
__attribute__((section("syscall"), used)) int good2(void *ctx) { return 1; }
"#;

fn build(dir: &Path) -> PathBuf {
    let src = dir.join("mixed.bpf.c");
    let obj = dir.join("mixed.bpf.o");
    std::fs::write(&src, SOURCE).expect("write source");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let st = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running {clang}: {e}"));
    assert!(st.success(), "{clang} failed on {}", src.display());
    obj
}

#[test]
fn every_program_gets_its_own_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = build(dir.path());
    let v = check_file(&obj).unwrap_or_else(|e| panic!("{e}"));
    let by = |n: &str| {
        v.programs
            .iter()
            .find(|p| p.name == n)
            .unwrap_or_else(|| panic!("{n} not reported: {v:?}"))
    };
    for good in ["good", "good2"] {
        let p = by(good);
        assert!(p.loaded, "{p:?}");
        let stats = p.stats.as_ref().expect("statistics of an accepted program");
        assert!(stats.insns >= 2, "{stats:?}");
    }
    let bad = by("bad");
    assert!(!bad.loaded);
    let why = bad.reason.as_deref().unwrap_or("");
    assert!(why.contains("invalid mem access"), "{why}");
    assert!(why.contains("(at insn "), "{why}");
    let opt = by("optional");
    assert!(!opt.autoload && opt.loaded, "{opt:?}");
    assert!(!v.all_loaded());
}

#[test]
fn a_refused_program_leaves_the_others_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obj = build(dir.path());
    let open = || {
        ObjectBuilder::default()
            .open_file(&obj)
            .map_err(|source| BpfError::Libbpf {
                object: "mixed",
                what: "open".into(),
                source,
            })
    };
    let t = load_tolerant("mixed", &open).unwrap_or_else(|e| panic!("{e}"));
    let loaded: Vec<String> = t
        .obj
        .progs()
        .filter(|p| p.autoload())
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(loaded, ["good", "good2"]);
    assert_eq!(t.rejected.len(), 1, "{:?}", t.rejected);
    assert_eq!(t.rejected[0].prog, "bad");
    assert!(t
        .rejection("bad")
        .is_some_and(|r| r.contains("invalid mem access")));
}

#[test]
fn an_object_refused_as_a_whole_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("one.bpf.c");
    std::fs::write(
        &src,
        "char LICENSE[] __attribute__((section(\"license\"), used)) = \"GPL\";\n\
         __attribute__((section(\"syscall\"), used)) int bad(void *c) { return *(volatile int *)0x1000; }\n",
    )
    .expect("write");
    let obj = dir.path().join("one.bpf.o");
    let st = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-g", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .expect("clang");
    assert!(st.success());
    let open = || {
        ObjectBuilder::default()
            .open_file(&obj)
            .map_err(|source| BpfError::Libbpf {
                object: "one",
                what: "open".into(),
                source,
            })
    };
    let err = match load_tolerant("one", &open) {
        Ok(_) => panic!("a program every verifier refuses loaded"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("invalid mem access"), "{err}");
}

#[test]
fn a_file_that_is_not_an_object_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("junk.bpf.o");
    std::fs::write(&p, b"not an ELF").expect("write");
    let err = check_file(&p).expect_err("junk must not open");
    assert!(err.to_string().contains("junk.bpf.o"), "{err}");
}
