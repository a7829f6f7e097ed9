//! Field-by-field comparison of two dumps from different engines.
//!
//! Both dumps are normalized and turned into JSON values; a field that one
//! side could not see (`null` = option not read, `{"unavailable": ..}`) is a
//! wildcard, everything else must be equal. The result names each differing
//! field by path, e.g. `sockets[2].tcp.write_seq: 17 != 18`.

use crate::model::Dump;
use serde_json::Value;

/// Differences between `a` and `b` (empty = equal where both could see).
/// `DumpInfo` (which engine ran, notes) is not compared.
pub fn diff_dumps(a: &Dump, b: &Dump) -> Vec<String> {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.normalize();
    b.normalize();
    a.info = Default::default();
    b.info = Default::default();
    let (va, vb) = match (serde_json::to_value(&a), serde_json::to_value(&b)) {
        (Ok(va), Ok(vb)) => (va, vb),
        (Err(e), _) | (_, Err(e)) => return vec![format!("cannot serialize dump: {e}")],
    };
    let mut out = Vec::new();
    walk("", &va, &vb, &mut out);
    out
}

fn is_wildcard(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.len() == 1 && m.contains_key("unavailable"),
        _ => false,
    }
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if is_wildcard(a) || is_wildcard(b) {
        return;
    }
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match mb.get(k) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(format!("{p}: only in the first dump")),
                }
            }
            for k in mb.keys().filter(|k| !ma.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in the second dump"));
            }
        }
        (Value::Array(xa), Value::Array(xb)) => match record_key(xa, xb) {
            // Records are matched by identity, so one missing record is one
            // line, not a cascade of shifted comparisons.
            Some(key) => {
                for va in xa {
                    let id = &va[key];
                    let p = format!("{path}[{key}={id}]");
                    match xb.iter().find(|vb| &vb[key] == id) {
                        Some(vb) => walk(&p, va, vb, out),
                        None => out.push(format!("{p}: only in the first dump")),
                    }
                }
                for vb in xb
                    .iter()
                    .filter(|vb| !xa.iter().any(|va| va[key] == vb[key]))
                {
                    out.push(format!(
                        "{path}[{key}={}]: only in the second dump",
                        vb[key]
                    ));
                }
            }
            None => {
                if xa.len() != xb.len() {
                    out.push(format!("{path}: {} items != {} items", xa.len(), xb.len()));
                }
                for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
                    walk(&format!("{path}[{i}]"), va, vb, out);
                }
            }
        },
        _ if a != b => out.push(format!("{path}: {} != {}", short(a), short(b))),
        _ => {}
    }
}

/// The identity field of a record array (`fd` for files, `ino` for sockets
/// and pipes, `start` for mappings), if every element has it.
fn record_key(xa: &[Value], xb: &[Value]) -> Option<&'static str> {
    ["fd", "start", "ino"].into_iter().find(|k| {
        !(xa.is_empty() && xb.is_empty())
            && xa
                .iter()
                .chain(xb)
                .all(|v| v.get(k).is_some_and(|x| !x.is_null()))
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}...", &s[..s.floor_char_boundary_compat(77)])
    } else {
        s
    }
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for String {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}
