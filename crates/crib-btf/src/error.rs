//! Typed errors: [`BtfError`] for problems inside BTF bytes, [`LoadError`]
//! for a file that could not be turned into BTF (always names the file).

use std::path::PathBuf;

/// A problem inside raw BTF bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    #[error("truncated BTF: {what} needs {need} bytes at offset {at}, only {have} available")]
    Truncated {
        what: &'static str,
        at: usize,
        need: usize,
        have: usize,
    },
    #[error("wrong BTF magic {0:#06x} (expected 0xeb9f)")]
    BadMagic(u16),
    #[error("big-endian BTF is not supported")]
    BigEndian,
    #[error("unsupported BTF version {0} (expected 1)")]
    UnsupportedVersion(u8),
    #[error("bad BTF header: {0}")]
    BadHeader(String),
    #[error("type [{id}] has unknown kind {kind}")]
    UnknownKind { id: u32, kind: u32 },
    #[error("unknown type id {0}")]
    UnknownTypeId(u32),
    #[error("type [{id}] refers to unknown type id {target}")]
    BadTypeRef { id: u32, target: u32 },
    #[error("string offset {0} is outside the string section or not NUL-terminated UTF-8")]
    BadString(u32),
    #[error("type chain starting at [{0}] is too deep or loops")]
    TypeLoop(u32),
    #[error("too many types ({0}) for the type section size")]
    TooManyTypes(usize),
}

/// Why a file could not be loaded as BTF.
#[derive(Debug, thiserror::Error)]
pub enum LoadProblem {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error("not a valid ELF file: {0}")]
    Elf(String),
    #[error("ELF file has no .BTF section (built without CONFIG_DEBUG_INFO_BTF, or not compiled with -g?)")]
    NoBtfSection,
    #[error("no compressed kernel payload found (looked for gzip, xz, zstd and lz4 streams that decompress to an ELF with .BTF)")]
    NoCompressedPayload,
    #[error("{format} decompression failed: {msg}")]
    Decompress { format: &'static str, msg: String },
    #[error(
        "unrecognized file format (not raw BTF, ELF, xz/gzip/zstd or a compressed kernel image)"
    )]
    UnknownFormat,
    #[error("module BTF is split BTF on top of vmlinux and is not supported; check /sys/kernel/btf/vmlinux")]
    SplitBtf,
    #[error(".BTF.ext: {0}")]
    BtfExt(String),
}

/// A file that could not be loaded, with the file's path. Its message is
/// complete on one line, so it exposes no `source()` (error chains would
/// print the problem twice).
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct LoadError {
    pub path: PathBuf,
    pub problem: LoadProblem,
}

impl LoadError {
    pub fn new(path: impl Into<PathBuf>, problem: impl Into<LoadProblem>) -> Self {
        LoadError {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
