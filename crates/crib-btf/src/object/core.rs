//! Resolving one CO-RE relocation against a kernel, after libbpf's rules:
//! candidates are kernel types of the same kind whose name equals the local
//! name with any `___flavor` suffix stripped; field relocations follow the
//! access string member by member, matching by name (searching through
//! anonymous struct/union members) and checking field compatibility;
//! type relocations need a compatible type; enum value relocations need an
//! enumerator of the same name.

use super::ext::{CoreRelo, ReloKind};
use crate::btf::{Btf, Kind};
use crate::error::BtfError;
use crate::types::{btf_compatible, essential_name, strip, Mode};

/// Outcome of one relocation on one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Resolves (for existence checks: the thing exists).
    Ok,
    /// An existence check that answers "no": fine, the program guards it.
    DoesNotExist(String),
    /// libbpf would poison the instruction: loads only if it is dead code.
    Unresolved(String),
    /// Candidates resolve to different answers: libbpf refuses the object.
    Ambiguous(String),
}

/// Human form of a relocation: `task_struct.mm`, `enum pid_type::PIDTYPE_TGID`.
pub fn describe(obj: &Btf, r: &CoreRelo) -> String {
    describe_inner(obj, r).unwrap_or_else(|e| format!("<bad relocation: {e}>"))
}

fn describe_inner(obj: &Btf, r: &CoreRelo) -> Result<String, BtfError> {
    let root = obj.get(r.type_id)?;
    let mut s = root.name()?.to_string();
    if s.is_empty() {
        s = format!("<anon {}>", root.kind.name());
    }
    if r.kind.is_enumval() {
        let e = root.enumerators()?;
        let idx = r.access.first().copied().unwrap_or(0) as usize;
        return Ok(format!(
            "{s}::{}",
            e.get(idx).map(|e| e.name).unwrap_or("?")
        ));
    }
    if !r.kind.is_field() {
        return Ok(s);
    }
    let mut cur = r.type_id;
    if let Some(&first) = r.access.first() {
        if first != 0 {
            s.push_str(&format!("[{first}]"));
        }
    }
    for &idx in r.access.iter().skip(1) {
        let t = obj.get(strip(obj, cur)?.0)?;
        match t.kind {
            Kind::Struct | Kind::Union => {
                let m = t
                    .members()?
                    .get(idx as usize)
                    .copied()
                    .ok_or(BtfError::UnknownTypeId(idx))?;
                if !m.name.is_empty() {
                    s.push('.');
                    s.push_str(m.name);
                }
                cur = m.type_id;
            }
            Kind::Array => {
                s.push_str(&format!("[{idx}]"));
                cur = t.array()?.elem;
            }
            _ => break,
        }
    }
    Ok(s)
}

/// Resolve relocation `r` of object BTF `obj` against kernel BTF `k`.
pub fn resolve(obj: &Btf, r: &CoreRelo, k: &Btf) -> Resolution {
    match resolve_inner(obj, r, k) {
        Ok(res) => res,
        Err(e) => Resolution::Unresolved(format!("bad BTF: {e}")),
    }
}

fn candidate_kinds(kind: Kind) -> &'static [Kind] {
    match kind {
        Kind::Struct | Kind::Union => &[Kind::Struct, Kind::Union],
        Kind::Enum | Kind::Enum64 => &[Kind::Enum, Kind::Enum64],
        Kind::Int => &[Kind::Int],
        Kind::Typedef => &[Kind::Typedef],
        Kind::Fwd => &[Kind::Fwd, Kind::Struct, Kind::Union],
        Kind::Float => &[Kind::Float],
        _ => &[],
    }
}

fn resolve_inner(obj: &Btf, r: &CoreRelo, k: &Btf) -> Result<Resolution, BtfError> {
    if r.kind == ReloKind::TypeIdLocal {
        return Ok(Resolution::Ok);
    }
    let local = obj.get(r.type_id)?;
    let name = essential_name(local.name()?);
    let not_found = |what: String| {
        if r.kind.is_existence() {
            Resolution::DoesNotExist(what)
        } else {
            Resolution::Unresolved(what)
        }
    };
    if name.is_empty() {
        return Ok(Resolution::Unresolved("anonymous root type".into()));
    }
    let kinds = candidate_kinds(local.kind);
    let cands: Vec<u32> = k
        .ids_by_name(name)
        .into_iter()
        .filter(|&id| k.get(id).map(|t| kinds.contains(&t.kind)).unwrap_or(false))
        .collect();
    if cands.is_empty() {
        return Ok(not_found(format!("no {} `{name}`", local.kind.name())));
    }
    let mut results = Vec::new();
    let mut last_err = String::new();
    for c in cands {
        let res = if r.kind.is_field() {
            field_target(obj, r, k, c)?
        } else if r.kind.is_enumval() {
            enumval_target(obj, r, k, c)?
        } else if btf_compatible(obj, r.type_id, k, c, Mode::Relaxed)? {
            let size = k.size_of(c)?;
            if r.kind == ReloKind::TypeMatches && !members_match(obj, r.type_id, k, c)? {
                Err(format!("`{name}` does not match member by member"))
            } else {
                Ok(size as i128)
            }
        } else {
            Err(format!("`{name}` is not compatible"))
        };
        match res {
            Ok(v) => results.push(v),
            Err(e) => last_err = e,
        }
    }
    results.sort_unstable();
    results.dedup();
    Ok(match results.len() {
        0 => not_found(last_err),
        1 => Resolution::Ok,
        _ => Resolution::Ambiguous(format!(
            "{} candidates for `{name}` give different results",
            results.len()
        )),
    })
}

/// For a field relocation: the target bit offset, or why it fails.
fn field_target(
    obj: &Btf,
    r: &CoreRelo,
    k: &Btf,
    cand: u32,
) -> Result<Result<i128, String>, BtfError> {
    let mut local = r.type_id;
    let mut targ = cand;
    let mut bit_off: i128 = 0;
    let first = r.access.first().copied().unwrap_or(0);
    bit_off += i128::from(first) * i128::from(k.size_of(cand)?) * 8;
    for &idx in r.access.iter().skip(1) {
        let lt = obj.get(strip(obj, local)?.0)?;
        let tt = k.get(strip(k, targ)?.0)?;
        match lt.kind {
            Kind::Struct | Kind::Union => {
                let Some(m) = lt.members()?.get(idx as usize).copied() else {
                    return Ok(Err(format!("member index {idx} out of range")));
                };
                if m.name.is_empty() {
                    // Anonymous local member: the next named access is
                    // searched from the current target type.
                    local = m.type_id;
                    continue;
                }
                if !matches!(tt.kind, Kind::Struct | Kind::Union) {
                    return Ok(Err(format!("`{}` is not in a struct", m.name)));
                }
                let Some((t_type, t_off)) = find_member(k, tt.id, m.name, 0)? else {
                    return Ok(Err(format!(
                        "no field `{}` in `{}`",
                        m.name,
                        tt.name().unwrap_or("?")
                    )));
                };
                if !fields_compatible(obj, m.type_id, k, t_type)? {
                    return Ok(Err(format!("field `{}` has an incompatible type", m.name)));
                }
                bit_off += i128::from(t_off);
                local = m.type_id;
                targ = t_type;
            }
            Kind::Array => {
                if tt.kind != Kind::Array {
                    return Ok(Err("array access into a non-array".into()));
                }
                let a = tt.array()?;
                if a.nelems != 0 && idx >= a.nelems {
                    return Ok(Err(format!("index {idx} beyond {} elements", a.nelems)));
                }
                bit_off += i128::from(idx) * i128::from(k.size_of(a.elem)?) * 8;
                local = lt.array()?.elem;
                targ = a.elem;
            }
            _ => return Ok(Err("access into a non-composite type".into())),
        }
    }
    Ok(Ok(bit_off))
}

/// Find member `name` in struct/union `id`, looking through anonymous
/// members; returns (type id, bit offset from `id`).
fn find_member(k: &Btf, id: u32, name: &str, depth: usize) -> Result<Option<(u32, u32)>, BtfError> {
    if depth > crate::btf::MAX_CHAIN {
        return Err(BtfError::TypeLoop(id));
    }
    let t = k.get(strip(k, id)?.0)?;
    if !matches!(t.kind, Kind::Struct | Kind::Union) {
        return Ok(None);
    }
    for m in t.members()? {
        if m.name == name {
            return Ok(Some((m.type_id, m.bit_offset)));
        }
        if m.name.is_empty() {
            if let Some((ty, off)) = find_member(k, m.type_id, name, depth + 1)? {
                return Ok(Some((ty, m.bit_offset.saturating_add(off))));
            }
        }
    }
    Ok(None)
}

/// libbpf's `bpf_core_fields_are_compat`: composites always match, other
/// kinds must agree (ints of any size, enums by name, arrays by element).
fn fields_compatible(a: &Btf, a_id: u32, b: &Btf, b_id: u32) -> Result<bool, BtfError> {
    let (mut a_id, mut b_id) = (a_id, b_id);
    for _ in 0..crate::btf::MAX_CHAIN {
        let ta = a.get(strip(a, a_id)?.0)?;
        let tb = b.get(strip(b, b_id)?.0)?;
        let comp = |k: Kind| matches!(k, Kind::Struct | Kind::Union);
        if comp(ta.kind) && comp(tb.kind) {
            return Ok(true);
        }
        let en = |k: Kind| matches!(k, Kind::Enum | Kind::Enum64);
        return Ok(match (ta.kind, tb.kind) {
            (Kind::Ptr, Kind::Ptr) | (Kind::Float, Kind::Float) => true,
            (Kind::Int, Kind::Int) => ta.int()?.offset == 0 && tb.int()?.offset == 0,
            (x, y) if en(x) && en(y) => essential_name(ta.name()?) == essential_name(tb.name()?),
            (Kind::Fwd, Kind::Fwd) => essential_name(ta.name()?) == essential_name(tb.name()?),
            (Kind::Array, Kind::Array) => {
                a_id = ta.array()?.elem;
                b_id = tb.array()?.elem;
                continue;
            }
            _ => false,
        });
    }
    Err(BtfError::TypeLoop(a_id))
}

fn enumval_target(
    obj: &Btf,
    r: &CoreRelo,
    k: &Btf,
    cand: u32,
) -> Result<Result<i128, String>, BtfError> {
    let local = obj.get(r.type_id)?;
    let idx = r.access.first().copied().unwrap_or(0) as usize;
    let Some(want) = local.enumerators()?.get(idx).copied() else {
        return Ok(Err(format!("enumerator index {idx} out of range")));
    };
    let name = essential_name(want.name);
    Ok(k.get(cand)?
        .enumerators()?
        .iter()
        .find(|e| essential_name(e.name) == name)
        .map(|e| e.value)
        .ok_or_else(|| format!("no enumerator `{}`", want.name)))
}

/// TYPE_MATCHES on composites: every local member exists in the target.
fn members_match(obj: &Btf, a: u32, k: &Btf, b: u32) -> Result<bool, BtfError> {
    let ta = obj.get(strip(obj, a)?.0)?;
    let tb = k.get(strip(k, b)?.0)?;
    if !matches!(ta.kind, Kind::Struct | Kind::Union) {
        return Ok(true);
    }
    let theirs = tb.members()?;
    Ok(ta
        .members()?
        .iter()
        .all(|m| theirs.iter().any(|t| t.name == m.name)))
}
