//! `.BTF.ext` CO-RE relocation records (`struct bpf_core_relo`), parsed by
//! hand: the only maintained crate that does it (aya-obj) needs a newer
//! rustc than ours in its current release.

use crate::btf::Btf;

/// `enum bpf_core_relo_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReloKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLshiftU64,
    FieldRshiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl ReloKind {
    pub fn from_raw(v: u32) -> Option<ReloKind> {
        use ReloKind::*;
        [
            FieldByteOffset,
            FieldByteSize,
            FieldExists,
            FieldSigned,
            FieldLshiftU64,
            FieldRshiftU64,
            TypeIdLocal,
            TypeIdTarget,
            TypeExists,
            TypeSize,
            EnumvalExists,
            EnumvalValue,
            TypeMatches,
        ]
        .get(v as usize)
        .copied()
    }
    pub fn is_field(self) -> bool {
        (self as u32) <= ReloKind::FieldRshiftU64 as u32
    }
    pub fn is_enumval(self) -> bool {
        matches!(self, ReloKind::EnumvalExists | ReloKind::EnumvalValue)
    }
    /// Kinds whose answer may legitimately be "no" (0) without poisoning.
    pub fn is_existence(self) -> bool {
        matches!(
            self,
            ReloKind::FieldExists
                | ReloKind::TypeExists
                | ReloKind::EnumvalExists
                | ReloKind::TypeMatches
        )
    }
    pub fn name(self) -> &'static str {
        use ReloKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLshiftU64 => "lshift_u64",
            FieldRshiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }
}

/// Serialized as [`ReloKind::name`] (libbpf's own short names).
impl serde::Serialize for ReloKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One CO-RE relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    pub section: String,
    pub insn_off: u32,
    pub type_id: u32,
    /// Access string indices (`0:1:2` -> `[0, 1, 2]`).
    pub access: Vec<u32>,
    pub kind: ReloKind,
}

fn u32_at(d: &[u8], at: usize) -> Result<u32, String> {
    d.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| format!("truncated at offset {at}"))
}

/// Parse the CO-RE relocations of a `.BTF.ext` section; strings resolve
/// in the object's `.BTF`.
pub fn core_relos(ext: &[u8], btf: &Btf) -> Result<Vec<CoreRelo>, String> {
    if ext.len() < 8 || u16::from_le_bytes([ext[0], ext[1]]) != 0xeb9f {
        return Err("wrong magic or truncated header".into());
    }
    let hdr_len = u32_at(ext, 4)? as usize;
    // Old headers (24 bytes) have no core_relo section.
    if hdr_len < 32 {
        return Ok(Vec::new());
    }
    let off = u32_at(ext, 24)? as usize;
    let len = u32_at(ext, 28)? as usize;
    let start = hdr_len
        .checked_add(off)
        .ok_or("core_relo offset overflows")?;
    let sec = start
        .checked_add(len)
        .and_then(|end| ext.get(start..end))
        .ok_or("core_relo section is outside the file")?;
    if sec.is_empty() {
        return Ok(Vec::new());
    }
    let rec_size = u32_at(sec, 0)? as usize;
    if rec_size < 16 {
        return Err(format!("core_relo record size {rec_size} < 16"));
    }
    let mut out = Vec::new();
    let mut at = 4;
    while at < sec.len() {
        let sec_name_off = u32_at(sec, at)?;
        let num = u32_at(sec, at + 4)? as usize;
        at += 8;
        let section = btf
            .str_at(sec_name_off)
            .map_err(|e| format!("section name: {e}"))?
            .to_string();
        for _ in 0..num {
            let rec = sec
                .get(at..at + rec_size)
                .ok_or_else(|| format!("truncated record at offset {at}"))?;
            let kind_raw = u32_at(rec, 12)?;
            let kind = ReloKind::from_raw(kind_raw)
                .ok_or_else(|| format!("unknown relocation kind {kind_raw}"))?;
            let access_str = btf
                .str_at(u32_at(rec, 8)?)
                .map_err(|e| format!("access string: {e}"))?;
            let access = access_str
                .split(':')
                .map(|s| s.parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("bad access string `{access_str}`"))?;
            out.push(CoreRelo {
                section: section.clone(),
                insn_off: u32_at(rec, 0)?,
                type_id: u32_at(rec, 4)?,
                access,
                kind,
            });
            at += rec_size;
        }
    }
    Ok(out)
}
