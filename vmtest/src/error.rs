//! The one error type of the crate: every variant names the file or the
//! program involved, so a caller can print it as a single line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kernel image {0}: no such file")]
    KernelMissing(PathBuf),
    // The io::Error is part of the message, not a `source`: callers print
    // error chains, and the cause would show twice.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("running {program}: {err}")]
    Spawn {
        program: String,
        err: std::io::Error,
    },
    #[error("{program} failed: {detail}")]
    Tool { program: String, detail: String },
    #[error("{path}: {detail}")]
    BadFile { path: PathBuf, detail: String },
    #[error("{0}")]
    Invalid(String),
    #[error("kernel {kernel}: {detail}")]
    Kernel { kernel: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an io::Error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |err| Error::Io { path, err }
}
