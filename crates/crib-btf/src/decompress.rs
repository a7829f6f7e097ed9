//! Decompressors for the formats kernels and BTF files come in, and the
//! payload scan of compressed kernel images (what scripts/extract-vmlinux
//! does: find a compression magic anywhere in the image and try it).

use crate::error::LoadProblem;
use std::io::Read;

/// Upper bound on any decompressed output (a vmlinux is ~50-100 MiB).
pub const MAX_OUTPUT: u64 = 1 << 30;

pub const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
pub const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
pub const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// The lz4 "legacy frame" magic the kernel's lz4 compressor writes.
pub const LZ4_LEGACY_MAGIC: &[u8] = &[0x02, 0x21, 0x4c, 0x18];

/// A compression format we can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xz,
    Gzip,
    Zstd,
    Lz4Legacy,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Gzip, Format::Xz, Format::Zstd, Format::Lz4Legacy];

    pub fn name(self) -> &'static str {
        match self {
            Format::Xz => "xz",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Lz4Legacy => "lz4",
        }
    }

    pub fn magic(self) -> &'static [u8] {
        match self {
            Format::Xz => XZ_MAGIC,
            Format::Gzip => GZIP_MAGIC,
            Format::Zstd => ZSTD_MAGIC,
            Format::Lz4Legacy => LZ4_LEGACY_MAGIC,
        }
    }

    /// The format whose magic starts `data`.
    pub fn sniff(data: &[u8]) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| data.starts_with(f.magic()))
    }
}

fn err(format: Format, msg: impl ToString) -> LoadProblem {
    LoadProblem::Decompress {
        format: format.name(),
        msg: msg.to_string(),
    }
}

/// Read a decoder to the end, bounded by [`MAX_OUTPUT`]. `lenient`: a
/// stream inside a kernel image may be followed by bytes that make the
/// decoder complain after all data came out; keep what came out then.
fn drain(format: Format, r: impl Read, lenient: bool) -> Result<Vec<u8>, LoadProblem> {
    let mut out = Vec::new();
    match r.take(MAX_OUTPUT).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(_) if lenient && !out.is_empty() => Ok(out),
        Err(e) => Err(err(format, e)),
    }
}

/// Decompress one complete stream of `format` at the start of `data`.
pub fn decompress(format: Format, data: &[u8]) -> Result<Vec<u8>, LoadProblem> {
    decompress_with(format, data, false)
}

/// Like [`decompress`], keeping the output of a stream that ends in an
/// error (for payloads found inside kernel images).
pub fn decompress_lenient(format: Format, data: &[u8]) -> Result<Vec<u8>, LoadProblem> {
    decompress_with(format, data, true)
}

fn decompress_with(format: Format, data: &[u8], lenient: bool) -> Result<Vec<u8>, LoadProblem> {
    match format {
        Format::Xz => drain(format, liblzma::read::XzDecoder::new(data), lenient),
        Format::Gzip => drain(format, flate2::read::GzDecoder::new(data), lenient),
        Format::Zstd => {
            let dec = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| err(format, e))?;
            drain(format, dec, lenient)
        }
        Format::Lz4Legacy => lz4_legacy(data),
    }
}

/// The lz4 legacy frame: magic, then blocks of (u32 LE compressed size,
/// data), each decompressing to at most 8 MiB. The kernel image appends
/// other data after the last block, so a size that cannot be a block ends
/// the frame.
fn lz4_legacy(data: &[u8]) -> Result<Vec<u8>, LoadProblem> {
    const BLOCK_MAX: usize = 8 << 20;
    let f = Format::Lz4Legacy;
    let mut at = LZ4_LEGACY_MAGIC.len();
    let mut out = Vec::new();
    let mut buf = vec![0u8; BLOCK_MAX];
    while let Some(sz) = data.get(at..at + 4) {
        let len = u32::from_le_bytes([sz[0], sz[1], sz[2], sz[3]]) as usize;
        if data[at..].starts_with(LZ4_LEGACY_MAGIC) {
            at += 4;
            continue;
        }
        let Some(block) = data.get(at + 4..at + 4 + len) else {
            break;
        };
        if len == 0 || len > lz4_flex::block::get_maximum_output_size(BLOCK_MAX) {
            break;
        }
        match lz4_flex::block::decompress_into(block, &mut buf) {
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() => return Err(err(f, e)),
            Err(_) => break,
        }
        if out.len() as u64 > MAX_OUTPUT {
            return Err(err(f, "output exceeds 1 GiB"));
        }
        at += 4 + len;
    }
    if out.is_empty() {
        return Err(err(f, "empty frame"));
    }
    Ok(out)
}

/// Every offset in `data` where some format's magic starts, in file order.
pub fn payload_candidates(data: &[u8]) -> Vec<(usize, Format)> {
    let mut out = Vec::new();
    for f in Format::ALL {
        let m = f.magic();
        let mut from = 0;
        while let Some(pos) = find(&data[from..], m) {
            out.push((from + pos, f));
            from += pos + 1;
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let rel = hay[i..].iter().position(|&b| b == first)?;
        i += rel;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}
