//! Every queue of a task in one program run (`crib_dump_queues`): both
//! queues of each socket and the bytes buffered in each pipe, in resumable
//! batches by fd. A batch that fills the ring ends with an ERROR record
//! (`-EAGAIN`, the fd to resume at); the records of that fd so far are
//! dropped and the next batch starts there.

use super::frames_to_segments;
use crate::engine::wire::{self, WireRecord};
use crate::model::Segment;
use std::collections::BTreeMap;

/// The records of every queue (socket receive/write or pipe) of one dump,
/// each from the lowest fd that has it (a pipe's two ends, a dup'ed socket).
#[derive(Debug, Default)]
pub struct QueueSet {
    /// (inode, queue) -> (fd, records in order)
    queues: BTreeMap<(u64, u16), (i32, Vec<wire::Skb>)>,
    /// inode -> first read error (-errno)
    errors: BTreeMap<u64, i32>,
}

/// Where a batch that stopped early resumes: the fd of its `-EAGAIN`
/// ERROR record.
pub fn resume_fd(recs: &[WireRecord]) -> Option<i32> {
    recs.iter().rev().find_map(|r| match r {
        WireRecord::Error(e) if e.err == -libc::EAGAIN => i32::try_from(e.arg).ok(),
        _ => None,
    })
}

impl QueueSet {
    /// Add a batch; `incomplete_fd` is the fd the batch stopped in, whose
    /// records are left for the next batch.
    pub fn add(&mut self, recs: Vec<WireRecord>, incomplete_fd: Option<i32>) {
        for r in recs {
            match r {
                WireRecord::Skb(s) if Some(s.fd) != incomplete_fd => {
                    let e = self
                        .queues
                        .entry((s.sock_ino, s.queue))
                        .or_insert_with(|| (s.fd, Vec::new()));
                    if s.fd < e.0 {
                        *e = (s.fd, Vec::new());
                    }
                    if s.fd == e.0 {
                        e.1.push(s);
                    }
                }
                WireRecord::Error(e) if e.err != -libc::EAGAIN => {
                    self.errors.entry(e.arg).or_insert(e.err);
                }
                _ => {}
            }
        }
    }

    /// The read error of inode `ino`, if the program reported one.
    pub fn error(&self, ino: u64) -> Option<i32> {
        self.errors.get(&ino).copied()
    }

    /// Frames of a socket queue, one segment each.
    pub fn socket(&self, ino: u64, queue: u16, stream: bool) -> Result<Vec<Segment>, String> {
        let recs: Vec<WireRecord> = self
            .queues
            .get(&(ino, queue))
            .map(|(_, v)| v.iter().cloned().map(WireRecord::Skb).collect())
            .unwrap_or_default();
        frames_to_segments(&recs, stream)
    }

    /// The bytes buffered in pipe `ino`: the chunks in order, contiguous,
    /// the last one marked.
    pub fn pipe(&self, ino: u64) -> Result<Vec<u8>, String> {
        let Some((_, chunks)) = self.queues.get(&(ino, wire::QUEUE_PIPE)) else {
            return Ok(Vec::new());
        };
        let mut data = Vec::new();
        for c in chunks {
            if c.offset as usize != data.len() {
                return Err(format!(
                    "chunk {} at offset {} after {} bytes",
                    c.index,
                    c.offset,
                    data.len()
                ));
            }
            data.extend_from_slice(&c.data);
        }
        match chunks.last() {
            Some(c) if c.flags & wire::SKB_LAST != 0 => Ok(data),
            _ => Err(format!(
                "{} bytes read but the last chunk is missing",
                data.len()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(ino: u64, fd: i32, index: u32, offset: u32, data: &[u8], last: bool) -> WireRecord {
        WireRecord::Skb(wire::Skb {
            sock_ino: ino,
            fd,
            queue: wire::QUEUE_PIPE,
            flags: if last { wire::SKB_LAST } else { 0 },
            index,
            frame_len: 0,
            offset,
            tstamp_ns: 0,
            addr: [0; 16],
            port: 0,
            family: 0,
            mark: 0,
            data: data.to_vec(),
        })
    }

    fn eagain(fd: u64) -> WireRecord {
        WireRecord::Error(wire::ErrorRec {
            prog: 7,
            err: -libc::EAGAIN,
            arg: fd,
        })
    }

    #[test]
    fn pipe_chunks_join_and_need_the_last() {
        let mut q = QueueSet::default();
        q.add(
            vec![
                chunk(5, 3, 0, 0, b"ab", false),
                chunk(5, 3, 1, 2, b"cd", true),
            ],
            None,
        );
        assert_eq!(q.pipe(5).expect("pipe"), b"abcd");
        assert_eq!(q.pipe(6).expect("empty"), b"");
        let mut q = QueueSet::default();
        q.add(vec![chunk(5, 3, 0, 0, b"ab", false)], None);
        assert!(q.pipe(5).is_err(), "no LAST chunk");
        let mut q = QueueSet::default();
        q.add(
            vec![
                chunk(5, 3, 0, 0, b"ab", false),
                chunk(5, 3, 1, 3, b"d", true),
            ],
            None,
        );
        assert!(q.pipe(5).is_err(), "gap");
    }

    #[test]
    fn lowest_fd_wins_and_incomplete_fd_is_dropped() {
        let mut q = QueueSet::default();
        let b1 = vec![
            chunk(5, 4, 0, 0, b"x", true),
            chunk(9, 7, 0, 0, b"partial", false),
            eagain(7),
        ];
        assert_eq!(resume_fd(&b1), Some(7));
        q.add(b1, Some(7));
        q.add(
            vec![
                chunk(5, 3, 0, 0, b"y", true),
                chunk(9, 7, 0, 0, b"whole", true),
            ],
            None,
        );
        assert_eq!(q.pipe(5).expect("pipe 5"), b"y", "fd 3 < fd 4");
        assert_eq!(q.pipe(9).expect("pipe 9"), b"whole");
        assert_eq!(resume_fd(&[]), None);
    }

    #[test]
    fn read_errors_are_kept_by_inode() {
        let mut q = QueueSet::default();
        q.add(
            vec![WireRecord::Error(wire::ErrorRec {
                prog: 7,
                err: -libc::EIO,
                arg: 5,
            })],
            None,
        );
        assert_eq!(q.error(5), Some(-libc::EIO));
        assert_eq!(q.error(6), None);
    }
}
