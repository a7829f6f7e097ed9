//! Source lines of the parts of items that the model does not keep a
//! [`Loc`] for (each argument, each flag, a struct's size member...), so
//! validation can point at the exact line. Items built in code have no
//! entry; lookups then fall back to the item's own line.

use crate::model::Loc;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub(crate) struct KfuncSpans {
    pub ret: Loc,
    pub args: Vec<Loc>,
    pub origin: Loc,
    pub patch: Option<Loc>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StructSpans {
    pub size_member: Loc,
    pub version_member: Option<Loc>,
    pub fields: Loc,
}

/// Keyed by (family index, item index within the family).
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanTable {
    pub kfuncs: HashMap<(usize, usize), KfuncSpans>,
    pub structs: HashMap<(usize, usize), StructSpans>,
    /// (family index, type name) → line of the `kernel_types` entry.
    pub kernel_types: HashMap<(usize, String), Loc>,
}

impl SpanTable {
    pub fn kfunc_ret(&self, at: (usize, usize), fallback: &Loc) -> Loc {
        self.kfuncs
            .get(&at)
            .map_or_else(|| fallback.clone(), |s| s.ret.clone())
    }
    pub fn kfunc_arg(&self, at: (usize, usize), arg: usize, fallback: &Loc) -> Loc {
        self.kfuncs
            .get(&at)
            .and_then(|s| s.args.get(arg))
            .unwrap_or(fallback)
            .clone()
    }
    pub fn kfunc_patch(&self, at: (usize, usize), fallback: &Loc) -> Loc {
        self.kfuncs
            .get(&at)
            .and_then(|s| s.patch.as_ref().or(Some(&s.origin)))
            .unwrap_or(fallback)
            .clone()
    }
    pub fn struct_size_member(&self, at: (usize, usize), fallback: &Loc) -> Loc {
        self.structs
            .get(&at)
            .map_or_else(|| fallback.clone(), |s| s.size_member.clone())
    }
    pub fn struct_version_member(&self, at: (usize, usize), fallback: &Loc) -> Loc {
        self.structs
            .get(&at)
            .and_then(|s| s.version_member.as_ref())
            .unwrap_or(fallback)
            .clone()
    }
    pub fn struct_fields(&self, at: (usize, usize), fallback: &Loc) -> Loc {
        self.structs
            .get(&at)
            .map_or_else(|| fallback.clone(), |s| s.fields.clone())
    }
    pub fn kernel_type(&self, fam: usize, name: &str, fallback: &Loc) -> Loc {
        self.kernel_types
            .get(&(fam, name.to_string()))
            .unwrap_or(fallback)
            .clone()
    }
}
