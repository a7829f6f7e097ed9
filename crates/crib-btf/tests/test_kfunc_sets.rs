//! kfunc registrations (`.BTF_ids` kfunc sets with `KF_*` flags) read from
//! an ELF "kernel": registered or not, and flags against the spec.

mod common;

use crib_btf::compat::{check, Kernel, Options, ProblemCode, Verdict};
use object::{Object, ObjectSection, ObjectSymbol};

/// Compile the fixture and patch the set's ids with the FUNCs' BTF ids.
fn kernel_with_sets(dir: &std::path::Path) -> std::path::PathBuf {
    let obj = common::clang_bpf(&common::fixture("kernel_kfunc_sets.c"), dir, &[]);
    let mut data = std::fs::read(&obj).expect("read");
    let btf = crib_btf::load(&obj).unwrap_or_else(|e| panic!("{e}"));
    let id = |name: &str| {
        btf.find_one(name, &[crib_btf::Kind::Func])
            .unwrap_or_else(|| panic!("{name} in fixture BTF"))
            .id
    };
    let ids = [
        id("bpf_crib_file_from_fd"),
        id("bpf_crib_put_file"),
        id("bpf_crib_sock_release"),
    ];
    let (sec_off, sym_off) = {
        let f = object::File::parse(&*data).expect("elf");
        let sec = f.section_by_name(".BTF_ids").expect(".BTF_ids");
        let sym = f
            .symbols()
            .find(|s| s.name() == Ok("__BTF_ID__set8__crib_test_kfunc_ids"))
            .expect("set symbol");
        let (off, _) = sec.file_range().expect("in file");
        (off as usize, (sym.address() - sec.address()) as usize)
    };
    for (i, id) in ids.iter().enumerate() {
        let at = sec_off + sym_off + 8 + 8 * i;
        data[at..at + 4].copy_from_slice(&id.to_le_bytes());
    }
    let out = dir.join("kernel-with-sets.o");
    std::fs::write(&out, data).expect("write");
    out
}

fn verdict<'r>(r: &'r crib_btf::Report, item: &str) -> &'r Verdict {
    &r.items
        .iter()
        .find(|i| i.name == item)
        .unwrap_or_else(|| panic!("{item}"))
        .results[0]
}

fn codes(v: &Verdict) -> Vec<ProblemCode> {
    match v {
        Verdict::Incompatible { problems } => problems.iter().map(|p| p.code).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn registrations_and_flags_are_checked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = kernel_with_sets(tmp.path());
    let k = Kernel::load("sets", &path).unwrap_or_else(|e| panic!("{e}"));
    let sets = k.kfunc_sets.as_ref().expect("sets read from the ELF");
    assert_eq!(sets.sets, vec!["crib_test_kfunc_ids".to_string()]);
    let r = check(&common::real_specs(), &[k], Vec::new(), Options::default());
    assert!(r.kernels[0].kfunc_sets);
    assert!(verdict(&r, "bpf_crib_file_from_fd").is_ok());
    assert!(verdict(&r, "bpf_crib_put_file").is_ok());
    assert_eq!(
        codes(verdict(&r, "bpf_crib_sock_release")),
        vec![ProblemCode::Flags]
    );
    assert_eq!(
        codes(verdict(&r, "bpf_crib_sock_from_file")),
        vec![ProblemCode::NotRegistered]
    );
    let msg = match verdict(&r, "bpf_crib_sock_release") {
        Verdict::Incompatible { problems } => problems[0].message.clone(),
        _ => String::new(),
    };
    assert!(
        msg.contains("registered with 0") && msg.contains("KF_RELEASE"),
        "{msg}"
    );
}

#[test]
fn objects_and_raw_btf_have_no_sets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plain = common::clang_bpf(
        &common::fixture("kernel_skb_info.c"),
        tmp.path(),
        &["-DVARIANT_V1"],
    );
    assert!(Kernel::load("x", &plain)
        .expect("loads")
        .kfunc_sets
        .is_none());
    assert!(common::corpus().iter().all(|k| k.kfunc_sets.is_none()));
}

#[test]
fn objects_calling_unregistered_functions_do_not_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let kpath = kernel_with_sets(tmp.path());
    let k = Kernel::load("sets", &kpath).unwrap_or_else(|e| panic!("{e}"));
    let src = tmp.path().join("caller.c");
    std::fs::write(
        &src,
        r#"
struct file; struct sock;
extern struct sock *bpf_crib_sock_from_file(struct file *file) __attribute__((section(".ksyms"), weak));
extern void bpf_crib_put_file(struct file *file) __attribute__((section(".ksyms")));
__attribute__((section("syscall"), used)) int prog(void *ctx)
{
	struct file *f = (struct file *)ctx;
	if (bpf_crib_sock_from_file(f))
		return 1;
	bpf_crib_put_file(f);
	return 0;
}
"#,
    )
    .expect("write");
    let o = common::clang_bpf(&src, tmp.path(), &[]);
    let obj = crib_btf::object::open(&o).unwrap_or_else(|e| panic!("{e}"));
    let rep = crib_btf::object::analyze(&obj, std::slice::from_ref(&k), crib_btf::Mode::Relaxed);
    let cell = |name: &str| {
        rep.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.results[0].cell())
            .unwrap_or_default()
    };
    assert_eq!(cell("bpf_crib_sock_from_file"), "BAD: not a kfunc");
    assert_eq!(cell("bpf_crib_put_file"), "ok");
    assert_eq!(rep.loads, vec![false]);
}
