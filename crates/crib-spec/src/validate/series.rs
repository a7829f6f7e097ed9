//! Every crib kfunc's `patch` must be listed in `kernel-patches/series`
//! (when that file exists; see `load::series_path`).

use super::Ctx;
use crate::model::Origin;
use std::path::Path;

/// Patch names of a quilt-style series file (comments and blanks skipped).
pub(crate) fn series_entries(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or(l))
        .collect()
}

pub(super) fn check(cx: &mut Ctx<'_>, path: &Path, text: &str) {
    let entries = series_entries(text);
    let set = cx.set;
    for (fi, fam) in set.families.iter().enumerate() {
        for (ki, k) in fam.kfuncs.iter().enumerate() {
            if let Origin::Crib { patch, .. } = &k.origin {
                if !entries.contains(&patch.as_str()) {
                    let loc = cx.spans.kfunc_patch((fi, ki), &k.loc);
                    cx.err(
                        &loc,
                        format!(
                            "{}: patch `{patch}` is not listed in {}",
                            k.name,
                            path.display()
                        ),
                    );
                }
            }
        }
    }
}
