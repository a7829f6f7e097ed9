//! Opaque iterator-state structs: only their size is ABI.

use super::verdict::{Problem, ProblemCode, Verdict};
use crate::btf::{Btf, Kind};

/// An opaque (iterator state) struct: its size must be `words * 8`.
pub fn check(name: &str, words: u32, btf: &Btf) -> Verdict {
    let Some(t) = btf.find_one(name, &[Kind::Struct]) else {
        return Verdict::Absent;
    };
    let want = u64::from(words) * 8;
    if u64::from(t.size()) == want {
        Verdict::Compatible {
            version: None,
            decl_tagged: None,
        }
    } else {
        Verdict::Incompatible {
            problems: vec![Problem::new(
                ProblemCode::OpaqueSize,
                format!("size {}≠{want}", t.size()),
                format!(
                    "`struct {name}` is {} bytes in the kernel, the spec says {words} words ({want} bytes)",
                    t.size()
                ),
            )],
        }
    }
}
