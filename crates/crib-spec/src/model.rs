//! The in-memory form of a spec set. Everything else (the loader, the
//! generators, the BTF checker) speaks these types.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Where an item was declared, for `file:line` diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Loc {
    pub file: PathBuf,
    pub line: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// All families of one spec directory.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SpecSet {
    pub families: Vec<Family>,
}

impl SpecSet {
    pub fn kfuncs(&self) -> impl Iterator<Item = &Kfunc> {
        self.families.iter().flat_map(|f| f.kfuncs.iter())
    }
    pub fn structs(&self) -> impl Iterator<Item = &VersionedStruct> {
        self.families.iter().flat_map(|f| f.structs.iter())
    }
    pub fn opaques(&self) -> impl Iterator<Item = &OpaqueStruct> {
        self.families.iter().flat_map(|f| f.opaques.iter())
    }
    pub fn consts(&self) -> impl Iterator<Item = &Constant> {
        self.families.iter().flat_map(|f| f.consts.iter())
    }
    pub fn kfunc(&self, name: &str) -> Option<&Kfunc> {
        self.kfuncs().find(|k| k.name == name)
    }
    pub fn versioned_struct(&self, name: &str) -> Option<&VersionedStruct> {
        self.structs().find(|s| s.name == name)
    }
    pub fn opaque(&self, name: &str) -> Option<&OpaqueStruct> {
        self.opaques().find(|o| o.name == name)
    }
}

/// One spec file: a family of related kfuncs and the types they use.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Family {
    /// Family name (`task`, `file`, ...), equal to the file stem.
    pub name: String,
    pub doc: String,
    pub loc: Loc,
    /// Kernel structs (`task_struct`, `file`, ...) the family's kfuncs may
    /// point to; anything else named `struct X` must be spec'd here.
    pub kernel_types: Vec<String>,
    pub kfuncs: Vec<Kfunc>,
    pub structs: Vec<VersionedStruct>,
    pub opaques: Vec<OpaqueStruct>,
    pub consts: Vec<Constant>,
}

/// Who provides a kfunc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Added by our patch series (`patch` is the series file name).
    /// `upstream_since` is set when mainline later gained the same kfunc.
    Crib {
        patch: String,
        upstream_since: Option<String>,
    },
    /// Provided by mainline since the given version; our programs call it.
    Upstream { since: String },
}

impl Origin {
    pub fn is_crib(&self) -> bool {
        matches!(self, Origin::Crib { .. })
    }
}

/// The `KF_*` flags of `include/linux/btf.h` that specs may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum KfFlag {
    Acquire,
    Release,
    RetNull,
    TrustedArgs,
    Sleepable,
    Destructive,
    Rcu,
    RcuProtected,
    IterNew,
    IterNext,
    IterDestroy,
}

impl KfFlag {
    pub const ALL: [KfFlag; 11] = [
        KfFlag::Acquire,
        KfFlag::Release,
        KfFlag::RetNull,
        KfFlag::TrustedArgs,
        KfFlag::Sleepable,
        KfFlag::Destructive,
        KfFlag::Rcu,
        KfFlag::RcuProtected,
        KfFlag::IterNew,
        KfFlag::IterNext,
        KfFlag::IterDestroy,
    ];

    /// The kernel macro name, e.g. `KF_ACQUIRE`.
    pub fn c_name(self) -> &'static str {
        match self {
            KfFlag::Acquire => "KF_ACQUIRE",
            KfFlag::Release => "KF_RELEASE",
            KfFlag::RetNull => "KF_RET_NULL",
            KfFlag::TrustedArgs => "KF_TRUSTED_ARGS",
            KfFlag::Sleepable => "KF_SLEEPABLE",
            KfFlag::Destructive => "KF_DESTRUCTIVE",
            KfFlag::Rcu => "KF_RCU",
            KfFlag::RcuProtected => "KF_RCU_PROTECTED",
            KfFlag::IterNew => "KF_ITER_NEW",
            KfFlag::IterNext => "KF_ITER_NEXT",
            KfFlag::IterDestroy => "KF_ITER_DESTROY",
        }
    }

    pub fn from_c_name(s: &str) -> Option<KfFlag> {
        KfFlag::ALL.into_iter().find(|f| f.c_name() == s)
    }
}

/// BPF program types a kfunc set is registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgType {
    /// `BPF_PROG_TYPE_CRIB` (our series).
    Crib,
    /// `BPF_PROG_TYPE_SYSCALL`.
    Syscall,
    /// `BPF_PROG_TYPE_TRACING` (iterators, fentry...).
    Tracing,
    /// `BPF_PROG_TYPE_LSM`.
    Lsm,
    /// Every program type (upstream's common set).
    Any,
}

impl ProgType {
    pub fn spec_name(self) -> &'static str {
        match self {
            ProgType::Crib => "crib",
            ProgType::Syscall => "syscall",
            ProgType::Tracing => "tracing",
            ProgType::Lsm => "lsm",
            ProgType::Any => "any",
        }
    }
    pub fn from_spec_name(s: &str) -> Option<ProgType> {
        [
            ProgType::Crib,
            ProgType::Syscall,
            ProgType::Tracing,
            ProgType::Lsm,
            ProgType::Any,
        ]
        .into_iter()
        .find(|p| p.spec_name() == s)
    }
}

/// A C type as written in a spec (`struct task_struct *`, `__u32`,
/// `const void *`, `__u8[16]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CType {
    Void,
    Bool,
    /// A fixed-size integer; `name` is the spelling used in the spec
    /// (`__u32`, `s32`, `int`, ...) and is kept for generated C.
    Int {
        name: String,
        bytes: u8,
        signed: bool,
    },
    /// `struct NAME` (by value; only valid as a pointee or array element).
    Struct {
        name: String,
    },
    Ptr {
        is_const: bool,
        pointee: Box<CType>,
    },
    Array {
        elem: Box<CType>,
        len: u32,
    },
}

impl CType {
    /// Size in bytes on x86_64/BPF, when known without kernel BTF
    /// (`Struct` and `Void` have none here).
    pub fn size(&self) -> Option<u32> {
        match self {
            CType::Void | CType::Struct { .. } => None,
            CType::Bool => Some(1),
            CType::Int { bytes, .. } => Some(u32::from(*bytes)),
            CType::Ptr { .. } => Some(8),
            CType::Array { elem, len } => elem.size().map(|s| s * len),
        }
    }

    /// Natural alignment, as the C ABI lays the type out.
    pub fn align(&self) -> Option<u32> {
        match self {
            CType::Array { elem, .. } => elem.align(),
            other => other.size(),
        }
    }

    pub fn is_pointer(&self) -> bool {
        matches!(self, CType::Ptr { .. })
    }

    /// The struct a pointer points to, if any (`struct file *` -> `file`).
    pub fn pointee_struct(&self) -> Option<&str> {
        match self {
            CType::Ptr { pointee, .. } => match pointee.as_ref() {
                CType::Struct { name } => Some(name),
                _ => None,
            },
            _ => None,
        }
    }

    /// Render as a C declaration of `name` (handles arrays).
    pub fn c_decl(&self, name: &str) -> String {
        match self {
            CType::Array { elem, len } => format!("{}[{len}]", elem.c_decl(name)),
            _ if name.is_empty() => self.to_string(),
            CType::Ptr { .. } => format!("{self}{name}"),
            _ => format!("{self} {name}"),
        }
    }
}

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CType::Void => write!(f, "void"),
            CType::Bool => write!(f, "bool"),
            CType::Int { name, .. } => write!(f, "{name}"),
            CType::Struct { name } => write!(f, "struct {name}"),
            // `const T *` for a const pointee, `T * const *` when the
            // pointee is itself a const pointer (C's placement rules).
            CType::Ptr { is_const, pointee } if pointee.is_pointer() => {
                write!(f, "{pointee}")?;
                if *is_const {
                    write!(f, " const")?;
                }
                write!(f, " *")
            }
            CType::Ptr { is_const, pointee } => {
                if *is_const {
                    write!(f, "const ")?;
                }
                write!(f, "{pointee} *")
            }
            CType::Array { elem, len } => write!(f, "{elem}[{len}]"),
        }
    }
}

/// One kfunc argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    pub name: String,
    pub ty: CType,
}

impl Arg {
    /// `__sz` args give the byte size of the pointer argument before them.
    pub fn is_size_arg(&self) -> bool {
        self.name.ends_with("__sz")
    }
}

/// A kfunc prototype with its registration facts.
#[derive(Debug, Clone, Serialize)]
pub struct Kfunc {
    pub name: String,
    pub ret: CType,
    pub args: Vec<Arg>,
    pub flags: Vec<KfFlag>,
    pub prog_types: Vec<ProgType>,
    pub origin: Origin,
    /// Whether `crib compat` counts a missing or incompatible kfunc as a
    /// failure (exit 1) or only reports it.
    pub required: bool,
    pub doc: String,
    pub loc: Loc,
}

impl Kfunc {
    pub fn has(&self, flag: KfFlag) -> bool {
        self.flags.contains(&flag)
    }
}

/// A field of a versioned struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: String,
    pub ty: CType,
    /// The struct version that introduced the field (1-based).
    pub since: u32,
    pub doc: String,
    pub loc: Loc,
}

/// A layout of one version of a struct, derived from the field list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldLayout {
    pub name: String,
    pub offset: u32,
    pub size: u32,
}

/// An `__sz`-versioned, append-only struct passed to kfuncs.
#[derive(Debug, Clone, Serialize)]
pub struct VersionedStruct {
    pub name: String,
    pub doc: String,
    /// The first field; holds `sizeof` the caller's version.
    pub size_member: String,
    /// Optional explicit version field.
    pub version_member: Option<String>,
    pub fields: Vec<Field>,
    pub loc: Loc,
}

impl VersionedStruct {
    /// The newest version (the largest `since`).
    pub fn latest_version(&self) -> u32 {
        self.fields.iter().map(|f| f.since).max().unwrap_or(0)
    }

    /// Fields present in version `v` (all with `since <= v`), in order.
    pub fn fields_in(&self, v: u32) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(move |f| f.since <= v)
    }

    /// Field offsets of version `v` with C layout rules; `None` when a
    /// field's size is unknown (a validated spec has none such).
    pub fn layout(&self, v: u32) -> Option<Vec<FieldLayout>> {
        let mut off = 0u32;
        let mut out = Vec::new();
        for f in self.fields_in(v) {
            let size = f.ty.size()?;
            let align = f.ty.align()?.max(1);
            off = off.div_ceil(align) * align;
            out.push(FieldLayout {
                name: f.name.clone(),
                offset: off,
                size,
            });
            off += size;
        }
        Some(out)
    }

    /// `sizeof(struct)` for version `v`, including tail padding to the
    /// struct's alignment.
    pub fn size_of_version(&self, v: u32) -> Option<u32> {
        let layout = self.layout(v)?;
        let end = layout.last().map(|l| l.offset + l.size).unwrap_or(0);
        let align = self
            .fields_in(v)
            .map(|f| f.ty.align().unwrap_or(1))
            .max()
            .unwrap_or(1);
        Some(end.div_ceil(align) * align)
    }
}

/// An opaque struct whose layout only the kernel knows (iterator state).
#[derive(Debug, Clone, Serialize)]
pub struct OpaqueStruct {
    pub name: String,
    /// Size in 8-byte words (`__u64 __opaque[words]`).
    pub words: u32,
    /// Provided by mainline (e.g. `bpf_iter_task_vma`): vmlinux.h has it,
    /// so generators must not define it. Spec key `origin = "upstream"`.
    pub upstream: bool,
    pub doc: String,
    pub loc: Loc,
}

/// A named integer constant shared by BPF programs and the kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Constant {
    pub name: String,
    pub value: i64,
    pub doc: String,
    pub loc: Loc,
}
