//! Integration and ZDTM-style checkpoint/restore tests.
//!
//! - [`zdtm`]: the runner for the C tests in `tests/zdtm/` (build, start,
//!   dump, kill, restore into the verify phase, report);
//! - [`mixer`]: a target process holding a generated mix of files, pipes,
//!   sockets and mappings, for differential engine tests.

pub mod mixer;
pub mod zdtm;
