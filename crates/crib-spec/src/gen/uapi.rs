//! `kernel-patches/generated/bpf_crib.h`: the exact text the series must
//! carry as `include/uapi/linux/bpf_crib.h` (constants and versioned
//! structs with per-version size defines), in kernel style.

use super::c::{comment, field_doc, size_macro, version_macro, GENERATED};
use crate::model::SpecSet;
use std::fmt::Write;

/// Comment width (checkpatch allows 100; 80 reads better).
const WIDTH: usize = 80;

pub fn uapi_header(set: &SpecSet) -> String {
    let mut o = String::new();
    o.push_str("/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */\n");
    o.push_str("/*\n * CRIB (Checkpoint/Restore In eBPF): constants and __sz-versioned structs\n");
    o.push_str(" * shared by the CRIB kfuncs and BPF programs. A versioned struct starts\n");
    o.push_str(" * with its size; fields are only appended, and a kernel accepts a larger\n");
    o.push_str(" * struct only when the tail it does not know is zero.\n *\n");
    let _ = writeln!(o, " * {}\n */", GENERATED.replace(" — ", "; "));
    o.push_str("#ifndef _UAPI_LINUX_BPF_CRIB_H\n#define _UAPI_LINUX_BPF_CRIB_H\n\n");
    o.push_str("#include <linux/types.h>\n");
    let consts: Vec<_> = set.consts().collect();
    if !consts.is_empty() {
        o.push_str("\nenum {\n");
        for c in consts {
            comment(&mut o, "\t", &c.doc, WIDTH);
            let _ = writeln!(o, "\t{} = {},", c.name, c.value);
        }
        o.push_str("};\n");
    }
    for s in set.structs() {
        o.push('\n');
        comment(&mut o, "", &s.doc, WIDTH);
        let _ = writeln!(o, "struct {} {{", s.name);
        for f in &s.fields {
            comment(&mut o, "\t", &field_doc(f), WIDTH);
            let _ = writeln!(o, "\t{};", f.ty.c_decl(&f.name));
        }
        o.push_str("};\n\n");
        for v in 1..=s.latest_version() {
            let _ = writeln!(
                o,
                "#define {}\t{}",
                size_macro(s, v),
                s.size_of_version(v).unwrap_or(0)
            );
        }
        let _ = writeln!(o, "#define {}\t{}", version_macro(s), s.latest_version());
    }
    o.push_str("\n#endif /* _UAPI_LINUX_BPF_CRIB_H */\n");
    o
}
