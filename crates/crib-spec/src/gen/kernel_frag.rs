//! `kernel-patches/generated/crib_kfuncs.txt`: per family, the CRIB-owned
//! opaque iterator states, the `BTF_ID_FLAGS` lines and the `__bpf_kfunc`
//! prototypes the series must implement. Reference text for the kernel
//! engineer and `cargo xtask patches check`; it is not compiled.

use super::c::{comment, prototype, wrap_prototype, GENERATED};
use crate::model::{Kfunc, Origin, ProgType, SpecSet};
use std::fmt::Write;

/// Comment width (checkpatch allows 100; 80 reads better).
const WIDTH: usize = 80;

/// `KF_ACQUIRE | KF_RET_NULL`, or empty.
pub fn flags_expr(k: &Kfunc) -> String {
    k.flags
        .iter()
        .map(|f| f.c_name())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `BTF_ID_FLAGS(func, NAME[, FLAGS])`.
pub fn btf_id_flags(k: &Kfunc) -> String {
    let flags = flags_expr(k);
    if flags.is_empty() {
        format!("BTF_ID_FLAGS(func, {})", k.name)
    } else {
        format!("BTF_ID_FLAGS(func, {}, {flags})", k.name)
    }
}

fn prog_type_c(p: ProgType) -> &'static str {
    match p {
        ProgType::Crib => "BPF_PROG_TYPE_CRIB",
        ProgType::Syscall => "BPF_PROG_TYPE_SYSCALL",
        ProgType::Tracing => "BPF_PROG_TYPE_TRACING",
        ProgType::Lsm => "BPF_PROG_TYPE_LSM",
        ProgType::Any => "BPF_PROG_TYPE_UNSPEC",
    }
}

pub fn kernel_kfuncs(set: &SpecSet) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "/* {GENERATED} */");
    o.push_str("/*\n * The CRIB kfuncs as the kernel series must register and define them.\n");
    o.push_str(" * `cargo xtask patches check` compares a kernel tree against this.\n */\n");
    let consts: Vec<_> = set.consts().map(|c| c.name.as_str()).collect();
    if !consts.is_empty() {
        o.push_str(
            "\n/*\n * Keep the uapi constants in BTF (so a patched kernel's vmlinux.h has them\n",
        );
        o.push_str(" * for CRIB_VMLINUX_HAS_CRIB_TYPES users), e.g. in an init function:\n */\n");
        for c in consts {
            let _ = writeln!(o, "BTF_TYPE_EMIT_ENUM({c});");
        }
    }
    for fam in &set.families {
        let crib: Vec<_> = fam.kfuncs.iter().filter(|k| k.origin.is_crib()).collect();
        if crib.is_empty() {
            continue;
        }
        let _ = write!(o, "\n/* ==== family {} ==== */\n", fam.name);
        comment(&mut o, "", &fam.doc, WIDTH);
        for op in fam.opaques.iter().filter(|o| !o.upstream) {
            o.push('\n');
            comment(&mut o, "", &op.doc, WIDTH);
            let _ = writeln!(
                o,
                "struct {} {{\n\t__u64 __opaque[{}];\n}} __aligned(8);",
                op.name, op.words
            );
        }
        let mut patches: Vec<&str> = Vec::new();
        let mut progs: Vec<ProgType> = Vec::new();
        for k in &crib {
            if let Origin::Crib { patch, .. } = &k.origin {
                if !patches.contains(&patch.as_str()) {
                    patches.push(patch);
                }
            }
            for p in &k.prog_types {
                if !progs.contains(p) {
                    progs.push(*p);
                }
            }
        }
        let _ = write!(o, "\n/* patch: {} */\n", patches.join(", "));
        let progs: Vec<_> = progs.into_iter().map(prog_type_c).collect();
        let _ = writeln!(o, "/* registered for: {} */", progs.join(", "));
        let _ = writeln!(o, "BTF_KFUNCS_START(crib_{}_kfunc_ids)", fam.name);
        for k in &crib {
            let _ = writeln!(o, "{}", btf_id_flags(k));
        }
        let _ = writeln!(o, "BTF_KFUNCS_END(crib_{}_kfunc_ids)", fam.name);
        for k in &crib {
            o.push('\n');
            comment(&mut o, "", &k.doc, WIDTH);
            let _ = writeln!(
                o,
                "{};",
                wrap_prototype(&format!("__bpf_kfunc {}", prototype(k)), 100)
            );
        }
    }
    o
}
