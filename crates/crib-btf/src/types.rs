//! Type compatibility, the way libbpf's CO-RE rules see it, plus a strict
//! mode, and C rendering of BTF types for messages.
//!
//! Relaxed (default): typedefs and qualifiers are skipped; the roots must be
//! of the same kind (enum and enum64 count as one); struct/union/enum/fwd
//! roots must have the same name once `___flavor` suffixes are stripped
//! (libbpf ignores these names, but the verifier checks them for kfunc
//! arguments, so we do too); ints match any int (size and sign ignored, no
//! bitfield-like ints); pointers and arrays compare their targets; function
//! prototypes need the same parameter count and compatible types.
//! Strict adds: exact int size and signedness, bool vs int, `const` on
//! pointer targets, array lengths and float sizes.

use crate::btf::{Btf, Kind, MAX_CHAIN};
use crate::error::BtfError;
use crib_spec::CType;

/// Compare modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Relaxed,
    Strict,
}

/// `task_struct___v1` -> `task_struct` (libbpf's "essential name").
pub fn essential_name(name: &str) -> &str {
    match name.find("___") {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// Skip typedefs/qualifiers; also say whether a `const` was seen.
pub fn strip(btf: &Btf, id: u32) -> Result<(u32, bool), BtfError> {
    let mut cur = id;
    let mut is_const = false;
    for _ in 0..MAX_CHAIN {
        let t = btf.get(cur)?;
        if !t.kind.is_modifier() {
            return Ok((cur, is_const));
        }
        is_const |= t.kind == Kind::Const;
        cur = t.ref_type();
    }
    Err(BtfError::TypeLoop(id))
}

fn same_kind(a: Kind, b: Kind) -> bool {
    a == b
        || matches!(
            (a, b),
            (Kind::Enum, Kind::Enum64) | (Kind::Enum64, Kind::Enum)
        )
}

/// Does kernel type `id` match spec type `ct`?
pub fn spec_matches(ct: &CType, btf: &Btf, id: u32, mode: Mode) -> Result<bool, BtfError> {
    spec_matches_depth(ct, btf, id, mode, 0)
}

fn spec_matches_depth(
    ct: &CType,
    btf: &Btf,
    id: u32,
    mode: Mode,
    depth: usize,
) -> Result<bool, BtfError> {
    if depth > MAX_CHAIN {
        return Err(BtfError::TypeLoop(id));
    }
    let strict = mode == Mode::Strict;
    let (root, _) = strip(btf, id)?;
    let t = btf.get(root)?;
    Ok(match ct {
        CType::Void => t.kind == Kind::Void,
        CType::Bool => {
            t.kind == Kind::Int && {
                let i = t.int()?;
                i.offset == 0 && (!strict || (i.is_bool && t.size() == 1))
            }
        }
        CType::Int { bytes, signed, .. } => {
            t.kind == Kind::Int && {
                let i = t.int()?;
                i.offset == 0
                    && (!strict
                        || (t.size() == u32::from(*bytes) && i.signed == *signed && !i.is_bool))
            }
        }
        CType::Struct { name } => {
            matches!(t.kind, Kind::Struct | Kind::Union | Kind::Fwd)
                && essential_name(t.name()?) == essential_name(name)
        }
        CType::Ptr { is_const, pointee } => {
            t.kind == Kind::Ptr && {
                let (_, k_const) = strip(btf, t.ref_type())?;
                (!strict || k_const == *is_const)
                    && spec_matches_depth(pointee, btf, t.ref_type(), mode, depth + 1)?
            }
        }
        CType::Array { elem, len } => {
            t.kind == Kind::Array && {
                let a = t.array()?;
                (!strict || a.nelems == *len)
                    && spec_matches_depth(elem, btf, a.elem, mode, depth + 1)?
            }
        }
    })
}

/// Are `a_id` in `a` (e.g. a BPF object) and `b_id` in `b` (a kernel)
/// compatible? libbpf's `bpf_core_types_are_compat` plus names, see above.
pub fn btf_compatible(
    a: &Btf,
    a_id: u32,
    b: &Btf,
    b_id: u32,
    mode: Mode,
) -> Result<bool, BtfError> {
    compat_depth(a, a_id, b, b_id, mode, 0)
}

fn compat_depth(
    a: &Btf,
    a_id: u32,
    b: &Btf,
    b_id: u32,
    mode: Mode,
    depth: usize,
) -> Result<bool, BtfError> {
    if depth > MAX_CHAIN {
        return Err(BtfError::TypeLoop(a_id));
    }
    let strict = mode == Mode::Strict;
    let (ra, ca) = strip(a, a_id)?;
    let (rb, cb) = strip(b, b_id)?;
    if strict && ca != cb && depth > 0 {
        return Ok(false);
    }
    let (ta, tb) = (a.get(ra)?, b.get(rb)?);
    if !same_kind(ta.kind, tb.kind) {
        // A forward declaration stands for a struct/union of the same name.
        let fwd_ok = matches!(
            (ta.kind, tb.kind),
            (Kind::Fwd, Kind::Struct | Kind::Union) | (Kind::Struct | Kind::Union, Kind::Fwd)
        );
        if !fwd_ok {
            return Ok(false);
        }
    }
    Ok(match ta.kind {
        Kind::Void => true,
        Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Fwd => {
            essential_name(ta.name()?) == essential_name(tb.name()?)
        }
        Kind::Int => {
            let (ia, ib) = (ta.int()?, tb.int()?);
            ia.offset == 0
                && ib.offset == 0
                && (!strict
                    || (ta.size() == tb.size()
                        && ia.signed == ib.signed
                        && ia.is_bool == ib.is_bool))
        }
        Kind::Float => !strict || ta.size() == tb.size(),
        Kind::Ptr => compat_depth(a, ta.ref_type(), b, tb.ref_type(), mode, depth + 1)?,
        Kind::Array => {
            let (aa, ab) = (ta.array()?, tb.array()?);
            (!strict || aa.nelems == ab.nelems)
                && compat_depth(a, aa.elem, b, ab.elem, mode, depth + 1)?
        }
        Kind::FuncProto => {
            let (pa, pb) = (ta.params()?, tb.params()?);
            if pa.len() != pb.len()
                || !compat_depth(a, ta.ref_type(), b, tb.ref_type(), mode, depth + 1)?
            {
                return Ok(false);
            }
            for (x, y) in pa.iter().zip(&pb) {
                if !compat_depth(a, x.type_id, b, y.type_id, mode, depth + 1)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

/// A BTF type as C (`struct file *`, `const void *`, `u32`, `__u8[16]`).
pub fn c_type(btf: &Btf, id: u32) -> String {
    c_type_depth(btf, id, 0).unwrap_or_else(|_| format!("<bad type {id}>"))
}

fn c_type_depth(btf: &Btf, id: u32, depth: usize) -> Result<String, BtfError> {
    if depth > MAX_CHAIN {
        return Err(BtfError::TypeLoop(id));
    }
    let t = btf.get(id)?;
    let name = t.name()?;
    let inner = |i: u32| c_type_depth(btf, i, depth + 1);
    Ok(match t.kind {
        Kind::Void => "void".into(),
        Kind::Int | Kind::Typedef | Kind::Float => name.into(),
        Kind::Struct => format!("struct {name}"),
        Kind::Union => format!("union {name}"),
        Kind::Enum | Kind::Enum64 => format!("enum {name}"),
        Kind::Fwd if t.kind_flag() => format!("union {name}"),
        Kind::Fwd => format!("struct {name}"),
        Kind::Ptr => {
            let p = inner(t.ref_type())?;
            if p.ends_with('*') {
                format!("{p}*")
            } else {
                format!("{p} *")
            }
        }
        Kind::Const => format!("const {}", inner(t.ref_type())?),
        Kind::Volatile => format!("volatile {}", inner(t.ref_type())?),
        Kind::Restrict | Kind::TypeTag => inner(t.ref_type())?,
        Kind::Array => {
            let a = t.array()?;
            format!("{}[{}]", inner(a.elem)?, a.nelems)
        }
        Kind::FuncProto => {
            let params = t
                .params()?
                .iter()
                .map(|p| inner(p.type_id))
                .collect::<Result<Vec<_>, _>>()?;
            format!("{} (*)({})", inner(t.ref_type())?, params.join(", "))
        }
        other => format!("{} {name}", other.name()),
    })
}
