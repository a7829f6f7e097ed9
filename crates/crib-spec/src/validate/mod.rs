//! Rules across items, run after every file parsed. Each rule family is
//! one module; all of them push `file:line` diagnostics into a [`Ctx`].

mod iters;
mod kfuncs;
mod names;
mod series;
mod structs;
mod types;

use crate::error::{Diagnostic, SpecError};
use crate::model::{Loc, SpecSet};
use crate::spans::SpanTable;
use std::path::{Path, PathBuf};

pub(crate) struct Ctx<'a> {
    pub set: &'a SpecSet,
    pub spans: &'a SpanTable,
    pub diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub fn err(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(loc, msg));
    }
}

/// Run every rule. `series` is the series file's path and text, when it
/// exists.
pub(crate) fn run(
    set: &SpecSet,
    spans: &SpanTable,
    series: Option<&(PathBuf, String)>,
) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        set,
        spans,
        diags: Vec::new(),
    };
    names::check(&mut cx);
    types::check(&mut cx);
    kfuncs::check(&mut cx);
    iters::check(&mut cx);
    structs::check(&mut cx);
    if let Some((path, text)) = series {
        series::check(&mut cx, path, text);
    }
    cx.diags
}

/// Validate a spec set built in code (no per-argument lines: diagnostics
/// point at each item's own line). `series`: the patch series file, if the
/// crib kfuncs' `patch` names must be checked against it.
pub fn validate(set: &SpecSet, series: Option<&Path>) -> Result<(), SpecError> {
    let series_text = match series {
        Some(p) => Some((
            p.to_path_buf(),
            std::fs::read_to_string(p).map_err(|source| SpecError::Io {
                path: p.to_path_buf(),
                source,
            })?,
        )),
        None => None,
    };
    let diagnostics = run(set, &SpanTable::default(), series_text.as_ref());
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(SpecError::Invalid { diagnostics })
    }
}
