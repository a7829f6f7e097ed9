//! kfunc specs: the single source of truth for CRIB kfuncs and `__sz`
//! versioned structs. [`model`] holds the data; [`load_dir`] turns
//! `kfunc-specs/*.toml` into it (validating every rule of
//! `kfunc-specs/README.md`), and the generators turn it into C.

pub mod cdecl;
pub mod drift;
pub mod error;
pub mod gen;
mod load;
pub mod model;
mod raw;
mod spans;
mod validate;

pub use error::{Diagnostic, SpecError};
pub use load::{load_dir, load_file, parse_file, series_path};
pub use model::*;
pub use validate::validate;
