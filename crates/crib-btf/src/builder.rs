//! A small BTF writer: builds raw BTF in memory, for tests, fixtures and
//! property tests (struct evolutions, kfunc prototypes).

use crib_spec::CType;
use std::collections::HashMap;

/// Appends types; [`BtfBuilder::build`] returns raw BTF bytes.
#[derive(Debug, Clone)]
pub struct BtfBuilder {
    types: Vec<u8>,
    strs: Vec<u8>,
    str_index: HashMap<String, u32>,
    count: u32,
    spec_types: HashMap<CType, u32>,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// BTF kind numbers.
mod k {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const CONST: u32 = 10;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const DECL_TAG: u32 = 17;
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strs: vec![0],
            str_index: HashMap::new(),
            count: 0,
            spec_types: HashMap::new(),
        }
    }

    /// Offset of `s` in the string section (added once).
    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&off) = self.str_index.get(s) {
            return off;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        self.str_index.insert(s.to_string(), off);
        off
    }

    /// Append a raw type record; returns its id.
    pub fn raw(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kind_flag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name_off = self.str(name);
        let info = (u32::from(kind_flag) << 31) | (kind << 24) | (vlen & 0xffff);
        for w in [name_off, info, size_or_type].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.count += 1;
        self.count
    }

    pub fn int(&mut self, name: &str, bytes: u32, signed: bool) -> u32 {
        let enc = u32::from(signed);
        self.raw(name, k::INT, 0, false, bytes, &[(enc << 24) | (bytes * 8)])
    }
    pub fn bool_type(&mut self) -> u32 {
        self.raw("_Bool", k::INT, 0, false, 1, &[(4 << 24) | 8])
    }
    pub fn ptr(&mut self, target: u32) -> u32 {
        self.raw("", k::PTR, 0, false, target, &[])
    }
    pub fn const_of(&mut self, target: u32) -> u32 {
        self.raw("", k::CONST, 0, false, target, &[])
    }
    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.raw(name, k::TYPEDEF, 0, false, target, &[])
    }
    pub fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        self.raw("", k::ARRAY, 0, false, 0, &[elem, index, nelems])
    }
    pub fn fwd(&mut self, name: &str) -> u32 {
        self.raw(name, k::FWD, 0, false, 0, &[])
    }
    /// A struct; members are (name, type id, byte offset).
    pub fn struct_type(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(k::STRUCT, name, size, members)
    }
    pub fn union_type(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        self.composite(k::UNION, name, size, members)
    }
    fn composite(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let mut extra = Vec::new();
        for (n, t, off) in members {
            extra.extend([self.str(n), *t, off * 8]);
        }
        self.raw(name, kind, members.len() as u32, false, size, &extra)
    }
    pub fn enum_type(&mut self, name: &str, values: &[(&str, i32)]) -> u32 {
        let mut extra = Vec::new();
        for (n, v) in values {
            extra.extend([self.str(n), *v as u32]);
        }
        self.raw(name, k::ENUM, values.len() as u32, false, 4, &extra)
    }
    /// A FUNC_PROTO; params are (name, type id).
    pub fn func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for (n, t) in params {
            extra.extend([self.str(n), *t]);
        }
        self.raw("", k::FUNC_PROTO, params.len() as u32, false, ret, &extra)
    }
    /// A global FUNC.
    pub fn func(&mut self, name: &str, proto: u32) -> u32 {
        self.raw(name, k::FUNC, 1, false, proto, &[])
    }
    pub fn decl_tag(&mut self, name: &str, target: u32, component: i32) -> u32 {
        self.raw(name, k::DECL_TAG, 0, false, target, &[component as u32])
    }

    /// The BTF of a spec type (ints named as in the spec, structs as empty
    /// structs of that name), added once.
    pub fn spec_type(&mut self, ct: &CType) -> u32 {
        if let Some(&id) = self.spec_types.get(ct) {
            return id;
        }
        let id = match ct {
            CType::Void => 0,
            CType::Bool => self.bool_type(),
            CType::Int {
                name,
                bytes,
                signed,
            } => {
                let base = self.int(
                    &format!("__int{bytes}{}", if *signed { "s" } else { "u" }),
                    u32::from(*bytes),
                    *signed,
                );
                self.typedef(name, base)
            }
            CType::Struct { name } => self.struct_type(name, 0, &[]),
            CType::Ptr { is_const, pointee } => {
                let mut t = self.spec_type(pointee);
                if *is_const {
                    t = self.const_of(t);
                }
                self.ptr(t)
            }
            CType::Array { elem, len } => {
                let e = self.spec_type(elem);
                let idx = self.int("__array_index", 4, false);
                self.array(e, idx, *len)
            }
        };
        self.spec_types.insert(ct.clone(), id);
        id
    }

    /// Raw BTF bytes: header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.types.len() + self.strs.len());
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strs.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strs);
        out
    }
}
