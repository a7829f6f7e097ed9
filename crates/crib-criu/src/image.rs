//! The plugin's image file, one per socket it carries, in CRIU's image
//! directory: `crib-udp-<id>.img` (`id` = the socket's InetSkEntry id).
//!
//! ```text
//! magic "CRIBUDPQ" (8) | format version u32 LE | payload length u32 LE |
//! crc32 (IEEE) of the payload u32 LE | payload: JSON of [`SocketQueues`]
//! ```
//!
//! A missing file, a short one, a flipped byte, bytes after the payload or
//! a version this plugin does not read are errors that name the file: the
//! restore then fails, it never gives back a socket with missing data.

use crib_harness::image::crc32;
use crib_harness::model::Segment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"CRIBUDPQ";
pub const VERSION: u32 = 1;
const HEADER: usize = 20;

/// The file name for socket `id`.
pub fn file_name(id: u32) -> String {
    format!("crib-udp-{id}.img")
}

/// The id of a file name made by [`file_name`].
pub fn id_of(name: &str) -> Option<u32> {
    name.strip_prefix("crib-udp-")?
        .strip_suffix(".img")?
        .parse()
        .ok()
}

/// What the plugin keeps of one UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketQueues {
    /// The socket's InetSkEntry id.
    pub id: u32,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// `IPPROTO_UDP` or `IPPROTO_UDPLITE`.
    pub protocol: u16,
    /// UDP_CORK was set.
    pub corked: bool,
    /// Datagrams waiting to be read, oldest first, with their senders.
    pub receive: Vec<Segment>,
    /// The pending (corked) frames, with their destinations when the
    /// socket is not connected.
    pub write: Vec<Segment>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a crib plugin image (bad magic)")]
    BadMagic { path: PathBuf },
    #[error("{path}: format version {found}; this plugin reads version {VERSION} (a newer crib wrote it)")]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: truncated: {have} bytes, {need} needed")]
    Truncated {
        path: PathBuf,
        have: usize,
        need: usize,
    },
    #[error("{path}: {extra} bytes after the payload")]
    Trailing { path: PathBuf, extra: usize },
    #[error("{path}: crc32 mismatch (stored {stored:08x}, computed {computed:08x})")]
    Crc {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("{path}: bad payload: {cause}")]
    Payload { path: PathBuf, cause: String },
    #[error("{path}: holds socket {found}, not {wanted}")]
    WrongSocket {
        path: PathBuf,
        found: u32,
        wanted: u32,
    },
}

pub fn encode(q: &SocketQueues) -> Vec<u8> {
    let payload = serde_json::to_vec(q).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&d[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Decode `data` read from `path` (named in every error).
pub fn decode(path: &Path, data: &[u8]) -> Result<SocketQueues, ImageError> {
    let p = || path.to_path_buf();
    if data.len() < HEADER {
        if data.len() >= 8 && &data[..8] != MAGIC {
            return Err(ImageError::BadMagic { path: p() });
        }
        return Err(ImageError::Truncated {
            path: p(),
            have: data.len(),
            need: HEADER,
        });
    }
    if &data[..8] != MAGIC {
        return Err(ImageError::BadMagic { path: p() });
    }
    let version = u32_at(data, 8);
    if version != VERSION {
        return Err(ImageError::Version {
            path: p(),
            found: version,
        });
    }
    let len = u32_at(data, 12) as usize;
    let need = HEADER.saturating_add(len);
    if data.len() < need {
        return Err(ImageError::Truncated {
            path: p(),
            have: data.len(),
            need,
        });
    }
    if data.len() > need {
        return Err(ImageError::Trailing {
            path: p(),
            extra: data.len() - need,
        });
    }
    let payload = &data[HEADER..need];
    let stored = u32_at(data, 16);
    let computed = crc32(payload);
    if stored != computed {
        return Err(ImageError::Crc {
            path: p(),
            stored,
            computed,
        });
    }
    serde_json::from_slice(payload).map_err(|e| ImageError::Payload {
        path: p(),
        cause: e.to_string(),
    })
}

/// Write `q` into directory `dir` (atomically: a temporary file renamed).
pub fn write(dir: &Path, q: &SocketQueues) -> Result<PathBuf, ImageError> {
    let path = dir.join(file_name(q.id));
    let tmp = dir.join(format!(".{}.tmp", file_name(q.id)));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| ImageError::Io { path, cause }
    };
    std::fs::write(&tmp, encode(q)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// Read the image of socket `id` from `dir`.
pub fn read(dir: &Path, id: u32) -> Result<SocketQueues, ImageError> {
    let path = dir.join(file_name(id));
    let data = std::fs::read(&path).map_err(|cause| ImageError::Io {
        path: path.clone(),
        cause,
    })?;
    let q = decode(&path, &data)?;
    if q.id != id {
        return Err(ImageError::WrongSocket {
            path,
            found: q.id,
            wanted: id,
        });
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crib_harness::model::SockAddr;
    use proptest::prelude::*;

    fn sample() -> SocketQueues {
        SocketQueues {
            id: 12,
            family: 2,
            protocol: 17,
            corked: true,
            receive: vec![Segment {
                data: b"from a".to_vec(),
                addr: Some(SockAddr::Inet {
                    ip: "127.0.0.2".parse().expect("ip"),
                    port: 4000,
                }),
            }],
            write: vec![Segment {
                data: b"onetwothree".to_vec(),
                addr: None,
            }],
        }
    }

    #[test]
    fn round_trip_through_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), &sample()).expect("write");
        assert!(path.ends_with("crib-udp-12.img"));
        assert_eq!(read(dir.path(), 12).expect("read"), sample());
        assert_eq!(id_of("crib-udp-12.img"), Some(12));
        assert_eq!(id_of("inetsk.img"), None);
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read(dir.path(), 7).expect_err("missing");
        assert!(e.to_string().contains("crib-udp-7.img"), "{e}");
        let good = encode(&sample());
        let p = Path::new("crib-udp-12.img");
        assert!(matches!(
            decode(p, &good[..10]),
            Err(ImageError::Truncated { .. })
        ));
        assert!(matches!(
            decode(p, &good[..good.len() - 1]),
            Err(ImageError::Truncated { .. })
        ));
        let mut newer = good.clone();
        newer[8] = 2;
        let e = decode(p, &newer).expect_err("newer");
        assert!(e.to_string().contains("a newer crib wrote it"), "{e}");
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        assert!(matches!(decode(p, &flipped), Err(ImageError::Crc { .. })));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(decode(p, &long), Err(ImageError::Trailing { .. })));
        assert!(matches!(
            decode(p, b"NOTCRIB!xxxxxxxxxxxxxxxx"),
            Err(ImageError::BadMagic { .. })
        ));
        std::fs::write(dir.path().join("crib-udp-9.img"), &good).expect("write");
        let e = read(dir.path(), 9).expect_err("wrong id");
        assert!(matches!(
            e,
            ImageError::WrongSocket {
                found: 12,
                wanted: 9,
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(Path::new("x"), &bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = decode(Path::new("x"), &with_magic);
        }

        #[test]
        fn any_queues_round_trip(data in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..5), corked in any::<bool>()) {
            let q = SocketQueues {
                id: 3,
                family: 10,
                protocol: 136,
                corked,
                receive: data.iter().map(|d| Segment { data: d.clone(), addr: None }).collect(),
                write: vec![],
            };
            prop_assert_eq!(decode(Path::new("x"), &encode(&q)).expect("decode"), q);
        }
    }
}
