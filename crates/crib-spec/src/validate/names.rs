//! Names: valid C identifiers, and unique across every family (kfuncs,
//! versioned structs, opaques, constants share one namespace so generated
//! C can never clash).

use super::Ctx;
use crate::model::Loc;
use std::collections::HashMap;

pub(crate) fn is_ident(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub(super) fn check(cx: &mut Ctx<'_>) {
    let set = cx.set;
    let mut seen: HashMap<&str, (&'static str, &Loc)> = HashMap::new();
    let mut items: Vec<(&str, &'static str, &Loc)> = Vec::new();
    for f in &set.families {
        items.extend(f.kfuncs.iter().map(|k| (k.name.as_str(), "kfunc", &k.loc)));
        items.extend(
            f.structs
                .iter()
                .map(|s| (s.name.as_str(), "struct", &s.loc)),
        );
        items.extend(
            f.opaques
                .iter()
                .map(|o| (o.name.as_str(), "opaque", &o.loc)),
        );
        items.extend(f.consts.iter().map(|c| (c.name.as_str(), "const", &c.loc)));
    }
    for (name, kind, loc) in items {
        if !is_ident(name) {
            cx.err(loc, format!("{kind} name `{name}` is not a C identifier"));
            continue;
        }
        match seen.get(name) {
            Some((k0, l0)) => cx.err(
                loc,
                format!("duplicate name `{name}` ({kind}); first declared as {k0} at {l0}"),
            ),
            None => {
                seen.insert(name, (kind, loc));
            }
        }
    }
    for (fi, f) in set.families.iter().enumerate() {
        let mut mine: HashMap<&str, ()> = HashMap::new();
        for kt in &f.kernel_types {
            let loc = cx.spans.kernel_type(fi, kt, &f.loc);
            if !is_ident(kt) {
                cx.err(
                    &loc,
                    format!("kernel type `{kt}` is not a C identifier (write the struct tag only)"),
                );
            } else if mine.insert(kt, ()).is_some() {
                cx.err(&loc, format!("kernel type `{kt}` listed twice"));
            } else if let Some((kind, l0)) = seen.get(kt.as_str()) {
                if matches!(*kind, "struct" | "opaque") {
                    cx.err(
                        &loc,
                        format!("kernel type `{kt}` is also spec'd as {kind} at {l0}"),
                    );
                }
            }
        }
        for s in &f.structs {
            let mut fields: HashMap<&str, &Loc> = HashMap::new();
            for fld in &s.fields {
                if let Some(l0) = fields.insert(&fld.name, &fld.loc) {
                    let msg = format!(
                        "duplicate field `{}` in struct {} (first at {l0})",
                        fld.name, s.name
                    );
                    cx.err(&fld.loc, msg);
                }
            }
        }
        for c in &f.consts {
            if i32::try_from(c.value).is_err() {
                cx.err(
                    &c.loc,
                    format!("const {} = {} does not fit a C enum (int)", c.name, c.value),
                );
            }
        }
    }
}
