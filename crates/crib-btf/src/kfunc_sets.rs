//! kfunc registrations of an unstripped vmlinux: the `BTF_KFUNCS_START`
//! sets (`__BTF_ID__set8__*` symbols in `.BTF_ids`), each a list of
//! (BTF id, `KF_*` flags). BTF alone cannot tell a kfunc from any kernel
//! function (6.1/6.12 carry no `bpf_kfunc` tags); these sets can, and they
//! hold the flags the verifier enforces. Stripped images (vmlinuz) have no
//! symbols, so there is nothing to read there.

use object::{Object, ObjectSection, ObjectSymbol};
use std::collections::HashMap;

/// `BTF_SET8_KFUNCS`: the set holds kfuncs (6.8+; older kernels leave it 0).
const SET8_KFUNCS: u32 = 1;
const SET8_PREFIX: &str = "__BTF_ID__set8__";

/// Per BTF id of a registered kfunc: the `KF_*` flags of each registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KfuncSets {
    pub flags: HashMap<u32, Vec<u32>>,
    /// Names of the sets read, for messages.
    pub sets: Vec<String>,
}

impl KfuncSets {
    pub fn is_registered(&self, id: u32) -> bool {
        self.flags.contains_key(&id)
    }
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}

/// Read the kfunc sets of an ELF vmlinux; `None` when it has no
/// `.BTF_ids` or no set symbols (stripped, or not a kernel).
pub fn from_elf(data: &[u8]) -> Option<KfuncSets> {
    let file = object::File::parse(data).ok()?;
    let sec = file.section_by_name(".BTF_ids")?;
    let bytes = sec.data().ok()?;
    let base = sec.address();
    // (name, offset in section, holds kfuncs by its own flag)
    let mut sets = Vec::new();
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        let Some(set) = name.strip_prefix(SET8_PREFIX) else {
            continue;
        };
        let Some(off) = sym.address().checked_sub(base) else {
            continue;
        };
        let off = usize::try_from(off).ok()?;
        let (Some(cnt), Some(flags)) = (u32_at(bytes, off), u32_at(bytes, off + 4)) else {
            continue;
        };
        sets.push((set.to_string(), off, cnt, flags & SET8_KFUNCS != 0));
    }
    if sets.is_empty() {
        return None;
    }
    // Kernels that mark kfunc sets: only those. Older ones: every set8.
    let marked = sets.iter().any(|s| s.3);
    let mut out = KfuncSets::default();
    for (name, off, cnt, is_kfuncs) in sets {
        if marked && !is_kfuncs {
            continue;
        }
        for i in 0..cnt as usize {
            let at = off + 8 + 8 * i;
            let (Some(id), Some(fl)) = (u32_at(bytes, at), u32_at(bytes, at + 4)) else {
                break;
            };
            out.flags.entry(id).or_default().push(fl);
        }
        out.sets.push(name);
    }
    Some(out)
}
