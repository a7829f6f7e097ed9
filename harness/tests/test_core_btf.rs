//! The trimmed kernel BTF (engine::core_btf) relocates every program exactly
//! as the full kernel BTF does: libbpf prepares each embedded object twice,
//! CO-RE against the full BTF and against its trimmed copy, and the
//! instructions must be the same (map fds aside). Real kernels: the BTFs in
//! ../shared/btf and the running kernel's.

use crib_harness::engine::bpfobj::objects;
use crib_harness::engine::core_btf;
use crib_harness::engine::progload;
use libbpf_rs::{AsRawLibbpf, ObjectBuilder};
use std::path::{Path, PathBuf};

const OBJECTS: &[(&str, Option<&[u8]>)] = &[
    ("crib_dump", objects::CRIB_DUMP),
    ("crib_iter", objects::CRIB_ITER),
    ("crib_restore", objects::CRIB_RESTORE),
    ("crib_sys", objects::CRIB_SYS),
];

fn kernels() -> Vec<(String, Vec<u8>)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/btf");
    let mut v = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&shared)
        .unwrap_or_else(|e| panic!("{}: {e}", shared.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".raw.xz"))
        .collect();
    files.sort();
    for p in files {
        let btf = crib_btf::load(&p).unwrap_or_else(|e| panic!("{e}"));
        v.push((crib_btf::load::label_for(&p), btf.bytes().to_vec()));
    }
    let host = std::fs::read("/sys/kernel/btf/vmlinux").expect("host kernel BTF");
    v.push(("host".into(), host));
    assert!(v.len() >= 4, "expected the shared BTFs and the host's");
    v
}

/// Every program's instructions after libbpf's CO-RE relocation against
/// `btf`; map references (fds, different every time) zeroed.
fn relocated(
    name: &'static str,
    bytes: &[u8],
    btf: &Path,
) -> Result<Vec<(String, Vec<u64>)>, String> {
    let mut b = ObjectBuilder::default();
    b.name(name).map_err(|e| e.to_string())?;
    b.btf_custom_path(btf).map_err(|e| e.to_string())?;
    let mut open = b.open_memory(bytes).map_err(|e| e.to_string())?;
    progload::set_crib_type(name, &mut open, libbpf_sys::BPF_PROG_TYPE_SYSCALL, false)
        .map_err(|e| e.to_string())?;
    // SAFETY: a valid opened object; prepare relocates and creates maps.
    let rc = unsafe { libbpf_sys::bpf_object__prepare(open.as_libbpf_object().as_ptr()) };
    if rc != 0 {
        return Err(format!("bpf_object__prepare: {rc}"));
    }
    let mut out = Vec::new();
    for p in open.progs() {
        let insns: Vec<u64> = p
            .insns()
            .iter()
            .map(|i| {
                let pseudo_map = i.code == 0x18 && matches!(i.src_reg(), 1 | 2 | 5 | 6);
                let imm = if pseudo_map { 0 } else { i.imm as u32 };
                u64::from(i.code)
                    | (u64::from(i.dst_reg()) << 8)
                    | (u64::from(i.src_reg()) << 12)
                    | (u64::from(i.off as u16) << 16)
                    | (u64::from(imm) << 32)
            })
            .collect();
        out.push((p.name().to_string_lossy().into_owned(), insns));
    }
    Ok(out)
}

#[test]
fn trimmed_btf_relocates_every_program_as_the_full_btf_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    for (label, kernel) in kernels() {
        let full = dir.path().join(format!("{label}.full.btf"));
        std::fs::write(&full, &kernel).expect("write");
        for &(name, bytes) in OBJECTS {
            let Some(bytes) = bytes else {
                panic!("{name} was not built into this harness");
            };
            let local = core_btf::elf_section(bytes, ".BTF")
                .expect("ELF")
                .expect(".BTF");
            let names = core_btf::local_names(local).expect("object BTF");
            let trimmed = core_btf::trim(&kernel, &names).expect("trim");
            assert!(
                trimmed.len() < kernel.len() / 2,
                "{label}/{name}: trimmed BTF is {} of {} bytes",
                trimmed.len(),
                kernel.len()
            );
            let tp = dir.path().join(format!("{label}.{name}.btf"));
            std::fs::write(&tp, &trimmed).expect("write");
            let a = relocated(name, bytes, &full);
            let b = relocated(name, bytes, &tp);
            match (&a, &b) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.len(), b.len(), "{label}/{name}: program count");
                    for ((pa, ia), (pb, ib)) in a.iter().zip(b) {
                        assert_eq!(pa, pb);
                        assert!(ia == ib, "{label}/{name}/{pa}: relocations differ");
                        compared += 1;
                    }
                }
                _ => assert_eq!(a, b, "{label}/{name}: full vs trimmed outcome"),
            }
        }
    }
    assert!(compared > 20, "only {compared} programs compared");
}

/// The kernel's type ids for the `crib_ktype_*` variables, and the cache:
/// reused when whole, rebuilt when torn.
#[test]
fn type_ids_are_the_kernel_s_and_the_cache_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var("CRIB_CACHE_DIR", dir.path());
    let host = Path::new("/sys/kernel/btf/vmlinux");
    let bytes = objects::CRIB_DUMP.expect("crib_dump built");
    let full = crib_btf::load(host).expect("host BTF");
    let p = core_btf::prepare("crib_dump", bytes, host, true).expect("prepare");
    assert!(
        matches!(
            core_btf::last_outcome(),
            Some(core_btf::Outcome::Built { path: Some(_), .. })
        ),
        "{:?}",
        core_btf::last_outcome()
    );
    assert!(p.ktypes.len() >= 9, "{:?}", p.ktypes);
    for (name, id) in &p.ktypes {
        let t = full
            .find_one(name, &[crib_btf::Kind::Struct])
            .unwrap_or_else(|| panic!("struct {name}"));
        assert_eq!(t.id, *id, "struct {name}");
    }
    let btf = p.btf.as_ref().expect("a trimmed BTF").path().to_path_buf();
    let small = crib_btf::load(&btf).expect("the trimmed BTF parses");
    assert!(
        small.type_count() * 5 < full.type_count(),
        "{} of {}",
        small.type_count(),
        full.type_count()
    );
    assert!(small
        .find_one("task_struct", &[crib_btf::Kind::Struct])
        .is_some());
    // Reached from nothing the object names: gone.
    assert!(small
        .find_one("xdp_buff", &[crib_btf::Kind::Struct])
        .is_none());

    core_btf::prepare("crib_dump", bytes, host, true).expect("again");
    assert_eq!(
        core_btf::last_outcome(),
        Some(core_btf::Outcome::Cached { path: btf.clone() })
    );
    // A torn file is rebuilt, not handed to libbpf.
    let whole = std::fs::read(&btf).expect("read");
    std::fs::write(&btf, &whole[..whole.len() / 2]).expect("tear");
    core_btf::prepare("crib_dump", bytes, host, true).expect("rebuilt");
    assert!(matches!(
        core_btf::last_outcome(),
        Some(core_btf::Outcome::Built { .. })
    ));
    assert_eq!(std::fs::read(&btf).expect("read"), whole);

    // Kernel features: cached by build id, the same as read from the BTF.
    let read = crib_harness::engine::KernelFeatures::from_file(host).expect("features");
    assert_eq!(crib_harness::engine::KernelFeatures::detect(), read);
    let cached: Vec<PathBuf> = std::fs::read_dir(dir.path().join("core-btf"))
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("-features-"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(crib_harness::engine::KernelFeatures::detect(), read);
    // A torn one (no closing line) is read again from the BTF.
    std::fs::write(&cached[0], "bpf_iter__task\n").expect("tear");
    assert_eq!(crib_harness::engine::KernelFeatures::detect(), read);
    assert!(std::fs::read_to_string(&cached[0])
        .expect("read")
        .ends_with("end\n"));

    // No cache directory we may write: built into a memfd, kept for the
    // process, and the engine still opens (libbpf reads /proc/self/fd/N).
    std::env::set_var("CRIB_CACHE_DIR", "/proc/crib-cannot-write-here");
    let p = core_btf::prepare("crib_iter", objects::CRIB_ITER.expect("built"), host, true)
        .expect("prepare without a cache");
    assert!(
        matches!(
            core_btf::last_outcome(),
            Some(core_btf::Outcome::Built { path: None, .. })
        ),
        "{:?}",
        core_btf::last_outcome()
    );
    let fd_path = p.btf.as_ref().expect("memfd").path().to_path_buf();
    assert!(
        fd_path.starts_with("/proc/self/fd"),
        "{}",
        fd_path.display()
    );
    let engine = crib_harness::engine::upstream::UpstreamEngine::open();
    assert!(engine.is_ok(), "{:?}", engine.err());
    std::env::set_var("CRIB_CACHE_DIR", dir.path());

    let err = core_btf::prepare("junk", b"not an ELF file at all, really not", host, true)
        .err()
        .expect("junk is refused");
    assert!(err.to_string().contains("junk"), "{err}");
}
