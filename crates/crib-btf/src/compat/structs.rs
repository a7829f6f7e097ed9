//! `__sz`-versioned structs: which spec version a kernel struct implements,
//! or exactly why it implements none.
//!
//! A kernel struct implements version `v` when its members are exactly the
//! spec fields of `v`, in order, at the spec offsets, with the spec sizes and
//! compatible types, and its size is `size_of_version(v)`. Members the spec
//! does not know are accepted only after all fields of the latest version
//! (a newer kernel: [`Verdict::CompatibleNewer`]).

use super::verdict::{Problem, ProblemCode as C, Verdict};
use crate::btf::{Btf, Kind, Member};
use crate::error::BtfError;
use crate::types::{c_type, spec_matches, Mode};
use crib_spec::VersionedStruct;

/// Check spec struct `s` against the kernel.
pub fn check(s: &VersionedStruct, btf: &Btf, mode: Mode) -> Verdict {
    match check_inner(s, btf, mode) {
        Ok(v) => v,
        Err(e) => Verdict::Incompatible {
            problems: vec![Problem::new(C::BadBtf, "bad BTF", e.to_string())],
        },
    }
}

fn check_inner(s: &VersionedStruct, btf: &Btf, mode: Mode) -> Result<Verdict, BtfError> {
    let found = btf.find(&s.name, &[Kind::Struct, Kind::Union, Kind::Fwd]);
    let Some(t) = found
        .iter()
        .find(|t| t.kind == Kind::Struct)
        .or(found.first())
        .copied()
    else {
        return Ok(Verdict::Absent);
    };
    if t.kind != Kind::Struct {
        let what = if t.kind == Kind::Union {
            "a union"
        } else {
            "only declared, never defined"
        };
        return Ok(bad(vec![Problem::new(
            C::WrongKind,
            "not a struct",
            format!("`{}` is {what} in this kernel", s.name),
        )]));
    }
    let members = t.members()?;
    let mut problems = Vec::new();
    let spec_idx = |name: &str| s.fields.iter().position(|f| f.name == name);

    // Order: spec fields must appear in spec order.
    let known: Vec<(usize, &Member)> = members
        .iter()
        .filter_map(|m| spec_idx(m.name).map(|i| (i, m)))
        .collect();
    for w in known.windows(2) {
        if w[1].0 < w[0].0 {
            problems.push(
                Problem::new(
                    C::FieldReordered,
                    format!("{} reordered", w[1].1.name),
                    format!(
                        "field `{}` comes after `{}` in the kernel; the spec has it before",
                        w[1].1.name, w[0].1.name
                    ),
                )
                .on_field(w[1].1.name),
            );
        }
    }

    // Presence: the known fields must be a prefix of the spec's fields.
    let present = |i: usize| known.iter().any(|(k, _)| *k == i);
    let n_present = (0..s.fields.len()).take_while(|&i| present(i)).count();
    for (i, f) in s.fields.iter().enumerate().skip(n_present) {
        if present(i) {
            let missing = &s.fields[n_present].name;
            problems.push(
                Problem::new(
                    C::FieldRemoved,
                    format!("{missing} removed"),
                    format!(
                        "field `{missing}` is missing but the later field `{}` exists",
                        f.name
                    ),
                )
                .on_field(missing.as_str()),
            );
            break;
        }
    }

    // Unknown members: only allowed after every spec field of the latest version.
    let last_known_pos = members.iter().rposition(|m| spec_idx(m.name).is_some());
    let mut extra = Vec::new();
    for (pos, m) in members.iter().enumerate() {
        if spec_idx(m.name).is_some() {
            continue;
        }
        let label = if m.name.is_empty() { "<anon>" } else { m.name };
        if last_known_pos.is_some_and(|last| pos < last) {
            let next = members[pos + 1..]
                .iter()
                .find(|n| spec_idx(n.name).is_some())
                .map(|n| n.name)
                .unwrap_or("?");
            problems.push(
                Problem::new(
                    C::FieldInsertedInMiddle,
                    format!("{label} inserted"),
                    format!("field `{label}` the spec does not know is inserted before `{next}`"),
                )
                .on_field(label),
            );
        } else if n_present < s.fields.len() {
            let expected = &s.fields[n_present];
            problems.push(
                Problem::new(
                    C::FieldUnknown,
                    format!("{label} unknown"),
                    format!(
                        "field `{label}` the spec does not know is where v{} has `{}`",
                        expected.since, expected.name
                    ),
                )
                .on_field(label),
            );
        } else {
            extra.push(label.to_string());
        }
    }

    // Which version: the known prefix must end exactly at a version boundary.
    let version = (1..=s.latest_version()).find(|&v| s.fields_in(v).count() == n_present);
    let v1_count = s.fields_in(1).count();
    if n_present < v1_count && problems.is_empty() {
        let missing = &s.fields[n_present].name;
        problems.push(
            Problem::new(
                C::StructShrank,
                format!("shrank: no {missing}"),
                format!("the kernel struct ends before `{missing}`, a v1 field"),
            )
            .on_field(missing.as_str()),
        );
    } else if version.is_none() && problems.is_empty() {
        // `None` only when the spec has no fields at all (never validated).
        if let Some(missing) = s.fields.get(n_present) {
            problems.push(
                Problem::new(
                    C::PartialVersion,
                    format!("partial v{}", missing.since),
                    format!(
                        "the kernel has part of v{}: `{}` is missing",
                        missing.since, missing.name
                    ),
                )
                .on_field(missing.name.as_str()),
            );
        }
    }

    // Types, sizes and offsets against the spec layout.
    let layout = s.layout(s.latest_version()).unwrap_or_default();
    let mut prev_end = 0u64;
    let mut offset_reported = false;
    for m in &members {
        let off = u64::from(m.bit_offset / 8);
        let size = if m.bitfield.is_some() {
            0
        } else {
            btf.size_of(m.type_id)?
        };
        // Padding is measured from the previous member, known or not.
        let gap_before = off.saturating_sub(prev_end);
        prev_end = prev_end.max(off + size);
        let Some(i) = spec_idx(m.name) else {
            continue;
        };
        let (f, l) = (&s.fields[i], layout.get(i));
        if let Some(bits) = m.bitfield {
            problems.push(
                Problem::new(
                    C::FieldBitfield,
                    format!("{} bitfield", f.name),
                    format!("field `{}` is a {bits}-bit bitfield in the kernel", f.name),
                )
                .on_field(f.name.as_str()),
            );
            continue;
        }
        let want_size = f.ty.size().map(u64::from);
        if want_size.is_some_and(|w| w != size) {
            problems.push(
                Problem::new(
                    C::FieldResized,
                    format!("{} resized", f.name),
                    format!(
                        "field `{}` is {size} bytes in the kernel, {} in the spec",
                        f.name,
                        want_size.unwrap_or(0)
                    ),
                )
                .on_field(f.name.as_str()),
            );
        } else if !spec_matches(&f.ty, btf, m.type_id, mode)? {
            problems.push(
                Problem::new(
                    C::FieldRetyped,
                    format!("{} retyped", f.name),
                    format!(
                        "field `{}` is `{}` in the kernel, `{}` in the spec",
                        f.name,
                        c_type(btf, m.type_id),
                        f.ty
                    ),
                )
                .on_field(f.name.as_str()),
            );
        }
        let Some(l) = l else { continue };
        if off == u64::from(l.offset) || offset_reported {
            continue;
        }
        offset_reported = true;
        if gap_before > 0 {
            problems.push(
                Problem::new(
                    C::Hole,
                    format!("hole before {}", f.name),
                    format!(
                        "{gap_before} padding byte(s) before field `{}` (offset {off}, spec {})",
                        f.name, l.offset
                    ),
                )
                .on_field(f.name.as_str()),
            );
        } else {
            problems.push(
                Problem::new(
                    C::FieldMoved,
                    format!("{} moved", f.name),
                    format!(
                        "field `{}` is at offset {off}, the spec says {}",
                        f.name, l.offset
                    ),
                )
                .on_field(f.name.as_str()),
            );
        }
    }

    // Size of the whole struct.
    let ksize = u64::from(t.size());
    if let Some(v) = version.filter(|_| problems.is_empty()) {
        let want = u64::from(s.size_of_version(v).unwrap_or(0));
        let last_end = members
            .iter()
            .map(|m| u64::from(m.bit_offset / 8) + btf.size_of(m.type_id).unwrap_or(0))
            .max()
            .unwrap_or(0);
        if ksize < want {
            problems.push(Problem::new(
                C::StructShrank,
                format!("size {ksize} < {want}"),
                format!("sizeof is {ksize} in the kernel, v{v} needs {want}"),
            ));
        } else if extra.is_empty() && ksize > want {
            problems.push(Problem::new(
                C::Hole,
                format!("tail hole {}B", ksize - want),
                format!(
                    "sizeof is {ksize} in the kernel, v{v} is {want}: {} unnamed tail byte(s)",
                    ksize - want
                ),
            ));
        } else if !extra.is_empty() && ksize > last_end.max(want).next_multiple_of(8) {
            problems.push(Problem::new(
                C::Hole,
                format!("tail hole {}B", ksize - last_end),
                format!(
                    "{} unnamed tail byte(s) after the last member",
                    ksize - last_end
                ),
            ));
        }
        if problems.is_empty() {
            return Ok(if extra.is_empty() {
                Verdict::Compatible {
                    version: Some(v),
                    decl_tagged: None,
                }
            } else {
                Verdict::CompatibleNewer {
                    version: v,
                    extra_fields: extra,
                }
            });
        }
    }
    if problems.is_empty() {
        // Unreachable by construction; say so rather than claim success.
        problems.push(Problem::new(
            C::PartialVersion,
            "no version",
            "the kernel struct matches no spec version",
        ));
    }
    Ok(bad(problems))
}

fn bad(problems: Vec<Problem>) -> Verdict {
    Verdict::Incompatible { problems }
}
