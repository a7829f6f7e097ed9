//! Loader errors. Every problem in a spec is a [`Diagnostic`] printed as
//! `file:line: message`; the loader reports all of them at once.

use crate::model::Loc;
use std::fmt;
use std::path::PathBuf;

/// One problem at one place in a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub loc: Loc,
    pub message: String,
}

impl Diagnostic {
    pub fn new(loc: &Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            loc: loc.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)
    }
}

/// Why a spec directory or file did not load.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no *.toml spec files", dir.display())]
    Empty { dir: PathBuf },
    /// Syntax or validation problems, one `file:line: message` per line.
    #[error("{}", join(diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

impl SpecError {
    /// The individual problems (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid { diagnostics } => diagnostics,
            _ => &[],
        }
    }
}

fn join(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
