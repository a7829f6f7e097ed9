//! kfunc specs: the single source of truth for CRIB kfuncs and `__sz`
//! versioned structs. [`model`] holds the data; the loader turns
//! `kfunc-specs/*.toml` into it and the generators turn it into C.

pub mod model;

pub use model::*;
