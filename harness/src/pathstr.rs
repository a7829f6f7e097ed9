//! [`PathStr`]: the path of a file or mapping in the model records, shared
//! between the records that name the same file.
//!
//! A dump of 10 000 descriptors and mappings of a few dozen files (a
//! process's libraries, its data files) held one heap string per record;
//! allocating and copying them was the largest userspace cost of the files
//! and memory map operations. Records of one dump now share a path through
//! a reference count (the run's path slots, `engine::convert::Paths`, and
//! [`PathInterner`] for records without one), and an empty path (an
//! anonymous mapping) allocates nothing. It reads like a `&str` (`Deref`), compares
//! with strings, and serializes as a plain string, so images are unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable path string, cheap to clone; `None` is the empty string.
#[derive(Clone, Default)]
pub struct PathStr(Option<Arc<str>>);

impl PathStr {
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl Deref for PathStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PathStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<std::path::Path> for PathStr {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(self.as_str())
    }
}

impl AsRef<std::ffi::OsStr> for PathStr {
    fn as_ref(&self) -> &std::ffi::OsStr {
        std::ffi::OsStr::new(self.as_str())
    }
}

impl Borrow<str> for PathStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for PathStr {
    fn from(s: &str) -> Self {
        if s.is_empty() {
            PathStr(None)
        } else {
            PathStr(Some(Arc::from(s)))
        }
    }
}

impl From<String> for PathStr {
    fn from(s: String) -> Self {
        // Arc<str> copies either way: it needs room for its counts
        PathStr::from(s.as_str())
    }
}

impl From<&String> for PathStr {
    fn from(s: &String) -> Self {
        PathStr::from(s.as_str())
    }
}

impl From<PathStr> for String {
    fn from(p: PathStr) -> Self {
        p.as_str().to_owned()
    }
}

impl PartialEq for PathStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PathStr {}

impl PartialOrd for PathStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for PathStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for PathStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PathStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for PathStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<std::borrow::Cow<'_, str>> for PathStr {
    fn eq(&self, other: &std::borrow::Cow<'_, str>) -> bool {
        self.as_str() == other.as_ref()
    }
}

impl PartialEq<PathStr> for str {
    fn eq(&self, other: &PathStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<PathStr> for &str {
    fn eq(&self, other: &PathStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<PathStr> for String {
    fn eq(&self, other: &PathStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for PathStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PathStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PathStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PathStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(PathStr::from)
    }
}

/// A word-at-a-time multiply-rotate hash (FxHash's step): paths come from
/// the kernel, not from someone who could flood one bucket, and both
/// SipHash and a byte-at-a-time hash cost more than the allocation that
/// interning saves.
#[derive(Default)]
struct WordHash(u64);

impl WordHash {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.add(u64::from_le_bytes(a));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut a = [0u8; 8];
            a[..tail.len()].copy_from_slice(tail);
            self.add(u64::from_le_bytes(a));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// Paths already seen in one dump, so records of the same file share one.
///
/// Bounded: past [`PathInterner::MAX`] distinct paths new ones are not
/// remembered (still correct, each gets its own string), so a dump of
/// many distinct files does not grow a table it gains nothing from.
#[derive(Default)]
pub struct PathInterner {
    seen: HashMap<Box<[u8]>, PathStr, BuildHasherDefault<WordHash>>,
}

impl PathInterner {
    pub const MAX: usize = 4096;

    /// The path for these bytes (as the kernel wrote them; invalid UTF-8
    /// is replaced, as `String::from_utf8_lossy` does), shared with every
    /// earlier call for the same absolute path.
    pub fn get(&mut self, bytes: &[u8]) -> PathStr {
        if bytes.is_empty() {
            return PathStr::default();
        }
        // Only names of places in a filesystem repeat: every pipe and
        // socket has a name of its own ("pipe:[ino]"), not worth a slot.
        let shared = bytes[0] == b'/';
        if shared {
            if let Some(p) = self.seen.get(bytes) {
                return p.clone();
            }
        }
        let p = PathStr::from(String::from_utf8_lossy(bytes).as_ref());
        if shared && self.seen.len() < Self::MAX {
            self.seen.insert(bytes.into(), p.clone());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_same_bytes_share_one_string() {
        let mut i = PathInterner::default();
        let a = i.get(b"/lib/libc.so.6");
        let b = i.get(b"/lib/libc.so.6");
        let (Some(x), Some(y)) = (&a.0, &b.0) else {
            panic!("a non-empty path has a string");
        };
        assert!(Arc::ptr_eq(x, y));
        assert!(i.get(b"").0.is_none());
    }

    #[test]
    fn past_the_bound_paths_are_still_right() {
        let mut i = PathInterner::default();
        for n in 0..PathInterner::MAX + 10 {
            assert_eq!(i.get(format!("/f/{n}").as_bytes()), format!("/f/{n}"));
        }
        assert_eq!(i.seen.len(), PathInterner::MAX);
    }

    proptest! {
        #[test]
        fn a_path_reads_compares_and_serializes_as_its_string(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut i = PathInterner::default();
            let want = String::from_utf8_lossy(&bytes).into_owned();
            let p = i.get(&bytes);
            prop_assert_eq!(p.as_str(), want.as_str());
            prop_assert_eq!(&i.get(&bytes), &p);
            prop_assert!(p == want);
            let json = serde_json::to_string(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&json, &serde_json::to_string(&want).map_err(|e| TestCaseError::fail(e.to_string()))?);
            let back: PathStr = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, p);
        }
    }
}
