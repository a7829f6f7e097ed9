//! Turning a file into BTF, whatever form the kernel's BTF comes in: raw
//! BTF (`/sys/kernel/btf/vmlinux`, `objcopy --only-section=.BTF` output),
//! xz/gzip/zstd-compressed files, ELF files with a `.BTF` section (vmlinux,
//! BPF objects) and compressed kernel images (vmlinuz/bzImage).

use crate::btf::{Btf, BTF_MAGIC};
use crate::decompress::{decompress, decompress_lenient, payload_candidates, Format};
use crate::error::{LoadError, LoadProblem};
use crate::kfunc_sets::{self, KfuncSets};
use object::{Object, ObjectSection};
use std::path::Path;

/// Where the running kernel publishes its BTF.
pub const SYS_VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// A loaded kernel: its BTF and, for an unstripped vmlinux, its kfunc
/// registrations.
#[derive(Debug)]
pub struct Loaded {
    pub btf: Btf,
    pub kfunc_sets: Option<KfuncSets>,
}

/// Load the BTF of a kernel or BPF object from `path`.
pub fn load(path: impl AsRef<Path>) -> Result<Btf, LoadError> {
    load_kernel(path).map(|l| l.btf)
}

/// Like [`load`], also reading kfunc sets when the file is an ELF vmlinux
/// with symbols.
pub fn load_kernel(path: impl AsRef<Path>) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let data = std::fs::read(path).map_err(|e| LoadError::new(path, e))?;
    let is_module = path.starts_with("/sys/kernel/btf") && path != Path::new(SYS_VMLINUX);
    loaded_from_bytes(data).map_err(|p| match p {
        LoadProblem::Btf(_) if is_module => LoadError::new(path, LoadProblem::SplitBtf),
        p => LoadError::new(path, p),
    })
}

/// Like [`load`], for bytes already in memory.
pub fn from_bytes(data: Vec<u8>) -> Result<Btf, LoadProblem> {
    loaded_from_bytes(data).map(|l| l.btf)
}

fn loaded_from_bytes(data: Vec<u8>) -> Result<Loaded, LoadProblem> {
    let (raw, kfunc_sets) = raw_btf(data, 0)?;
    Ok(Loaded {
        btf: Btf::parse(raw)?,
        kfunc_sets,
    })
}

/// `.BTF` of an ELF file, and its kfunc sets if it has them.
fn from_elf(data: &[u8]) -> Result<(Vec<u8>, Option<KfuncSets>), LoadProblem> {
    let btf = elf_section(data, ".BTF")?.ok_or(LoadProblem::NoBtfSection)?;
    Ok((btf, kfunc_sets::from_elf(data)))
}

/// The raw BTF inside `data`; `depth` bounds nested compression.
fn raw_btf(data: Vec<u8>, depth: u32) -> Result<(Vec<u8>, Option<KfuncSets>), LoadProblem> {
    let magic = BTF_MAGIC.to_le_bytes();
    if data.starts_with(&magic) || data.starts_with(&[magic[1], magic[0]]) {
        return Ok((data, None));
    }
    if data.starts_with(b"\x7fELF") {
        return from_elf(&data);
    }
    if depth < 2 {
        if let Some(f) = Format::sniff(&data) {
            return raw_btf(decompress(f, &data)?, depth + 1);
        }
    }
    if depth == 0 {
        return kernel_image(&data);
    }
    Err(LoadProblem::UnknownFormat)
}

/// The bytes of section `name` of an ELF file (`None` if it has none).
pub fn elf_section(data: &[u8], name: &str) -> Result<Option<Vec<u8>>, LoadProblem> {
    let file = object::File::parse(data).map_err(|e| LoadProblem::Elf(e.to_string()))?;
    match file.section_by_name(name) {
        None => Ok(None),
        Some(s) => s
            .uncompressed_data()
            .map(|d| Some(d.into_owned()))
            .map_err(|e| LoadProblem::Elf(format!("section {name}: {e}"))),
    }
}

/// A compressed kernel image: try every compression magic in the file, in
/// order, until one decompresses to an ELF with `.BTF`.
fn kernel_image(data: &[u8]) -> Result<(Vec<u8>, Option<KfuncSets>), LoadProblem> {
    let mut found_elf_without_btf = false;
    for (at, f) in payload_candidates(data) {
        let Ok(out) = decompress_lenient(f, &data[at..]) else {
            continue;
        };
        if !out.starts_with(b"\x7fELF") {
            continue;
        }
        match elf_section(&out, ".BTF") {
            Ok(Some(btf)) => return Ok((btf, kfunc_sets::from_elf(&out))),
            Ok(None) => found_elf_without_btf = true,
            Err(_) => continue,
        }
    }
    if found_elf_without_btf {
        return Err(LoadProblem::NoBtfSection);
    }
    Err(LoadProblem::NoCompressedPayload)
}

/// A short label for a kernel file: `btf-6.1.0-56-cloud-amd64.raw.xz` ->
/// `6.1.0-56-cloud-amd64`, `vmlinuz-6.12.0` -> `6.12.0`.
pub fn label_for(path: &Path) -> String {
    if path == Path::new(SYS_VMLINUX) {
        return "sys".into();
    }
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    loop {
        let before = name.len();
        for suf in [
            ".xz", ".gz", ".zst", ".lz4", ".raw", ".btf", ".bin", ".o", ".elf",
        ] {
            if let Some(s) = name.strip_suffix(suf) {
                name = s.to_string();
            }
        }
        if name.len() == before {
            break;
        }
    }
    for pre in ["btf-", "vmlinuz-", "vmlinux-", "bzImage-"] {
        if let Some(s) = name.strip_prefix(pre) {
            if !s.is_empty() {
                name = s.to_string();
            }
        }
    }
    name
}
