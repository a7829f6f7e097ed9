//! What the running kernel offers, read from its BTF (never its version).
//!
//! A kfunc or iterator exists in the kernel iff its name is in vmlinux BTF
//! (kfuncs need BTF FUNC entries; iterator targets have `bpf_iter__NAME`
//! context structs). We only need the name set, so this reads the BTF header
//! and string section directly: a name present in the string section of a
//! kernel's BTF is a type or member name of that kernel.

use super::core_btf;
use std::collections::HashSet;
use std::path::Path;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFeatures {
    /// `bpf_task_from_vpid` (upstream since 6.13, or the CRIB patch).
    pub task_from_vpid: bool,
    /// `bpf_iter__task` (task iterator).
    pub iter_task: bool,
    /// `bpf_iter__task_file`.
    pub iter_task_file: bool,
    /// `bpf_iter__task_vma`.
    pub iter_task_vma: bool,
    /// `bpf_iter__tcp`, `bpf_iter__udp`, `bpf_iter__unix` (the socket
    /// table iterators; unix is 5.17+).
    pub iter_tcp: bool,
    pub iter_udp: bool,
    pub iter_unix: bool,
    /// `bpf_iter_task_vma_new` (open-coded VMA iterator kfunc).
    pub task_vma_iter_kfunc: bool,
    /// CRIB: `bpf_crib_file_from_fd`.
    pub crib_file_from_fd: bool,
    /// CRIB: `bpf_iter_crib_file_new`.
    pub crib_file_iter: bool,
    /// CRIB: `bpf_crib_sock_from_file`.
    pub crib_sock_from_file: bool,
    /// CRIB: `bpf_iter_crib_skb_new` (socket queue walk).
    pub crib_skb_iter: bool,
    /// CRIB: `bpf_crib_udp_queue_rcv` (restore writes).
    pub crib_restore: bool,
    /// CRIB: `bpf_crib_file_path` / `bpf_crib_vma_path` (d_path, patch 0008).
    pub crib_path: bool,
    /// CRIB: `bpf_crib_pipe_read` (pipe buffers, patch 0009).
    pub crib_pipe_read: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("{path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("{path}: not BTF: {problem}")]
    Format { path: String, problem: String },
}

impl KernelFeatures {
    /// The running kernel's features: from the cache when this kernel
    /// (by build id) was read before, else from its BTF, then cached. No
    /// BTF = only procfs.
    pub fn detect() -> KernelFeatures {
        let path = Path::new(VMLINUX_BTF);
        let Some(id) = core_btf::build_id() else {
            return KernelFeatures::from_file(path).unwrap_or_default();
        };
        // The names asked about are part of the key: a newer crib asks more.
        let file = format!(
            "{id}-features-{:016x}.txt",
            core_btf::digest(WANTED.join(" ").as_bytes())
        );
        for dir in core_btf::cache_dirs() {
            let p = dir.join(&file);
            if core_btf::trusted_file(&p).is_none() {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&p) {
                // The last line says the file is whole.
                if let Some(body) = text.strip_suffix("end\n") {
                    let names: HashSet<&str> = body.lines().collect();
                    return KernelFeatures::from_names(&names);
                }
            }
        }
        let Ok(strs) = read_strings(path) else {
            return KernelFeatures::default();
        };
        let names = wanted_names(&strs);
        let mut text: String = names.iter().map(|n| format!("{n}\n")).collect();
        text.push_str("end\n");
        for dir in core_btf::cache_dirs() {
            if core_btf::own_dir(&dir).is_some()
                && core_btf::put(&dir, &file, text.as_bytes()).is_some()
            {
                break;
            }
        }
        KernelFeatures::from_names(&names)
    }

    pub fn from_file(path: &Path) -> Result<KernelFeatures, FeatureError> {
        let strs = read_strings(path)?;
        Ok(KernelFeatures::from_names(&wanted_names(&strs)))
    }

    /// Whether the kernel has the iterator whose context type is `ctx`
    /// (`bpf_iter__task_file`, ...; false for one not asked about).
    pub fn has_iter(&self, ctx: &str) -> bool {
        match ctx {
            "bpf_iter__task" => self.iter_task,
            "bpf_iter__task_file" => self.iter_task_file,
            "bpf_iter__task_vma" => self.iter_task_vma,
            "bpf_iter__tcp" => self.iter_tcp,
            "bpf_iter__udp" => self.iter_udp,
            "bpf_iter__unix" => self.iter_unix,
            _ => false,
        }
    }

    pub fn from_names(names: &HashSet<&str>) -> KernelFeatures {
        let has = |n: &str| names.contains(n);
        KernelFeatures {
            task_from_vpid: has("bpf_task_from_vpid"),
            iter_task: has("bpf_iter__task"),
            iter_task_file: has("bpf_iter__task_file"),
            iter_task_vma: has("bpf_iter__task_vma"),
            iter_tcp: has("bpf_iter__tcp"),
            iter_udp: has("bpf_iter__udp"),
            iter_unix: has("bpf_iter__unix"),
            task_vma_iter_kfunc: has("bpf_iter_task_vma_new"),
            crib_file_from_fd: has("bpf_crib_file_from_fd"),
            crib_file_iter: has("bpf_iter_crib_file_new"),
            crib_sock_from_file: has("bpf_crib_sock_from_file"),
            crib_skb_iter: has("bpf_iter_crib_skb_new"),
            crib_restore: has("bpf_crib_udp_queue_rcv"),
            crib_path: has("bpf_crib_file_path") && has("bpf_crib_vma_path"),
            crib_pipe_read: has("bpf_crib_pipe_read"),
        }
    }
}

/// One pass over a string section, keeping only the names we ask about
/// (the full set is ~100k strings).
fn wanted_names(strs: &[u8]) -> HashSet<&str> {
    strs.split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter(|s| WANTED.contains(s))
        .collect()
}

/// Only the string section of the BTF file at `path` (about 40% of a
/// vmlinux BTF): sysfs hands out 4 KiB per read(2), so the rest would cost
/// a thousand more syscalls in every engine open.
fn read_strings(path: &Path) -> Result<Vec<u8>, FeatureError> {
    use std::os::unix::fs::FileExt;
    let read_err = |cause| FeatureError::Read {
        path: path.display().to_string(),
        cause,
    };
    let f = std::fs::File::open(path).map_err(read_err)?;
    let mut hdr = [0u8; BTF_HEADER_LEN];
    f.read_exact_at(&mut hdr, 0).map_err(read_err)?;
    let format = |problem| FeatureError::Format {
        path: path.display().to_string(),
        problem,
    };
    let (start, len) = string_section(&hdr).map_err(format)?;
    let mut strs = vec![0u8; len];
    f.read_exact_at(&mut strs, start as u64).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format(format!(
                "string section {start}+{len} beyond the end of the file"
            ))
        } else {
            read_err(e)
        }
    })?;
    Ok(strs)
}

/// `struct btf_header` (bytes): magic, version, flags, hdr_len, then the
/// type and string sections' offsets and lengths.
const BTF_HEADER_LEN: usize = 24;

/// (offset from the start of the blob, length) of the string section, from
/// the first [`BTF_HEADER_LEN`] bytes of a raw BTF blob.
fn string_section(data: &[u8]) -> Result<(usize, usize), String> {
    let u32_at = |off: usize| -> Result<u32, String> {
        let b = data
            .get(off..off + 4)
            .ok_or_else(|| format!("header truncated at byte {off}"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match data.get(0..2) {
        Some([0x9f, 0xeb]) => {}
        Some(_) => return Err("bad magic (want 0xeb9f little-endian)".into()),
        None => return Err("shorter than the magic".into()),
    }
    let hdr_len = u32_at(4)? as usize;
    let str_off = u32_at(16)? as usize;
    let str_len = u32_at(20)? as usize;
    let start = hdr_len
        .checked_add(str_off)
        .ok_or("string offset overflows")?;
    start
        .checked_add(str_len)
        .ok_or("string section overflows")?;
    Ok((start, str_len))
}

/// The BTF names [`KernelFeatures`] looks for.
pub const WANTED: &[&str] = &[
    "bpf_task_from_vpid",
    "bpf_iter__task",
    "bpf_iter__task_file",
    "bpf_iter__task_vma",
    "bpf_iter__tcp",
    "bpf_iter__udp",
    "bpf_iter__unix",
    "bpf_iter_task_vma_new",
    "bpf_crib_file_from_fd",
    "bpf_iter_crib_file_new",
    "bpf_crib_sock_from_file",
    "bpf_iter_crib_skb_new",
    "bpf_crib_udp_queue_rcv",
    "bpf_crib_file_path",
    "bpf_crib_vma_path",
    "bpf_crib_pipe_read",
];

/// Every string of a raw BTF blob's string section.
pub fn btf_names(data: &[u8]) -> Result<HashSet<&str>, String> {
    Ok(btf_strings(data)?
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter(|s| !s.is_empty())
        .collect())
}

/// The string section of a raw BTF blob.
pub fn btf_strings(data: &[u8]) -> Result<&[u8], String> {
    let (start, len) = string_section(data)?;
    data.get(start..start + len)
        .ok_or_else(|| format!("string section {start}+{len} beyond {} bytes", data.len()))
}
