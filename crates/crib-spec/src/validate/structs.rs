//! Versioned (`__sz`) struct rules: the size member comes first, fields
//! are only appended, every version is laid out without implicit padding
//! (so a kernel can reject a non-zero unknown tail byte by byte), and the
//! types are the uapi `__u*`/`__s*` spellings.

use super::Ctx;
use crate::model::{CType, VersionedStruct};

pub(super) fn check(cx: &mut Ctx<'_>) {
    let set = cx.set;
    for (fi, fam) in set.families.iter().enumerate() {
        for (si, s) in fam.structs.iter().enumerate() {
            check_struct(cx, (fi, si), s);
        }
    }
}

/// The uapi spelling of an integer (`__u32`), or why the type is not allowed.
fn uapi_type_problem(ty: &CType) -> Option<String> {
    match ty {
        CType::Int { name, .. } if name.starts_with("__u") || name.starts_with("__s") => None,
        CType::Int { name, .. } => Some(format!(
            "`{name}` is not a uapi type; use __u8..__u64 or __s8..__s64"
        )),
        CType::Array { elem, .. } => uapi_type_problem(elem),
        CType::Bool => Some("`bool` has no fixed uapi ABI; use __u8".to_string()),
        CType::Ptr { .. } => {
            Some("pointers differ between 32- and 64-bit callers; use __u64".to_string())
        }
        other => Some(format!("`{other}` cannot be a field type")),
    }
}

fn check_struct(cx: &mut Ctx<'_>, at: (usize, usize), s: &VersionedStruct) {
    let Some(first) = s.fields.first() else {
        let loc = cx.spans.struct_fields(at, &s.loc);
        cx.err(&loc, format!("struct {}: no fields", s.name));
        return;
    };
    let mut types_ok = true;
    for f in &s.fields {
        if let Some(p) = uapi_type_problem(&f.ty) {
            cx.err(&f.loc, format!("struct {} field `{}`: {p}", s.name, f.name));
            types_ok = false;
        }
    }
    let u32_ty = |ty: &CType| matches!(ty, CType::Int { name, .. } if name == "__u32");
    if first.name != s.size_member {
        let loc = cx.spans.struct_size_member(at, &s.loc);
        cx.err(
            &loc,
            format!(
                "struct {}: size member `{}` must be the first field (first is `{}`)",
                s.name, s.size_member, first.name
            ),
        );
    } else if !u32_ty(&first.ty) {
        cx.err(
            &first.loc,
            format!(
                "struct {}: size member `{}` must be __u32, not `{}`",
                s.name, first.name, first.ty
            ),
        );
    }
    if let Some(vm) = &s.version_member {
        let loc = cx.spans.struct_version_member(at, &s.loc);
        match s.fields.iter().find(|f| &f.name == vm) {
            None => cx.err(
                &loc,
                format!("struct {}: version member `{vm}` is not a field", s.name),
            ),
            Some(f) if !u32_ty(&f.ty) => cx.err(
                &f.loc,
                format!(
                    "struct {}: version member `{vm}` must be __u32, not `{}`",
                    s.name, f.ty
                ),
            ),
            Some(f) if f.since != 1 => cx.err(
                &f.loc,
                format!(
                    "struct {}: version member `{vm}` must exist since version 1",
                    s.name
                ),
            ),
            Some(_) => {}
        }
    }
    if !check_versions(cx, s) || !types_ok {
        return;
    }
    for v in 1..=s.latest_version() {
        check_layout(cx, s, v);
    }
}

/// `since` starts at 1, never decreases, and never skips a version.
fn check_versions(cx: &mut Ctx<'_>, s: &VersionedStruct) -> bool {
    let mut prev = 0u32;
    let mut ok = true;
    for (i, f) in s.fields.iter().enumerate() {
        let msg = if i == 0 && f.since != 1 {
            Some(format!(
                "struct {}: the first field must have since = 1, not {}",
                s.name, f.since
            ))
        } else if f.since < prev {
            Some(format!(
                "struct {}: field `{}` (since {}) after a since-{prev} field: fields are append-only, \
                 so versions never decrease",
                s.name, f.name, f.since
            ))
        } else if f.since > prev + 1 {
            Some(format!(
                "struct {}: field `{}` jumps from version {prev} to {}: no version gaps",
                s.name, f.name, f.since
            ))
        } else {
            None
        };
        if let Some(m) = msg {
            cx.err(&f.loc, m);
            ok = false;
        }
        prev = prev.max(f.since);
    }
    ok
}

fn check_layout(cx: &mut Ctx<'_>, s: &VersionedStruct, v: u32) {
    let (Some(layout), Some(size)) = (s.layout(v), s.size_of_version(v)) else {
        return;
    };
    let mut end = 0;
    for (l, f) in layout.iter().zip(s.fields_in(v)) {
        if l.offset != end {
            let gap = l.offset - end;
            cx.err(
                &f.loc,
                format!(
                    "struct {} v{v}: {gap}-byte padding hole before `{}` at offset {end}; \
                     add an explicit `__u8 __pad{end}[{gap}]` field",
                    s.name, f.name
                ),
            );
            return;
        }
        end = l.offset + l.size;
    }
    if size != end {
        let last = s.fields_in(v).last().map_or(&s.loc, |f| &f.loc);
        let gap = size - end;
        cx.err(
            last,
            format!(
                "struct {} v{v}: ends at {end} but sizeof is {size} (alignment tail); \
                 add an explicit `__u8 __pad{end}[{gap}]` field at the end of v{v}",
                s.name
            ),
        );
    }
}
