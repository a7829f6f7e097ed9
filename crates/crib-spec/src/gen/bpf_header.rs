//! `bpf/include/crib/kfuncs.h`: what a CRIB BPF program includes after
//! `vmlinux.h` — constants, CRIB-owned types, per-version size macros and
//! every spec'd kfunc as `extern ... __ksym __weak`.

use super::c::{comment, field_doc, prototype, size_macro, version_macro, GENERATED};
use crate::model::{CType, Origin, SpecSet, VersionedStruct};
use std::fmt::Write;

/// Comment width (checkpatch allows 100; 80 reads better).
const WIDTH: usize = 80;

/// The macro a program defines when its vmlinux.h was dumped from a
/// CRIB-patched kernel (whose BTF already has the CRIB types).
pub const HAS_CRIB_TYPES: &str = "CRIB_VMLINUX_HAS_CRIB_TYPES";

pub fn bpf_header(set: &SpecSet) -> String {
    let mut o = String::new();
    o.push_str("/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */\n");
    o.push_str(&format!("/* {GENERATED} */\n"));
    o.push_str(&format!(
        "/*\n * CRIB kfuncs and types for BPF programs. Include after vmlinux.h. When\n \
         * vmlinux.h was dumped from a CRIB-patched kernel it already defines the\n \
         * CRIB types: define {HAS_CRIB_TYPES} before including this file.\n */\n"
    ));
    o.push_str("#ifndef __CRIB_KFUNCS_H\n#define __CRIB_KFUNCS_H\n\n");
    o.push_str("#ifndef __ksym\n#define __ksym __attribute__((section(\".ksyms\")))\n#endif\n");
    o.push_str("#ifndef __weak\n#define __weak __attribute__((weak))\n#endif\n");

    let structs: Vec<_> = set.structs().collect();
    if !structs.is_empty() {
        o.push_str("\n/* Sizes of each version of the __sz-versioned structs. */\n");
        for s in &structs {
            for v in 1..=s.latest_version() {
                let size = s.size_of_version(v).unwrap_or(0);
                let _ = writeln!(o, "#define {} {size}", size_macro(s, v));
            }
            let _ = writeln!(o, "#define {} {}", version_macro(s), s.latest_version());
        }
    }

    let _ = write!(o, "\n#ifndef {HAS_CRIB_TYPES}\n");
    let consts: Vec<_> = set.consts().collect();
    if !consts.is_empty() {
        o.push_str("\nenum {\n");
        for c in consts {
            comment(&mut o, "\t", &c.doc, WIDTH);
            let _ = writeln!(o, "\t{} = {},", c.name, c.value);
        }
        o.push_str("};\n");
    }
    for op in set.opaques().filter(|o| !o.upstream) {
        o.push('\n');
        comment(&mut o, "", &op.doc, WIDTH);
        let _ = writeln!(
            o,
            "struct {} {{\n\t__u64 __opaque[{}];\n}} __attribute__((aligned(8)));",
            op.name, op.words
        );
        let _ = writeln!(
            o,
            "_Static_assert(sizeof(struct {}) == {}, \"{} size\");",
            op.name,
            op.words * 8,
            op.name
        );
    }
    for s in &structs {
        versioned_struct(&mut o, s);
    }
    let _ = writeln!(o, "\n#endif /* {HAS_CRIB_TYPES} */");

    for s in &structs {
        for v in 1..=s.latest_version() {
            versioned_struct_abi(&mut o, s, v);
        }
    }

    forward_declarations(&mut o, set);
    for fam in &set.families {
        if fam.kfuncs.is_empty() {
            continue;
        }
        let _ = write!(o, "\n/* ---- {} ---- */\n", fam.name);
        comment(&mut o, "", &fam.doc, WIDTH);
        for k in &fam.kfuncs {
            o.push('\n');
            let origin = match &k.origin {
                Origin::Crib {
                    upstream_since: Some(v),
                    ..
                } => format!(" [crib; upstream since {v}]"),
                Origin::Crib { .. } => " [crib]".to_string(),
                Origin::Upstream { since } => format!(" [upstream since {since}]"),
            };
            comment(&mut o, "", &format!("{}{origin}", k.doc), WIDTH);
            let _ = writeln!(o, "extern {} __ksym __weak;", prototype(k));
        }
    }
    o.push_str("\n#endif /* __CRIB_KFUNCS_H */\n");
    o
}

fn versioned_struct(o: &mut String, s: &VersionedStruct) {
    let latest = s.latest_version();
    o.push('\n');
    comment(
        o,
        "",
        &format!("{} Latest version: {latest}.", s.doc),
        WIDTH,
    );
    let _ = writeln!(o, "struct {} {{", s.name);
    for f in &s.fields {
        comment(o, "\t", &field_doc(f), WIDTH);
        let _ = writeln!(o, "\t{};", f.ty.c_decl(&f.name));
    }
    o.push_str("};\n");
    let _ = writeln!(
        o,
        "_Static_assert(sizeof(struct {}) == {}, \"{} size\");",
        s.name,
        size_macro(s, latest),
        s.name
    );
    for l in s.layout(latest).unwrap_or_default() {
        let _ = writeln!(
            o,
            "_Static_assert(__builtin_offsetof(struct {}, {}) == {}, \"{}.{} offset\");",
            s.name, l.name, l.offset, s.name, l.name
        );
    }
}

/// `struct NAME_vN`: the plain layout of version `v`, for programs to fill
/// and pass with its `sizeof`. The name never exists in kernel BTF, so it
/// neither clashes with a patched kernel's vmlinux.h nor carries
/// `preserve_access_index` (CO-RE would relocate every field write to the
/// running kernel's layout and fail on a kernel that lacks a newer field).
fn versioned_struct_abi(o: &mut String, s: &VersionedStruct, v: u32) {
    let abi = format!("{}_v{v}", s.name);
    o.push('\n');
    comment(
        o,
        "",
        &format!(
            "{} version {v} as a program builds it: fill it and pass &it with sizeof(it); \
             the kernel's __sz rules adapt it to the version the kernel knows.",
            s.name
        ),
        WIDTH,
    );
    let _ = writeln!(o, "struct {abi} {{");
    for f in s.fields_in(v) {
        let _ = writeln!(o, "\t{};", f.ty.c_decl(&f.name));
    }
    o.push_str("};\n");
    let _ = writeln!(
        o,
        "_Static_assert(sizeof(struct {abi}) == {}, \"{abi} size\");",
        size_macro(s, v)
    );
}

/// `struct X;` for every struct a prototype names, so the externs compile
/// against any vmlinux.h, also an older kernel's that lacks some of them
/// (clang would otherwise scope the struct to the prototype and warn).
fn forward_declarations(o: &mut String, set: &SpecSet) {
    let mut names = std::collections::BTreeSet::new();
    for k in set.kfuncs() {
        for ty in std::iter::once(&k.ret).chain(k.args.iter().map(|a| &a.ty)) {
            collect_structs(ty, &mut names);
        }
    }
    if names.is_empty() {
        return;
    }
    o.push_str("\n/* Forward declarations: the prototypes compile with any vmlinux.h. */\n");
    for n in names {
        let _ = writeln!(o, "struct {n};");
    }
}

fn collect_structs<'a>(ty: &'a CType, out: &mut std::collections::BTreeSet<&'a str>) {
    match ty {
        CType::Struct { name } => {
            out.insert(name);
        }
        CType::Ptr { pointee, .. } => collect_structs(pointee, out),
        CType::Array { elem, .. } => collect_structs(elem, out),
        _ => {}
    }
}
