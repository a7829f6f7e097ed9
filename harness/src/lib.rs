//! The CRIB checkpoint/restore engine: engines, image files, restore.
//!
//! - [`model`]: the records every engine produces;
//! - [`engine`]: the [`engine::DumpEngine`] trait, the engines and per-operation selection;
//! - [`diff`]: comparing two engines' dumps.

pub mod diff;
pub mod dump;
pub mod engine;
pub mod hexbytes;
pub mod image;
pub mod model;
pub mod pathstr;
pub mod restore;
pub mod serve;
pub mod show;
pub mod sys;
