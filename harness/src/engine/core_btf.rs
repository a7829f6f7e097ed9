//! A compact copy of the kernel's BTF for libbpf's CO-RE relocation, built
//! once per kernel and object and cached, and the kernel type ids an object
//! takes as constants.
//!
//! At every open libbpf looks for the candidates of each relocated type by
//! walking the whole kernel BTF (`bpf_core_add_cands`: every type of a
//! compatible kind, its name and flavour), a quarter of an engine open.
//! Given `btf_custom_path` it searches that file instead. The file written
//! here holds only the types relocation can look at, renumbered:
//!
//! - every type whose name (without its `___flavour`) is a name in the
//!   object's own BTF, and everything its content refers to;
//! - through a pointer, a struct or union is only checked for its kind
//!   (libbpf's field and type compatibility rules stop there), so it becomes
//!   an anonymous struct or union without members ("shell") unless it is
//!   kept for its own sake.
//!
//! Renumbering is sound because no relocation of our objects returns a
//! kernel type id: the ids `bpf_rdonly_cast` takes are `.rodata` constants
//! (`crib_ktype_NAME`, [`KTYPE_PREFIX`]) the loader fills from the full
//! BTF when it builds the cache. An object that still has
//! `bpf_core_type_id_kernel` relocations is relocated against the full
//! BTF. Kfunc externs are resolved against the real kernel BTF (libbpf does
//! that apart from CO-RE), and the kernel verifies against its own.
//! Cache key: the kernel's GNU build id (`/sys/kernel/notes`, else a digest
//! of its BTF) and a digest of the object's `.BTF` section.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const MAGIC: u16 = 0xeb9f;
const HDR_MIN: usize = 24;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Debug, thiserror::Error)]
pub enum CoreBtfError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: malformed BTF: {problem}")]
    Malformed { what: String, problem: String },
    #[error("BPF object {0}: no .BTF section")]
    NoObjectBtf(String),
    #[error("{name}: not a BPF object: {problem}")]
    NotObject { name: String, problem: String },
}

fn malformed(what: &str, problem: impl Into<String>) -> CoreBtfError {
    CoreBtfError::Malformed {
        what: what.to_string(),
        problem: problem.into(),
    }
}

/// How the trimmed BTF of the last open came to be (for the bench and
/// `crib dump --verbose`-style reports).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Read from the cache.
    Cached { path: PathBuf },
    /// Built now (`seconds`), then cached at `path` or, with no usable
    /// cache directory, kept in memory for the rest of the process.
    Built { seconds: f64, path: Option<PathBuf> },
    /// Not used: libbpf searched the full kernel BTF (the reason).
    Unused { reason: String },
}

static LAST: Mutex<Option<Outcome>> = Mutex::new(None);

/// The outcome of the last [`prepare`] in this process.
pub fn last_outcome() -> Option<Outcome> {
    LAST.lock().ok().and_then(|g| g.clone())
}

/// [`last_outcome`], cleared (to tell one open's from the next).
pub fn take_outcome() -> Option<Outcome> {
    LAST.lock().ok().and_then(|mut g| g.take())
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Cached { .. } => write!(f, "read from the cache"),
            Outcome::Built {
                seconds,
                path: Some(_),
            } => write!(f, "built in {:.1} ms, then cached", seconds * 1e3),
            Outcome::Built {
                seconds,
                path: None,
            } => write!(
                f,
                "built in {:.1} ms, no cache directory (every process builds it)",
                seconds * 1e3
            ),
            Outcome::Unused { reason } => write!(f, "not used: {reason}"),
        }
    }
}

fn note(o: Outcome) {
    if let Ok(mut g) = LAST.lock() {
        *g = Some(o);
    }
}

/// A trimmed BTF file for libbpf's `btf_custom_path` (a memfd, kept for
/// the process, when it could not be cached).
pub struct CoreBtf {
    path: PathBuf,
    _memfd: Option<OwnedFd>,
}

impl CoreBtf {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What an object needs from the kernel's BTF before libbpf loads it.
pub struct Prepared {
    /// The trimmed BTF for CO-RE (`None`: libbpf uses the full one).
    pub btf: Option<Arc<CoreBtf>>,
    /// Kernel type ids for the object's `crib_ktype_NAME` .rodata
    /// variables (struct NAME), by NAME.
    pub ktypes: BTreeMap<String, u32>,
}

/// The prefix of the .rodata variables that take a kernel struct's type id
/// (`CRIB_KTYPE` in bpf/include/crib/fill.bpf.h).
pub const KTYPE_PREFIX: &str = "crib_ktype_";

/// The trimmed kernel BTF and type ids for object `name` (ELF `bytes`):
/// from the cache or built from `kernel_btf` (`/sys/kernel/btf/vmlinux`).
/// With `trimmed = false`, or for an object that relocates kernel type
/// ids itself (`bpf_core_type_id_kernel`, which needs the kernel's own id
/// numbering), only the type ids, from the full BTF.
pub fn prepare(
    name: &str,
    bytes: &[u8],
    kernel_btf: &Path,
    trimmed: bool,
) -> Result<Arc<Prepared>, CoreBtfError> {
    let key = (name.to_string(), kernel_btf.to_path_buf(), trimmed);
    if let Some(c) = IN_MEMORY.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(c);
    }
    let not_object = |problem| CoreBtfError::NotObject {
        name: name.to_string(),
        problem,
    };
    let local = elf_section(bytes, ".BTF")
        .map_err(not_object)?
        .ok_or_else(|| CoreBtfError::NoObjectBtf(name.to_string()))?;
    let what = format!("{name} .BTF");
    let local_raw = Raw::parse(local).map_err(|p| malformed(&what, p))?;
    let wanted = ktype_vars(&local_raw);
    let type_id_relos = match elf_section(bytes, ".BTF.ext").map_err(not_object)? {
        Some(ext) => {
            has_type_id_relos(ext).map_err(|p| malformed(&format!("{name} .BTF.ext"), p))?
        }
        None => false,
    };
    let read_kernel = || {
        std::fs::read(kernel_btf).map_err(|source| CoreBtfError::Io {
            path: kernel_btf.to_path_buf(),
            source,
        })
    };
    let kernel_what = kernel_btf.display().to_string();
    if !trimmed || type_id_relos {
        let reason = if trimmed {
            "the object relocates kernel type ids (bpf_core_type_id_kernel)"
        } else {
            "CRIB_CORE_BTF=full"
        };
        let ktypes = if wanted.is_empty() {
            BTreeMap::new()
        } else {
            let kernel = read_kernel()?;
            let r = Raw::parse(&kernel).map_err(|p| malformed(&kernel_what, p))?;
            struct_ids(&r, &wanted).map_err(|p| malformed(&kernel_what, p))?
        };
        note(Outcome::Unused {
            reason: reason.into(),
        });
        // Not memoised: the full path is the slow one being compared.
        return Ok(Arc::new(Prepared { btf: None, ktypes }));
    }

    // Without a build id the key is a digest of the BTF: read it once.
    let mut kernel_bytes = None;
    let kernel_id = match build_id() {
        Some(id) => id,
        None => {
            let b = read_kernel()?;
            let id = format!("btf{:016x}", digest(&b));
            kernel_bytes = Some(b);
            id
        }
    };
    let stem = format!("{kernel_id}-{:016x}", digest(local));
    for dir in cache_dirs() {
        if let Some(ktypes) = cached(&dir, &stem, &wanted) {
            let p = dir.join(format!("{stem}.btf"));
            note(Outcome::Cached { path: p.clone() });
            return Ok(Arc::new(Prepared {
                btf: Some(Arc::new(CoreBtf {
                    path: p,
                    _memfd: None,
                })),
                ktypes,
            }));
        }
    }
    let t = Instant::now();
    let kernel = match kernel_bytes {
        Some(b) => b,
        None => read_kernel()?,
    };
    let r = Raw::parse(&kernel).map_err(|p| malformed(&kernel_what, p))?;
    let out = trim_raw(&r, &names_of(&local_raw)).map_err(|p| malformed(&kernel_what, p))?;
    let ktypes = struct_ids(&r, &wanted).map_err(|p| malformed(&kernel_what, p))?;
    let seconds = t.elapsed().as_secs_f64();
    for dir in cache_dirs() {
        if let Some(p) = store(&dir, &stem, &out, &ktypes) {
            note(Outcome::Built {
                seconds,
                path: Some(p.clone()),
            });
            return Ok(Arc::new(Prepared {
                btf: Some(Arc::new(CoreBtf {
                    path: p,
                    _memfd: None,
                })),
                ktypes,
            }));
        }
    }
    let fd = memfd(&out)?;
    note(Outcome::Built {
        seconds,
        path: None,
    });
    let c = Arc::new(Prepared {
        btf: Some(Arc::new(CoreBtf {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            _memfd: Some(fd),
        })),
        ktypes,
    });
    if let Ok(mut m) = IN_MEMORY.lock() {
        m.insert(key, Arc::clone(&c));
    }
    Ok(c)
}

type MemoKey = (String, PathBuf, bool);

/// Builds no cache directory would take: libbpf reads the file at load
/// time, so the memfd must outlive the open; kept for the process.
static IN_MEMORY: Mutex<BTreeMap<MemoKey, Arc<Prepared>>> = Mutex::new(BTreeMap::new());

/// The struct names of an object's `crib_ktype_NAME` variables.
fn ktype_vars(local: &Raw) -> Vec<String> {
    let mut v: Vec<String> = (1..local.count())
        .filter(|&id| local.kind(id) == KIND_VAR)
        .filter_map(|id| local.name(id))
        .filter_map(|n| n.strip_prefix(KTYPE_PREFIX))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The kernel's type id of `struct NAME` for each name: exactly one.
fn struct_ids(r: &Raw, names: &[String]) -> Result<BTreeMap<String, u32>, String> {
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut found: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for id in 1..r.count() {
        if r.kind(id) != KIND_STRUCT {
            continue;
        }
        if let Some(n) = r.name(id).filter(|n| want.contains(n)) {
            found.entry(n.to_string()).or_default().push(id as u32);
        }
    }
    let mut out = BTreeMap::new();
    for n in names {
        match found.get(n).map(Vec::as_slice) {
            Some([id]) => {
                out.insert(n.clone(), *id);
            }
            Some(ids) => return Err(format!("struct {n} is ambiguous (ids {ids:?})")),
            None => return Err(format!("no struct {n}")),
        }
    }
    Ok(out)
}

/// Whether a `.BTF.ext` has BPF_CORE_TYPE_ID_TARGET relocations.
fn has_type_id_relos(ext: &[u8]) -> Result<bool, String> {
    const TYPE_ID_TARGET: u32 = 7;
    if u16_at(ext, 0) != Some(MAGIC) {
        return Err("bad magic".into());
    }
    let hdr_len = u32_at(ext, 4).ok_or("truncated header")? as usize;
    if hdr_len < 32 {
        return Ok(false); // no CO-RE section
    }
    let off = u32_at(ext, 24).ok_or("truncated header")? as usize;
    let len = u32_at(ext, 28).ok_or("truncated header")? as usize;
    let start = hdr_len.checked_add(off).ok_or("offset overflow")?;
    let sec = start
        .checked_add(len)
        .and_then(|e| ext.get(start..e))
        .ok_or("CO-RE section beyond the data")?;
    if sec.is_empty() {
        return Ok(false);
    }
    let rec = u32_at(sec, 0).ok_or("truncated CO-RE section")? as usize;
    if rec < 16 {
        return Err(format!("CO-RE record size {rec}"));
    }
    let mut p = 4;
    while p < sec.len() {
        let n = u32_at(sec, p + 4).ok_or("truncated CO-RE section")? as usize;
        p += 8;
        for _ in 0..n {
            let kind = u32_at(sec, p + 12).ok_or("truncated CO-RE record")?;
            if kind == TYPE_ID_TARGET {
                return Ok(true);
            }
            p += rec;
        }
    }
    Ok(false)
}

/// Where the cached files may live, in order: `$CRIB_CACHE_DIR` alone when
/// set; else `$XDG_CACHE_HOME/crib` (or `~/.cache/crib`), then `/run/crib`
/// (a tmpfs on most systems, e.g. in the VM lanes, whose home directory is
/// read-only).
pub fn cache_dirs() -> Vec<PathBuf> {
    if let Some(d) = std::env::var_os("CRIB_CACHE_DIR") {
        return vec![PathBuf::from(d).join("core-btf")];
    }
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        v.push(PathBuf::from(d).join("crib"));
    } else if let Some(d) = std::env::var_os("HOME") {
        v.push(PathBuf::from(d).join(".cache/crib"));
    }
    v.push(PathBuf::from("/run/crib"));
    v.into_iter().map(|d| d.join("core-btf")).collect()
}

/// Only our own files count: libbpf trusts what it reads here for the
/// offsets a program reads at, so a file someone else could write is not
/// used.
fn trusted(meta: &std::fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    meta.uid() == me && meta.permissions().mode() & 0o022 == 0
}

pub(crate) fn trusted_file(p: &Path) -> Option<std::fs::Metadata> {
    let meta = std::fs::metadata(p).ok()?;
    let dir = std::fs::metadata(p.parent()?).ok()?;
    (trusted(&dir) && trusted(&meta)).then_some(meta)
}

/// The cached type ids, if `STEM.btf` and `STEM.ids` are both there,
/// ours, whole, and the ids cover `wanted`.
fn cached(dir: &Path, stem: &str, wanted: &[String]) -> Option<BTreeMap<String, u32>> {
    let btf = dir.join(format!("{stem}.btf"));
    let meta = trusted_file(&btf)?;
    // A torn or foreign file is rebuilt, not handed to libbpf: its header
    // must say what its size is.
    let mut head = [0u8; HDR_MIN];
    std::fs::File::open(&btf)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .ok()?;
    if header(&head).ok()?.end() as u64 != meta.len() {
        return None;
    }
    let ids = dir.join(format!("{stem}.ids"));
    trusted_file(&ids)?;
    let text = std::fs::read_to_string(&ids).ok()?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let (n, id) = line.split_once(' ')?;
        m.insert(n.to_string(), id.parse().ok()?);
    }
    wanted.iter().all(|w| m.contains_key(w)).then_some(m)
}

fn store(dir: &Path, stem: &str, btf: &[u8], ids: &BTreeMap<String, u32>) -> Option<PathBuf> {
    own_dir(dir)?;
    let text: String = ids.iter().map(|(n, id)| format!("{n} {id}\n")).collect();
    // The ids first: a reader needs both, and takes the BTF as the sign
    // that the pair is complete.
    put(dir, &format!("{stem}.ids"), text.as_bytes())?;
    put(dir, &format!("{stem}.btf"), btf)
}

/// A cache directory of ours (created 0700), or `None`.
pub(crate) fn own_dir(dir: &Path) -> Option<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ok()?;
    trusted(&std::fs::metadata(dir).ok()?).then_some(())
}

/// Write atomically: a concurrent open sees the old file or the new one.
pub(crate) fn put(dir: &Path, file: &str, data: &[u8]) -> Option<PathBuf> {
    // Unique per process and call: threads of one process may write too.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file}.{}.{seq}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).ok()?;
    if f.write_all(data).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    drop(f);
    let p = dir.join(file);
    if std::fs::rename(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    Some(p)
}

fn memfd(data: &[u8]) -> Result<OwnedFd, CoreBtfError> {
    let io = |source| CoreBtfError::Io {
        path: PathBuf::from("memfd:crib-core-btf"),
        source,
    };
    // SAFETY: a valid NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"crib-core-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by memfd_create and is ours.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(owned.try_clone().map_err(io)?);
    f.write_all(data).map_err(io)?;
    Ok(owned)
}

/// The running kernel's GNU build id (`/sys/kernel/notes`).
pub(crate) fn build_id() -> Option<String> {
    gnu_build_id(&std::fs::read("/sys/kernel/notes").ok()?)
}

/// NT_GNU_BUILD_ID (type 3, name "GNU") from a sequence of ELF notes.
pub fn gnu_build_id(notes: &[u8]) -> Option<String> {
    let mut p = 0usize;
    let pad = |n: usize| (n + 3) & !3;
    while p + 12 <= notes.len() {
        let namesz = u32_at(notes, p)? as usize;
        let descsz = u32_at(notes, p + 4)? as usize;
        let kind = u32_at(notes, p + 8)?;
        let name_at = p + 12;
        let desc_at = name_at.checked_add(pad(namesz))?;
        let end = desc_at.checked_add(pad(descsz))?;
        if desc_at + descsz > notes.len() {
            return None;
        }
        if kind == 3 && notes.get(name_at..name_at + namesz)? == b"GNU\0" && descsz > 0 {
            let desc = &notes[desc_at..desc_at + descsz];
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        p = end;
    }
    None
}

/// FNV-1a over 8-byte words (the cache key, not a checksum of content).
pub(crate) fn digest(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    for &x in chunks.remainder() {
        h = (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ b.len() as u64
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Some(u64::from_le_bytes(w))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// A section of a little-endian ELF64 file (BPF objects are).
pub fn elf_section<'a>(elf: &'a [u8], want: &str) -> Result<Option<&'a [u8]>, String> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let bad = || "truncated section headers".to_string();
    let shoff = u64_at(elf, 0x28).ok_or_else(bad)? as usize;
    let shentsize = u16_at(elf, 0x3a).ok_or_else(bad)? as usize;
    let shnum = u16_at(elf, 0x3c).ok_or_else(bad)? as usize;
    let shstrndx = u16_at(elf, 0x3e).ok_or_else(bad)? as usize;
    if shentsize < 64 {
        return Err(format!("section header size {shentsize}"));
    }
    let sh = |i: usize| -> Result<(u32, usize, usize), String> {
        let at = shoff
            .checked_add(i.checked_mul(shentsize).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let name = u32_at(elf, at).ok_or_else(bad)?;
        let off = u64_at(elf, at + 0x18).ok_or_else(bad)? as usize;
        let size = u64_at(elf, at + 0x20).ok_or_else(bad)? as usize;
        Ok((name, off, size))
    };
    let body = |off: usize, size: usize| {
        off.checked_add(size)
            .and_then(|end| elf.get(off..end))
            .ok_or_else(|| format!("section at {off}+{size} beyond the file"))
    };
    let (_, stroff, strsize) = sh(shstrndx)?;
    let strs = body(stroff, strsize)?;
    for i in 0..shnum {
        let (name, off, size) = sh(i)?;
        let n = strs.get(name as usize..).unwrap_or(&[]);
        let n = &n[..n.iter().position(|&c| c == 0).unwrap_or(n.len())];
        if n == want.as_bytes() {
            return body(off, size).map(Some);
        }
    }
    Ok(None)
}

/// libbpf's `bpf_core_essential_name_len`: the name without a trailing
/// `___flavour` (the last `X___Y` separator with X, Y not underscores).
pub fn essential(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() >= 5 {
        for i in (0..=b.len() - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                return &name[..i + 1];
            }
        }
    }
    name
}

/// Where a BTF blob's sections are, as its header says (not yet checked
/// against any data).
struct Header {
    types: (usize, usize),
    strs: (usize, usize),
}

impl Header {
    /// Where the blob ends: header and both sections.
    fn end(&self) -> usize {
        (self.types.0 + self.types.1).max(self.strs.0 + self.strs.1)
    }
}

/// The header of a BTF blob, from its first [`HDR_MIN`] bytes.
fn header(b: &[u8]) -> Result<Header, String> {
    if u16_at(b, 0) != Some(MAGIC) {
        return Err("bad magic (not little-endian BTF)".into());
    }
    if b.get(2) != Some(&1) {
        return Err(format!("version {:?}", b.get(2)));
    }
    let hdr_len = u32_at(b, 4).ok_or("truncated header")? as usize;
    if hdr_len < HDR_MIN {
        return Err(format!("header length {hdr_len}"));
    }
    let f = |at| u32_at(b, at).map(|v| v as usize).ok_or("truncated header");
    let (toff, tlen, soff, slen) = (f(8)?, f(12)?, f(16)?, f(20)?);
    let section = |o: usize, l: usize| {
        hdr_len
            .checked_add(o)
            .filter(|s| s.checked_add(l).is_some())
            .map(|s| (s, l))
            .ok_or("section bounds overflow")
    };
    Ok(Header {
        types: section(toff, tlen)?,
        strs: section(soff, slen)?,
    })
}

/// A parsed BTF blob: each type's offset in the type section.
struct Raw<'a> {
    types: &'a [u8],
    strs: &'a [u8],
    /// offs[id] = offset of type `id` in `types` (offs[0] unused: void).
    offs: Vec<usize>,
}

fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        _ => return None,
    })
}

impl<'a> Raw<'a> {
    fn parse(b: &'a [u8]) -> Result<Raw<'a>, String> {
        let hdr = header(b)?;
        if hdr.end() > b.len() {
            return Err(format!(
                "sections end at {}, data is {} bytes",
                hdr.end(),
                b.len()
            ));
        }
        let types = &b[hdr.types.0..hdr.types.0 + hdr.types.1];
        let strs = &b[hdr.strs.0..hdr.strs.0 + hdr.strs.1];
        let mut offs = vec![0usize];
        let mut p = 0usize;
        while p < types.len() {
            let info = u32_at(types, p + 4).ok_or_else(|| format!("type at {p} truncated"))?;
            let kind = (info >> 24) & 0x1f;
            let extra = extra_len(kind, (info & 0xffff) as usize)
                .ok_or_else(|| format!("type [{}] has unknown kind {kind}", offs.len()))?;
            if p + 12 + extra > types.len() {
                return Err(format!("type [{}] runs past the type section", offs.len()));
            }
            offs.push(p);
            p += 12 + extra;
        }
        Ok(Raw { types, strs, offs })
    }

    fn count(&self) -> usize {
        self.offs.len()
    }

    fn word(&self, id: usize, at: usize) -> u32 {
        // In bounds: parse checked each type's length.
        u32_at(self.types, self.offs[id] + at).unwrap_or(0)
    }

    fn kind(&self, id: usize) -> u32 {
        (self.word(id, 4) >> 24) & 0x1f
    }

    fn vlen(&self, id: usize) -> usize {
        (self.word(id, 4) & 0xffff) as usize
    }

    fn bytes(&self, id: usize) -> &'a [u8] {
        let s = self.offs[id];
        let e = self.offs.get(id + 1).copied().unwrap_or(self.types.len());
        &self.types[s..e]
    }

    fn str_at(&self, off: u32) -> Option<&'a str> {
        let s = self.strs.get(off as usize..)?;
        let n = s.iter().position(|&c| c == 0)?;
        std::str::from_utf8(&s[..n]).ok()
    }

    fn name(&self, id: usize) -> Option<&'a str> {
        self.str_at(self.word(id, 0)).filter(|s| !s.is_empty())
    }

    /// Offsets (within the type's bytes) of the fields of type `id` that
    /// hold type ids.
    fn ref_fields(&self, id: usize, out: &mut Vec<usize>) {
        out.clear();
        let n = self.vlen(id);
        match self.kind(id) {
            KIND_PTR | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC
            | KIND_TYPE_TAG | KIND_VAR | KIND_DECL_TAG => out.push(8),
            KIND_ARRAY => out.extend([12, 16]),
            KIND_STRUCT | KIND_UNION => out.extend((0..n).map(|i| 12 + 12 * i + 4)),
            KIND_FUNC_PROTO => {
                out.push(8);
                out.extend((0..n).map(|i| 12 + 8 * i + 4));
            }
            KIND_DATASEC => out.extend((0..n).map(|i| 12 + 12 * i)),
            _ => {}
        }
    }

    /// Offsets (within the type's bytes) of the name fields of type `id`.
    fn name_fields(&self, id: usize) -> Vec<usize> {
        let n = self.vlen(id);
        let mut v = vec![0];
        match self.kind(id) {
            KIND_STRUCT | KIND_UNION | KIND_ENUM64 => v.extend((0..n).map(|i| 12 + 12 * i)),
            KIND_ENUM | KIND_FUNC_PROTO => v.extend((0..n).map(|i| 12 + 8 * i)),
            _ => {}
        }
        v
    }
}

/// The essential names of every named type of an object's `.BTF`.
pub fn local_names(btf: &[u8]) -> Result<HashSet<String>, String> {
    Ok(names_of(&Raw::parse(btf)?))
}

fn names_of(r: &Raw) -> HashSet<String> {
    (1..r.count())
        .filter_map(|id| r.name(id))
        .map(|n| essential(n).to_string())
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Keep {
    Drop,
    /// A struct/union seen only through a pointer: kind and size, no name.
    Shell,
    /// A modifier or typedef seen only through a pointer.
    Through,
    Full,
}

fn is_mod(kind: u32) -> bool {
    matches!(
        kind,
        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
    )
}

/// The compact BTF (see the module doc) of `kernel` for an object whose
/// BTF names `names` (essential names).
pub fn trim(kernel: &[u8], names: &HashSet<String>) -> Result<Vec<u8>, String> {
    trim_raw(&Raw::parse(kernel)?, names)
}

fn trim_raw(r: &Raw, names: &HashSet<String>) -> Result<Vec<u8>, String> {
    let n = r.count();
    let mut keep = vec![Keep::Drop; n];
    // (id, reached through a pointer)
    let mut stack: Vec<(u32, bool)> = (1..n)
        .filter(|&id| r.name(id).is_some_and(|nm| names.contains(essential(nm))))
        .map(|id| (id as u32, false))
        .collect();
    let mut fields = Vec::new();
    while let Some((id, via_ptr)) = stack.pop() {
        let id = id as usize;
        if id == 0 {
            continue;
        }
        if id >= n {
            return Err(format!("a type refers to [{id}], beyond the {n} types"));
        }
        let kind = r.kind(id);
        let want = if !via_ptr {
            Keep::Full
        } else if matches!(kind, KIND_STRUCT | KIND_UNION) {
            Keep::Shell
        } else if is_mod(kind) {
            Keep::Through
        } else {
            Keep::Full
        };
        if keep[id] >= want {
            continue;
        }
        keep[id] = want;
        if want == Keep::Shell {
            continue;
        }
        r.ref_fields(id, &mut fields);
        // A pointer's target, and what a modifier seen through one
        // names, are only checked for their kind.
        let next_via_ptr = kind == KIND_PTR || want == Keep::Through;
        stack.extend(fields.iter().map(|&f| (r.word(id, f), next_via_ptr)));
    }

    // Kept types, renumbered in their order.
    let mut new_id = vec![0u32; n];
    let mut next = 1u32;
    for (id, k) in keep.iter().enumerate().skip(1) {
        if *k != Keep::Drop {
            new_id[id] = next;
            next += 1;
        }
    }
    let mut strs: Vec<u8> = vec![0];
    let mut moved: HashMap<u32, u32> = HashMap::new();
    let mut types: Vec<u8> = Vec::new();
    for (id, k) in keep.iter().enumerate().skip(1) {
        match k {
            Keep::Drop => {}
            Keep::Shell => {
                types.extend_from_slice(&0u32.to_le_bytes());
                types.extend_from_slice(&(r.kind(id) << 24).to_le_bytes());
                types.extend_from_slice(&r.word(id, 8).to_le_bytes());
            }
            Keep::Through | Keep::Full => {
                let mut b = r.bytes(id).to_vec();
                for at in r.name_fields(id) {
                    let old = u32_at(&b, at).unwrap_or(0);
                    let new = if old == 0 {
                        0
                    } else if let Some(&m) = moved.get(&old) {
                        m
                    } else {
                        let s = r
                            .str_at(old)
                            .ok_or_else(|| format!("type [{id}]: bad name offset {old}"))?;
                        let m = strs.len() as u32;
                        strs.extend_from_slice(s.as_bytes());
                        strs.push(0);
                        moved.insert(old, m);
                        m
                    };
                    b[at..at + 4].copy_from_slice(&new.to_le_bytes());
                }
                r.ref_fields(id, &mut fields);
                for &at in &fields {
                    let old = u32_at(&b, at).unwrap_or(0) as usize;
                    let new = if old == 0 { 0 } else { new_id[old] };
                    if old != 0 && new == 0 {
                        return Err(format!("type [{id}] refers to [{old}], which was dropped"));
                    }
                    b[at..at + 4].copy_from_slice(&new.to_le_bytes());
                }
                types.extend_from_slice(&b);
            }
        }
    }
    let mut out = Vec::with_capacity(HDR_MIN + types.len() + strs.len());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.push(1); // version
    out.push(0); // flags
    out.extend_from_slice(&(HDR_MIN as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    out.extend_from_slice(&(strs.len() as u32).to_le_bytes());
    out.extend_from_slice(&types);
    out.extend_from_slice(&strs);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names_drop_the_flavour_as_libbpf_does() {
        assert_eq!(essential("task_struct___old"), "task_struct");
        assert_eq!(essential("task_struct"), "task_struct");
        assert_eq!(essential("a___b___c"), "a___b");
        assert_eq!(essential("__u64"), "__u64");
        assert_eq!(essential("x____y"), "x____y");
    }

    #[test]
    fn build_ids_come_from_the_gnu_note() {
        let mut n = Vec::new();
        // A "Linux" note first, then GNU build id (type 3).
        n.extend_from_slice(&6u32.to_le_bytes());
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&1u32.to_le_bytes());
        n.extend_from_slice(b"Linux\0\0\0");
        n.extend_from_slice(&[1, 2, 3, 4]);
        n.extend_from_slice(&4u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes());
        n.extend_from_slice(b"GNU\0");
        n.extend_from_slice(&[0xab, 0xcd, 0xef, 0]);
        assert_eq!(gnu_build_id(&n).as_deref(), Some("abcdef"));
        assert_eq!(gnu_build_id(&n[..20]), None);
        assert_eq!(gnu_build_id(&[]), None);
    }

    #[test]
    fn malformed_btf_is_an_error_not_a_panic() {
        assert!(trim(b"", &HashSet::new()).is_err());
        assert!(trim(&[0x9f, 0xeb, 1, 0, 24, 0, 0, 0], &HashSet::new()).is_err());
        assert!(local_names(&[0u8; 40]).is_err());
        assert!(elf_section(b"\x7fELF", ".BTF").is_err());
    }
}
