//! Generated outputs: insta snapshots from the real specs, and a real
//! clang compile of a BPF program that includes `vmlinux.h` + kfuncs.h.

use crib_spec::gen::{bpf_header, generate_all, kernel_kfuncs, uapi_header, GENERATED};
use crib_spec::{load_dir, SpecSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn specs() -> SpecSet {
    load_dir(&root().join("kfunc-specs"))
        .unwrap_or_else(|e| panic!("kfunc-specs/ does not load:\n{e}"))
}

#[test]
fn snapshot_bpf_header() {
    insta::assert_snapshot!("kfuncs_h", bpf_header(&specs()));
}

#[test]
fn snapshot_uapi_header() {
    insta::assert_snapshot!("bpf_crib_h", uapi_header(&specs()));
}

#[test]
fn snapshot_kernel_fragment() {
    insta::assert_snapshot!("crib_kfuncs_txt", kernel_kfuncs(&specs()));
}

#[test]
fn every_generated_file_says_generated() {
    for g in generate_all(&specs()) {
        assert!(
            g.contents.contains(GENERATED) || g.contents.contains(&GENERATED.replace(" — ", "; ")),
            "{}",
            g.path.display()
        );
    }
}

#[test]
fn committed_generated_files_are_fresh() {
    let stale = crib_spec::gen::check_all(&root(), &specs()).expect("readable");
    let names: Vec<String> = stale.iter().map(ToString::to_string).collect();
    assert!(names.is_empty(), "run `cargo xtask gen`: {names:?}");
}

#[test]
fn upstream_types_are_not_redefined() {
    let h = bpf_header(&specs());
    assert!(
        !h.contains("struct bpf_iter_task_vma {"),
        "upstream iterator state must come from vmlinux.h"
    );
    assert!(h.contains("struct bpf_iter_crib_file {"));
    assert!(h.contains("extern int bpf_iter_task_vma_new("));
}

#[test]
fn uapi_header_is_kernel_style() {
    let h = uapi_header(&specs());
    assert!(h.starts_with("/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */\n"));
    assert!(h.contains("#include <linux/types.h>"));
    for (i, l) in h.lines().enumerate() {
        let cols = l.replace('\t', "        ").len();
        assert!(cols <= 100, "line {} too long ({cols})", i + 1);
        assert!(
            !l.ends_with(' ') && !l.ends_with('\t'),
            "line {}: trailing whitespace",
            i + 1
        );
        assert!(!l.starts_with("    "), "line {}: spaces, not tabs", i + 1);
        // uapi headers must not use kernel-internal u32/s32 spellings.
        for bad in ["\tu8 ", "\tu16 ", "\tu32 ", "\tu64 ", "\ts32 ", "\tbool "] {
            assert!(!l.starts_with(bad), "line {}: `{l}`", i + 1);
        }
    }
}

// ---- the clang compile test ----------------------------------------------

/// `bpftool btf dump file /sys/kernel/btf/vmlinux format c` into `dir`.
fn dump_vmlinux_h(dir: &Path) -> PathBuf {
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    assert!(
        btf.exists(),
        "cannot run: {} is missing (the host kernel needs CONFIG_DEBUG_INFO_BTF)",
        btf.display()
    );
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(btf)
        .args(["format", "c"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run bpftool (apt-get install bpftool): {e}"));
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("vmlinux.h");
    std::fs::write(&path, &out.stdout).expect("write vmlinux.h");
    path
}

const PROG: &str = r#"
#include "vmlinux.h"
#include "crib/kfuncs.h"
/* After kfuncs.h on purpose: its __ksym/__weak fallbacks must be
 * token-identical to libbpf's so the redefinition is legal. */
#include <bpf/bpf_helpers.h>

SEC("syscall")
int crib_gen_test(void *ctx)
{
	struct bpf_iter_crib_file it;
	struct bpf_crib_skb_info info = {
		.sz = BPF_CRIB_SKB_INFO_SZ_V2,
		.version = BPF_CRIB_SKB_INFO_VERSION,
	};
	struct task_struct *task;
	struct file *file;
	int n = 0;

	_Static_assert(BPF_CRIB_SKB_INFO_SZ_V1 < BPF_CRIB_SKB_INFO_SZ_V2, "versions grow");
	task = bpf_task_from_vpid(1);
	if (!task)
		return BPF_CRIB_QUEUE_RECEIVE;
	bpf_iter_crib_file_new(&it, task);
	while ((file = bpf_iter_crib_file_next(&it)))
		n += bpf_iter_crib_file_fd(&it);
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(task);
	return n + info.sz;
}

char LICENSE[] SEC("license") = "GPL";
"#;

fn clang_compile(dir: &Path, extra: &[&str]) -> std::process::Output {
    let src = dir.join("prog.c");
    std::fs::write(&src, PROG).expect("write prog.c");
    Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c"])
        .args(extra)
        .arg("-I")
        .arg(dir)
        .arg("-I")
        .arg(dir.join("include"))
        .arg(&src)
        .arg("-o")
        .arg(dir.join("prog.o"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run clang (apt-get install clang): {e}"))
}

fn write_header(dir: &Path, set: &SpecSet) {
    let inc = dir.join("include/crib");
    std::fs::create_dir_all(&inc).expect("mkdir");
    std::fs::write(inc.join("kfuncs.h"), bpf_header(set)).expect("write kfuncs.h");
}

#[test]
fn header_compiles_with_host_vmlinux_h() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dump_vmlinux_h(tmp.path());
    write_header(tmp.path(), &specs());
    let out = clang_compile(tmp.path(), &[]);
    assert!(
        out.status.success(),
        "clang failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("prog.o").exists());
}

/// The corpus kernels of `../shared/btf/` (6.1 lacks bpf_iter_task_vma
/// and most upstream kfuncs): the header must still compile with each.
#[test]
fn header_compiles_with_corpus_kernels() {
    let corpus = root().join("../shared/btf");
    let files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| {
            panic!(
                "cannot run: {}: {e} (the BTF corpus, see its README)",
                corpus.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".raw.xz"))
        .collect();
    assert!(
        files.len() >= 3,
        "expected the 3 corpus kernels in {}",
        corpus.display()
    );
    let set = specs();
    for f in files {
        let tmp = tempfile::tempdir().expect("tempdir");
        let raw = tmp.path().join("btf.raw");
        let out = Command::new("xz")
            .arg("-dc")
            .arg(&f)
            .output()
            .unwrap_or_else(|e| panic!("cannot run xz: {e}"));
        assert!(out.status.success(), "xz -dc {} failed", f.display());
        std::fs::write(&raw, &out.stdout).expect("write");
        let out = Command::new("bpftool")
            .args(["btf", "dump", "file"])
            .arg(&raw)
            .args(["format", "c"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run bpftool: {e}"));
        assert!(
            out.status.success(),
            "bpftool on {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(tmp.path().join("vmlinux.h"), &out.stdout).expect("write");
        write_header(tmp.path(), &set);
        let out = clang_compile(tmp.path(), &[]);
        assert!(
            out.status.success(),
            "clang failed with {}:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A vmlinux.h from a CRIB-patched kernel already has the CRIB types: with
/// CRIB_VMLINUX_HAS_CRIB_TYPES the header must not redefine them, and
/// without it clang must complain (proving the guard is what helps).
#[test]
fn guard_avoids_clash_with_patched_vmlinux_h() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let real = dump_vmlinux_h(tmp.path());
    let set = specs();
    // Model the patched kernel's BTF: the uapi types plus the opaques.
    let mut crib_types: String = uapi_header(&set)
        .lines()
        .filter(|l| !l.starts_with("#include"))
        .map(|l| format!("{l}\n"))
        .collect();
    for o in set.opaques().filter(|o| !o.upstream) {
        crib_types.push_str(&format!(
            "struct {} {{ __u64 __opaque[{}]; }} __attribute__((aligned(8)));\n",
            o.name, o.words
        ));
    }
    let vmlinux = std::fs::read_to_string(&real).expect("read");
    std::fs::write(&real, format!("{vmlinux}\n{crib_types}")).expect("write");
    write_header(tmp.path(), &set);
    let out = clang_compile(tmp.path(), &["-DCRIB_VMLINUX_HAS_CRIB_TYPES"]);
    assert!(
        out.status.success(),
        "clang failed with the guard:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = clang_compile(tmp.path(), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("redefinition"),
        "expected a redefinition error:\n{err}"
    );
}

/// The generated uapi header compiles on its own for the host (as a
/// kernel's `make headers_install` user would include it).
#[test]
fn uapi_header_compiles_for_userspace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let linux = tmp.path().join("linux");
    std::fs::create_dir_all(&linux).expect("mkdir");
    std::fs::write(linux.join("bpf_crib.h"), uapi_header(&specs())).expect("write");
    let src = tmp.path().join("u.c");
    std::fs::write(
        &src,
        "#include <linux/bpf_crib.h>\n#include <stddef.h>\n\
         _Static_assert(sizeof(struct bpf_crib_skb_info) == BPF_CRIB_SKB_INFO_SZ_V2, \"sz\");\n\
         _Static_assert(offsetof(struct bpf_crib_skb_info, ifindex) == BPF_CRIB_SKB_INFO_SZ_V1, \"v1 prefix\");\n\
         int main(void) { return BPF_CRIB_QUEUE_WRITE; }\n",
    )
    .expect("write");
    let out = Command::new("clang")
        .args(["-Wall", "-Werror", "-fsyntax-only", "-I"])
        .arg(tmp.path())
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run clang: {e}"));
    assert!(
        out.status.success(),
        "clang failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_all_names_missing_and_stale_files_and_write_all_fixes_them() {
    use crib_spec::gen::{check_all, write_all, Staleness};
    let set = specs();
    let tmp = tempfile::tempdir().expect("tempdir");
    let stale = check_all(tmp.path(), &set).expect("check");
    assert_eq!(stale.len(), 3);
    assert!(stale.iter().all(|s| s.why == Staleness::Missing));
    assert!(check_all(tmp.path(), &set).is_ok(), "check must not write");
    assert_eq!(write_all(tmp.path(), &set).expect("write").len(), 3);
    assert!(check_all(tmp.path(), &set).expect("check").is_empty());
    assert!(
        write_all(tmp.path(), &set).expect("write").is_empty(),
        "fresh files are not rewritten"
    );
    let h = tmp.path().join(crib_spec::gen::UAPI_HEADER_PATH);
    let text = std::fs::read_to_string(&h).expect("read");
    std::fs::write(&h, text.replace("__u32 mark;", "__u32 mark; /* edited */")).expect("write");
    let stale = check_all(tmp.path(), &set).expect("check");
    let line = text
        .lines()
        .position(|l| l.contains("__u32 mark;"))
        .map(|i| i + 1)
        .expect("has mark");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].why, Staleness::Differs { line });
    assert_eq!(
        stale[0].to_string(),
        format!("kernel-patches/generated/bpf_crib.h:{line}: stale (differs from the specs)")
    );
}
