//! Kernel BTF loading and the kfunc/struct compatibility checker behind
//! `crib compat`.
//!
//! - [`load()`] reads BTF from raw/compressed BTF files, ELF files with a
//!   `.BTF` section and compressed kernel images; [`btf::Btf`] is a
//!   lazily decoded, name-indexed view of it.
//! - [`compat::check`] compares a kfunc spec set with kernels.
//! - [`object`] lists what a compiled BPF object needs (kfuncs, CO-RE
//!   relocations) and resolves it per kernel.
//! - [`report`] renders a [`compat::Report`] as a table, JSON or Markdown.
//! - [`builder`] writes BTF, for tests and fixtures.

pub mod btf;
pub mod builder;
pub mod compat;
pub mod decompress;
pub mod error;
pub mod kfunc_sets;
pub mod load;
pub mod object;
pub mod report;
pub mod types;

pub use btf::{Btf, Kind, Type};
pub use compat::{check, Kernel, Options, Report, Verdict};
pub use error::{BtfError, LoadError, LoadProblem};
pub use load::{from_bytes, load, load_kernel, Loaded, SYS_VMLINUX};
pub use types::Mode;
