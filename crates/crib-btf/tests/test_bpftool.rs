//! Differential test: every type of every corpus kernel, decoded by our
//! reader, against `bpftool btf dump file` (kind, name, size, vlen,
//! referenced type, struct members, prototype parameters, enum values).

mod common;

use crib_btf::{Btf, Kind};
use std::collections::HashMap;
use std::process::Command;

fn bpftool_kind(k: Kind) -> &'static str {
    match k {
        Kind::Void => "UNKN",
        Kind::Int => "INT",
        Kind::Ptr => "PTR",
        Kind::Array => "ARRAY",
        Kind::Struct => "STRUCT",
        Kind::Union => "UNION",
        Kind::Enum => "ENUM",
        Kind::Fwd => "FWD",
        Kind::Typedef => "TYPEDEF",
        Kind::Volatile => "VOLATILE",
        Kind::Const => "CONST",
        Kind::Restrict => "RESTRICT",
        Kind::Func => "FUNC",
        Kind::FuncProto => "FUNC_PROTO",
        Kind::Var => "VAR",
        Kind::Datasec => "DATASEC",
        Kind::Float => "FLOAT",
        Kind::DeclTag => "DECL_TAG",
        Kind::TypeTag => "TYPE_TAG",
        Kind::Enum64 => "ENUM64",
    }
}

/// `key=value` tokens after the quoted name.
fn fields(rest: &str) -> HashMap<&str, &str> {
    rest.split_whitespace()
        .filter_map(|t| t.trim_end_matches(',').split_once('='))
        .collect()
}

/// (name, rest of line) of a line `... 'name' rest`.
fn quoted(line: &str) -> (&str, &str) {
    let a = line.find('\'').expect("quoted name");
    let b = a + 1 + line[a + 1..].find('\'').expect("closing quote");
    let name = &line[a + 1..b];
    (if name == "(anon)" { "" } else { name }, &line[b + 1..])
}

fn check_kernel(btf: &Btf, label: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let raw = tmp.path().join("k.raw");
    std::fs::write(&raw, btf.bytes()).expect("write");
    let out = Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(&raw)
        .output()
        .expect("running bpftool (apt-get install bpftool; in xtask deps BASE)");
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = 0u32;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let (id, rest) = rest.split_once("] ").expect("[id] KIND");
        let id: u32 = id.parse().expect("id");
        let (kind, rest) = rest.split_once(' ').expect("kind");
        let (name, rest) = quoted(rest);
        let f = fields(rest);
        let t = btf
            .get(id)
            .unwrap_or_else(|e| panic!("{label} [{id}]: {e}"));
        let ctx = format!("{label} [{id}] {kind} '{name}'");
        assert_eq!(bpftool_kind(t.kind), kind, "{ctx}");
        assert_eq!(t.name().expect("name"), name, "{ctx}");
        if let Some(v) = f.get("size") {
            assert_eq!(t.size().to_string(), *v, "{ctx} size");
        }
        if let Some(v) = f.get("vlen") {
            assert_eq!(t.vlen().to_string(), *v, "{ctx} vlen");
        }
        if let Some(v) = f.get("type_id").or(f.get("ret_type_id")) {
            let want = if t.kind == Kind::Array {
                t.array().expect("array").elem
            } else {
                t.ref_type()
            };
            assert_eq!(want.to_string(), *v, "{ctx} type");
        }
        if let Some(v) = f.get("linkage") {
            let mine = match t.linkage() {
                crib_btf::btf::Linkage::Static => "static",
                crib_btf::btf::Linkage::Global => "global",
                crib_btf::btf::Linkage::Extern => "extern",
                crib_btf::btf::Linkage::Other(_) => "other",
            };
            assert_eq!(mine, *v, "{ctx} linkage");
        }
        if let Some(v) = f.get("nr_elems") {
            assert_eq!(t.array().expect("array").nelems.to_string(), *v, "{ctx}");
        }
        if let Some(v) = f.get("nr_bits") {
            assert_eq!(t.int().expect("int").bits.to_string(), *v, "{ctx}");
        }
        if let Some(v) = f.get("component_idx") {
            let tag = btf
                .decl_tags()
                .iter()
                .find(|(tid, _, _)| *tid == id)
                .expect("indexed tag");
            assert_eq!(tag.2.to_string(), *v, "{ctx}");
        }
        // Member / parameter / enumerator lines follow, indented.
        let mut sub = Vec::new();
        while let Some(l) = lines.peek() {
            if !l.starts_with('\t') {
                break;
            }
            sub.push(lines.next().unwrap_or_default());
        }
        match t.kind {
            Kind::Struct | Kind::Union => {
                let ms = t.members().expect("members");
                assert_eq!(ms.len(), sub.len(), "{ctx} members");
                for (m, l) in ms.iter().zip(&sub) {
                    let (n, rest) = quoted(l);
                    let f = fields(rest);
                    assert_eq!(m.name, n, "{ctx}");
                    assert_eq!(
                        Some(&m.type_id.to_string().as_str()),
                        f.get("type_id"),
                        "{ctx} {n}"
                    );
                    assert_eq!(
                        Some(&m.bit_offset.to_string().as_str()),
                        f.get("bits_offset"),
                        "{ctx} {n}"
                    );
                    assert_eq!(
                        m.bitfield.map(|b| b.to_string()).as_deref(),
                        f.get("bitfield_size").copied(),
                        "{ctx} {n}"
                    );
                }
            }
            Kind::FuncProto => {
                let ps = t.params().expect("params");
                assert_eq!(ps.len(), sub.len(), "{ctx} params");
                for (p, l) in ps.iter().zip(&sub) {
                    let (n, rest) = quoted(l);
                    assert_eq!(p.name, n, "{ctx}");
                    assert_eq!(
                        Some(&p.type_id.to_string().as_str()),
                        fields(rest).get("type_id"),
                        "{ctx}"
                    );
                }
            }
            Kind::Enum | Kind::Enum64 => {
                let es = t.enumerators().expect("enumerators");
                assert_eq!(es.len(), sub.len(), "{ctx} values");
                for (e, l) in es.iter().zip(&sub) {
                    let (n, rest) = quoted(l);
                    assert_eq!(e.name, n, "{ctx}");
                    // bpftool spells 64-bit values with C suffixes (1ULL, -1LL).
                    let v = fields(rest)
                        .get("val")
                        .map(|v| v.trim_end_matches(['U', 'L']));
                    assert_eq!(Some(e.value.to_string().as_str()), v, "{ctx} {n}");
                }
            }
            Kind::Datasec => {
                let vs = t.sec_vars().expect("vars");
                assert_eq!(vs.len(), sub.len(), "{ctx} vars");
                for (v, l) in vs.iter().zip(&sub) {
                    let f = fields(l);
                    assert_eq!(
                        Some(&v.type_id.to_string().as_str()),
                        f.get("type_id"),
                        "{ctx}"
                    );
                    assert_eq!(
                        Some(&v.offset.to_string().as_str()),
                        f.get("offset"),
                        "{ctx}"
                    );
                }
            }
            _ => {}
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        btf.type_count(),
        "{label}: bpftool listed another number of types"
    );
}

#[test]
fn reader_agrees_with_bpftool_on_the_corpus() {
    for k in common::corpus() {
        check_kernel(&k.btf, &k.label);
    }
}
