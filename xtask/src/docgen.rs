//! Generated parts of the docs: tools write their figures between two
//! marker lines of a Markdown file, so the prose around them is kept and
//! the numbers are never typed in by hand.

use anyhow::{anyhow, Result};

/// Replace what lies between `begin` and `end` in `doc` (markers kept).
pub fn splice(doc: &str, begin: &str, end: &str, generated: &str, name: &str) -> Result<String> {
    let missing = || anyhow!("{name}: no `{begin}` line followed by an `{end}` line");
    let b = doc.find(begin).ok_or_else(missing)?;
    let after_b = b + begin.len();
    let e = doc[after_b..]
        .find(end)
        .map(|i| i + after_b)
        .ok_or_else(missing)?;
    Ok(format!(
        "{}\n{}\n{}",
        &doc[..after_b],
        generated.trim_end(),
        &doc[e..]
    ))
}

/// Splice `generated` into the file at `path` (relative to the workspace).
pub fn write_section(path: &str, begin: &str, end: &str, generated: &str) -> Result<()> {
    let p = crate::workspace_root().join(path);
    let doc = std::fs::read_to_string(&p).map_err(|e| anyhow!("reading {}: {e}", p.display()))?;
    let new = splice(&doc, begin, end, generated, path)?;
    std::fs::write(&p, new).map_err(|e| anyhow!("writing {}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn splice_keeps_the_prose_and_the_markers() {
        let doc = "a\n<!-- b -->\nold\n<!-- e -->\nz\n";
        let out = splice(doc, "<!-- b -->", "<!-- e -->", "new\n", "d.md").expect("splice");
        assert_eq!(out, "a\n<!-- b -->\nnew\n<!-- e -->\nz\n");
        assert!(splice("no markers", "<!-- b -->", "<!-- e -->", "x", "d.md").is_err());
    }
}
