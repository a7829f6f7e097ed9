//! Image files: how a [`Dump`] is stored on disk.
//!
//! An image directory holds one file, [`IMAGE_FILE`] (`crib.img`):
//!
//! ```text
//! header   magic "CRIBIMG\0" (8 bytes) | format version u32 LE
//! record*  type u16 | schema u16 | length u32 | crc32 u32 | payload[length]
//! end      a record of type END whose payload is the u32 count of records before it
//! ```
//!
//! - Payloads are JSON objects of the [`crate::model`] types (self-describing:
//!   a newer crib may add fields, an older one ignores them), except
//!   `FILE_CONTENTS`, whose payload is `fd i32 LE` followed by the raw bytes.
//! - `crc32` (IEEE) covers the record's type, schema and length and then its
//!   payload (format 2; format 1 covered the payload only, and is still
//!   read): a flipped byte is an error naming the record, never a silently
//!   different value, and a flip in the type cannot turn one record into
//!   another that parses (a mapping's JSON read as raw file contents).
//! - A record type this crib does not know is kept as [`UnknownRecord`] and
//!   reported (`crib show` lists it, `crib restore` refuses the image), never
//!   parsed as something else.
//! - A file that ends before the END record, or has bytes after it, is
//!   truncated/corrupt: an error, never a partial dump.
//!
//! See docs/image-format.md for the field list of every record.

use crate::model::{
    Dump, DumpInfo, FileContents, FileRecord, MappingRecord, PipeRecord, SocketRecord, TaskRecord,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const IMAGE_FILE: &str = "crib.img";
pub const MAGIC: &[u8; 8] = b"CRIBIMG\0";
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this crib reads (its checksums cover only
/// the payloads).
pub const OLDEST_FORMAT_VERSION: u32 = 1;
const RECORD_HEADER: usize = 12;

/// Record types. Values are stable: never reuse a number.
pub mod rtype {
    pub const INFO: u16 = 1;
    pub const TASK: u16 = 2;
    pub const FILE: u16 = 3;
    pub const FILE_CONTENTS: u16 = 4;
    pub const PIPE: u16 = 5;
    pub const MAPPING: u16 = 6;
    pub const SOCKET: u16 = 7;
    pub const END: u16 = 0xffff;

    pub fn name(t: u16) -> &'static str {
        match t {
            INFO => "info",
            TASK => "task",
            FILE => "file",
            FILE_CONTENTS => "file-contents",
            PIPE => "pipe",
            MAPPING => "mapping",
            SOCKET => "socket",
            END => "end",
            _ => "unknown",
        }
    }
}

/// Schema version written for every record type (bump on incompatible
/// change). 2: byte strings (queued data, pipe buffers) are hex strings;
/// schema-1 arrays of numbers still read.
const SCHEMA: u16 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a crib image (bad magic)")]
    BadMagic { path: PathBuf },
    #[error(
        "{path}: image format version {found} is not supported (this crib reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: record #{index} at byte {offset}: {problem}")]
    Record {
        path: PathBuf,
        index: usize,
        offset: usize,
        problem: String,
    },
    #[error("{path}: truncated: {problem}")]
    Truncated { path: PathBuf, problem: String },
    #[error("{path}: {problem}")]
    Content { path: PathBuf, problem: String },
}

/// A record of a type this crib does not know (written by a newer one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRecord {
    pub index: usize,
    pub rtype: u16,
    pub len: usize,
}

/// A loaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub dump: Dump,
    pub unknown: Vec<UnknownRecord>,
}

// ---- crc32 (IEEE 802.3, reflected), slicing by 8 -------------------------

/// Eight 256-entry tables, built at compile time: table k maps a byte to
/// its CRC contribution k bytes further on. A bit-at-a-time CRC was most
/// of the cost of encoding an image.
const CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

pub fn crc32(data: &[u8]) -> u32 {
    !crc32_update(!0, data)
}

/// The CRC register after `data`, from `crc` (not inverted: `crc32` is
/// `!crc32_update(!0, data)`), so that one CRC can run over several slices.
fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    crc
}

/// A record's checksum in format `version`: from 2 on over its type,
/// schema and length (the 8 header bytes before the CRC) and its payload.
fn record_crc(version: u32, head: &[u8], payload: &[u8]) -> u32 {
    if version < 2 {
        return crc32(payload);
    }
    !crc32_update(crc32_update(!0, head), payload)
}

// ---- writing ---------------------------------------------------------------

fn push_record(out: &mut Vec<u8>, t: u16, payload: &[u8]) {
    let head = out.len();
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&SCHEMA.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = record_crc(FORMAT_VERSION, &out[head..], payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing our own model types to JSON cannot fail (no maps with
    // non-string keys, no custom serializers); an empty payload would be
    // caught on read.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Encode a dump into image bytes.
pub fn encode(dump: &Dump) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut n = 0u32;
    let mut rec = |out: &mut Vec<u8>, t: u16, p: Vec<u8>| {
        push_record(out, t, &p);
        n += 1;
    };
    rec(&mut out, rtype::INFO, json(&dump.info));
    rec(&mut out, rtype::TASK, json(&dump.task));
    for f in &dump.files {
        rec(&mut out, rtype::FILE, json(f));
    }
    for c in &dump.contents {
        let mut p = c.fd.to_le_bytes().to_vec();
        p.extend_from_slice(&c.data);
        rec(&mut out, rtype::FILE_CONTENTS, p);
    }
    for p in &dump.pipes {
        rec(&mut out, rtype::PIPE, json(p));
    }
    for m in &dump.mappings {
        rec(&mut out, rtype::MAPPING, json(m));
    }
    for s in &dump.sockets {
        rec(&mut out, rtype::SOCKET, json(s));
    }
    push_record(&mut out, rtype::END, &n.to_le_bytes());
    out
}

/// Write `dump` to `dir/crib.img` (creating `dir`). Written to a temporary
/// name and renamed, so a crash never leaves a half image under the real name.
pub fn write_dir(dir: &Path, dump: &Dump) -> Result<PathBuf, ImageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io {
            path,
            cause: source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(IMAGE_FILE);
    let tmp = dir.join(format!("{IMAGE_FILE}.tmp"));
    std::fs::write(&tmp, encode(dump)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

// ---- reading ---------------------------------------------------------------

/// Read `dir/crib.img`.
pub fn read_dir(dir: &Path) -> Result<Image, ImageError> {
    let path = dir.join(IMAGE_FILE);
    let data = std::fs::read(&path).map_err(|source| ImageError::Io {
        path: path.clone(),
        cause: source,
    })?;
    decode(&path, &data)
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Decode image bytes; `path` is only used in error messages.
pub fn decode(path: &Path, data: &[u8]) -> Result<Image, ImageError> {
    let p = || path.to_path_buf();
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(ImageError::BadMagic { path: p() });
    }
    let vb = data.get(8..12).ok_or_else(|| ImageError::Truncated {
        path: p(),
        problem: "header ends before the format version".into(),
    })?;
    let version = le_u32(vb);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(ImageError::Version {
            path: p(),
            found: version,
        });
    }

    let mut off = 12usize;
    let mut index = 0usize;
    let mut info: Option<DumpInfo> = None;
    let mut task: Option<TaskRecord> = None;
    let mut files = Vec::new();
    let mut contents = Vec::new();
    let mut pipes = Vec::new();
    let mut mappings = Vec::new();
    let mut sockets = Vec::new();
    let mut unknown = Vec::new();
    loop {
        let rec_err = |offset: usize, problem: String| ImageError::Record {
            path: p(),
            index,
            offset,
            problem,
        };
        let hdr = match data.get(off..off + RECORD_HEADER) {
            Some(h) => h,
            None => {
                return Err(ImageError::Truncated {
                    path: p(),
                    problem: format!(
                        "file ends at byte {} inside or before record #{index} (no end record)",
                        data.len()
                    ),
                })
            }
        };
        let (t, schema, len, crc) = (
            le_u16(&hdr[0..2]),
            le_u16(&hdr[2..4]),
            le_u32(&hdr[4..8]) as usize,
            le_u32(&hdr[8..12]),
        );
        let start = off + RECORD_HEADER;
        let payload = start
            .checked_add(len)
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| ImageError::Truncated {
                path: p(),
                problem: format!(
                    "record #{index} ({}) claims {len} payload bytes at byte {start}, file has {}",
                    rtype::name(t),
                    data.len()
                ),
            })?;
        if record_crc(version, &hdr[..8], payload) != crc {
            return Err(rec_err(
                off,
                format!("{} record: checksum mismatch (corrupt)", rtype::name(t)),
            ));
        }
        if t != rtype::END && rtype::name(t) != "unknown" && schema > SCHEMA {
            return Err(rec_err(
                off,
                format!(
                    "{} record schema {schema} is newer than this crib reads ({SCHEMA})",
                    rtype::name(t)
                ),
            ));
        }
        let name = rtype::name(t);
        let bad = |e: String| rec_err(off, format!("{name} record: {e}"));
        match t {
            rtype::END => {
                if len != 4 || le_u32(payload) as usize != index {
                    return Err(bad(format!(
                        "end record counts {} records, found {index}",
                        if len == 4 { le_u32(payload) } else { u32::MAX }
                    )));
                }
                let after = start + len;
                if after != data.len() {
                    return Err(bad(format!(
                        "{} bytes after the end record",
                        data.len() - after
                    )));
                }
                break;
            }
            rtype::INFO => set_once(&mut info, parse(payload).map_err(bad)?).map_err(bad)?,
            rtype::TASK => set_once(&mut task, parse(payload).map_err(bad)?).map_err(bad)?,
            rtype::FILE => files.push(parse::<FileRecord>(payload).map_err(bad)?),
            rtype::FILE_CONTENTS => {
                let fd = payload
                    .get(0..4)
                    .map(|b| le_u32(b) as i32)
                    .ok_or_else(|| bad("shorter than its fd field".into()))?;
                contents.push(FileContents {
                    fd,
                    data: payload[4..].to_vec(),
                });
            }
            rtype::PIPE => pipes.push(parse::<PipeRecord>(payload).map_err(bad)?),
            rtype::MAPPING => mappings.push(parse::<MappingRecord>(payload).map_err(bad)?),
            rtype::SOCKET => sockets.push(parse::<SocketRecord>(payload).map_err(bad)?),
            other => unknown.push(UnknownRecord {
                index,
                rtype: other,
                len,
            }),
        }
        off = start + len;
        index += 1;
    }
    let task = task.ok_or_else(|| ImageError::Content {
        path: p(),
        problem: "no task record".into(),
    })?;
    Ok(Image {
        dump: Dump {
            info: info.unwrap_or_default(),
            task,
            files,
            contents,
            pipes,
            mappings,
            sockets,
        },
        unknown,
    })
}

fn parse<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| format!("bad payload: {e}"))
}

fn set_once<T>(slot: &mut Option<T>, v: T) -> Result<(), String> {
    if slot.is_some() {
        return Err("appears twice".into());
    }
    *slot = Some(v);
    Ok(())
}

/// Offsets of every record (header start, type, payload length): for tests
/// and `crib show --records`.
pub fn record_offsets(data: &[u8]) -> Vec<(usize, u16, usize)> {
    let mut out = Vec::new();
    let mut off = 12;
    while let Some(h) = data.get(off..off + RECORD_HEADER) {
        let (t, len) = (le_u16(&h[0..2]), le_u32(&h[4..8]) as usize);
        out.push((off, t, len));
        off += RECORD_HEADER + len;
    }
    out
}

/// Append a record of an arbitrary type before the END record (tests of
/// forward compatibility; also how a newer crib's image looks to this one).
pub fn insert_raw_record(data: &[u8], t: u16, payload: &[u8]) -> Option<Vec<u8>> {
    let recs = record_offsets(data);
    let &(end_off, end_t, _) = recs.last()?;
    if end_t != rtype::END {
        return None;
    }
    let mut out = data[..end_off].to_vec();
    push_record(&mut out, t, payload);
    push_record(&mut out, rtype::END, &((recs.len()) as u32).to_le_bytes());
    Some(out)
}
