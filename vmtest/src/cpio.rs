//! A writer for the `newc` cpio format the kernel unpacks as an initramfs.
//! Writing it ourselves avoids needing root (device nodes) or a cpio binary.

use std::io::{self, Write};

/// An in-memory newc archive; entries are appended in order.
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, &[]);
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, S_IFREG | (mode & 0o7777), data);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, target.as_bytes());
    }

    pub fn char_dev(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.ino += 1;
        self.header(name, S_IFCHR | (mode & 0o7777), 0, (major, minor));
        self.pad();
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.ino += 1;
        self.header(name, mode, data.len(), (0, 0));
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn header(&mut self, name: &str, mode: u32, size: usize, rdev: (u32, u32)) {
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, so archives are reproducible
            size as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// Append the trailer and write the archive out.
    pub fn finish(mut self, out: &mut impl Write) -> io::Result<()> {
        self.ino = 0;
        self.header("TRAILER!!!", 0, 0, (0, 0));
        out.write_all(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_alignment() {
        let mut c = Cpio::new();
        c.file("init", 0o755, b"abc");
        let mut out = Vec::new();
        c.finish(&mut out).unwrap_or_default();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        // name "init\0" right after the 110-byte header, then padding, then data
        assert_eq!(&out[110..115], b"init\0");
        let data_at = (110 + 5 + 3) & !3;
        assert_eq!(&out[data_at..data_at + 3], b"abc");
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
