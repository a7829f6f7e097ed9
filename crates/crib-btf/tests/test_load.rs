//! Loading BTF from every form it comes in, and named errors for bad files.

mod common;

use crib_btf::decompress::{decompress, Format};
use crib_btf::{load, LoadProblem};
use std::io::Write;
use std::path::{Path, PathBuf};

fn raw_6_1() -> Vec<u8> {
    common::corpus()[0].btf.bytes().to_vec()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).expect("xz");
    e.finish().expect("xz")
}
fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}
fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}
/// The kernel's lz4 legacy frame: magic, then (size, block) pairs of 8 MiB input.
fn lz4_legacy(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x02, 0x21, 0x4c, 0x18];
    for chunk in data.chunks(8 << 20) {
        let b = lz4_flex::block::compress(chunk);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write");
    p
}

/// An ELF with a .BTF section: a compiled fixture.
fn elf_with_btf(dir: &Path) -> PathBuf {
    common::clang_bpf(
        &common::fixture("kernel_skb_info.c"),
        dir,
        &["-DVARIANT_V2"],
    )
}

#[test]
fn raw_and_compressed_btf_files() {
    let raw = raw_6_1();
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, data) in [
        ("k.raw", raw.clone()),
        ("k.raw.xz", xz(&raw)),
        ("k.raw.gz", gz(&raw)),
        ("k.raw.zst", zst(&raw)),
    ] {
        let btf = load(write(tmp.path(), name, &data)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(btf.type_count(), 95246, "{name}");
    }
}

#[test]
fn elf_with_btf_section() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let obj = elf_with_btf(tmp.path());
    let btf = load(&obj).unwrap_or_else(|e| panic!("{e}"));
    assert!(btf
        .find_one("bpf_crib_skb_info", &[crib_btf::Kind::Struct])
        .is_some());
}

/// A fake bzImage: setup code, then the compressed vmlinux, then trailing
/// data, as the kernel lays it out. Decoys with bad data come first.
fn fake_image(payload: &[u8]) -> Vec<u8> {
    let mut img = b"MZ\x00\x00HdrS fake setup code".to_vec();
    img.extend(std::iter::repeat_n(0xccu8, 4096));
    // Decoy magics that do not decompress.
    img.extend_from_slice(&[0x1f, 0x8b, 0x08, 0, 0, 0]);
    img.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff]);
    img.extend_from_slice(payload);
    img.extend(std::iter::repeat_n(0u8, 512));
    img.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    img
}

#[test]
fn compressed_kernel_images_in_every_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let elf = std::fs::read(elf_with_btf(tmp.path())).expect("read elf");
    let want = crib_btf::load::elf_section(&elf, ".BTF")
        .expect("elf")
        .expect(".BTF");
    for (f, payload) in [
        (Format::Gzip, gz(&elf)),
        (Format::Xz, xz(&elf)),
        (Format::Zstd, zst(&elf)),
        (Format::Lz4Legacy, lz4_legacy(&elf)),
    ] {
        assert_eq!(
            decompress(f, &payload).expect("roundtrip"),
            elf,
            "{}",
            f.name()
        );
        let p = write(
            tmp.path(),
            &format!("vmlinuz-{}", f.name()),
            &fake_image(&payload),
        );
        let btf = load(&p).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
        assert_eq!(btf.bytes(), &want[..], "{}", f.name());
    }
}

#[test]
fn bad_files_are_named_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let raw = raw_6_1();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.raw",
            raw[..raw.len() / 2].to_vec(),
            "truncated BTF",
        ),
        ("header.raw", raw[..10].to_vec(), "truncated BTF"),
        (
            "junk.bin",
            b"hello, this is not a kernel".to_vec(),
            "no compressed kernel payload",
        ),
        ("empty", Vec::new(), "no compressed kernel payload"),
        (
            "bad.xz",
            {
                let mut x = xz(&raw);
                let n = x.len();
                x.truncate(n / 3);
                x
            },
            "xz decompression failed",
        ),
        (
            "notbtf.xz",
            xz(b"plain text, compressed"),
            "unrecognized file format",
        ),
    ];
    for (name, data, want) in cases {
        let p = write(tmp.path(), name, &data);
        let e = load(&p).expect_err(name);
        let msg = e.to_string();
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
    let e = load(tmp.path().join("missing")).expect_err("missing");
    assert!(matches!(e.problem, LoadProblem::Io(_)));

    // An ELF without .BTF, plain and inside a kernel image.
    let src = write(tmp.path(), "plain.c", b"int f(int x) { return x; }\n");
    let o = tmp.path().join("plain.o");
    let st = std::process::Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&o)
        .status()
        .expect("clang");
    assert!(st.success());
    assert!(matches!(
        load(&o).expect_err("no btf").problem,
        LoadProblem::NoBtfSection
    ));
    let img = write(
        tmp.path(),
        "vmlinuz-nobtf",
        &fake_image(&gz(&std::fs::read(&o).expect("read"))),
    );
    assert!(matches!(
        load(&img).expect_err("no btf").problem,
        LoadProblem::NoBtfSection
    ));
}

#[test]
fn labels_come_from_file_names() {
    use crib_btf::load::label_for;
    assert_eq!(
        label_for(Path::new("/x/btf-6.1.0-56-cloud-amd64.raw.xz")),
        "6.1.0-56-cloud-amd64"
    );
    assert_eq!(
        label_for(Path::new("vmlinuz-6.12.117+deb12-cloud-amd64")),
        "6.12.117+deb12-cloud-amd64"
    );
    assert_eq!(label_for(Path::new("/sys/kernel/btf/vmlinux")), "sys");
    assert_eq!(label_for(Path::new("vmlinux")), "vmlinux");
}

#[test]
fn running_kernel_btf_loads() {
    let p = Path::new(crib_btf::SYS_VMLINUX);
    assert!(
        p.exists(),
        "{} does not exist: this test needs a host kernel with CONFIG_DEBUG_INFO_BTF",
        p.display()
    );
    let btf = load(p).unwrap_or_else(|e| panic!("{e}"));
    assert!(btf.type_count() > 1000);
    assert!(btf
        .find_one("task_struct", &[crib_btf::Kind::Struct])
        .is_some());
}
