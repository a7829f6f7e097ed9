//! The kernel config fragment (`kernel-patches/config`): parsing it and
//! checking that every option survived `olddefconfig`.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One fragment line: `CONFIG_X=value`, or `# CONFIG_X is not set` (value
/// `None`). `CONFIG_X=n` is read as not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: String,
    pub value: Option<String>,
}

pub fn parse(text: &str) -> std::result::Result<Vec<Setting>, String> {
    let mut out = parse_lines(text)?;
    // A repeated option is a mistake even when both lines agree.
    let mut seen = std::collections::BTreeSet::new();
    for (line, s) in std::mem::take(&mut out) {
        if !seen.insert(s.name.clone()) {
            return Err(format!("line {line}: {} is set twice", s.name));
        }
        out.push((line, s));
    }
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

fn parse_lines(text: &str) -> std::result::Result<Vec<(usize, Setting)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                if name.starts_with("CONFIG_") && !name.contains(char::is_whitespace) {
                    out.push((
                        i + 1,
                        Setting {
                            name: name.to_string(),
                            value: None,
                        },
                    ));
                }
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected CONFIG_X=value: {line}", i + 1));
        };
        if !name.starts_with("CONFIG_") || name.contains(char::is_whitespace) || value.is_empty() {
            return Err(format!("line {}: expected CONFIG_X=value: {line}", i + 1));
        }
        out.push((
            i + 1,
            Setting {
                name: name.to_string(),
                value: (value != "n").then(|| value.to_string()),
            },
        ));
    }
    Ok(out)
}

pub fn load(path: &Path) -> Result<Vec<Setting>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The settings of a full `.config` (unset options are absent).
fn dot_config(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

/// Fragment settings `.config` does not honour, as `CONFIG_X=want (got)`.
pub fn missing(fragment: &[Setting], dot_config_text: &str) -> Vec<String> {
    let have = dot_config(dot_config_text);
    fragment
        .iter()
        .filter_map(|s| {
            let got = have.get(s.name.as_str()).copied();
            let ok = match (&s.value, got) {
                (None, None) => true,
                (Some(w), Some(g)) => w == g,
                _ => false,
            };
            (!ok).then(|| {
                format!(
                    "{}={} (got {})",
                    s.name,
                    s.value.as_deref().unwrap_or("n"),
                    got.unwrap_or("not set")
                )
            })
        })
        .collect()
}

/// Fail naming every fragment option that did not survive.
pub fn verify(fragment_path: &Path, dot_config_path: &Path) -> Result<()> {
    let fragment = load(fragment_path)?;
    let text = std::fs::read_to_string(dot_config_path)
        .with_context(|| format!("reading {}", dot_config_path.display()))?;
    let lost = missing(&fragment, &text);
    if !lost.is_empty() {
        bail!(
            "{} option(s) of {} did not survive olddefconfig (missing dependency?): {}",
            lost.len(),
            fragment_path.display(),
            lost.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_unset_and_comments() {
        let s = parse("# c\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=n\nCONFIG_D=-1\n")
            .expect("valid");
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].value, None);
        assert_eq!(s[2].value, None);
        assert_eq!(s[3].value.as_deref(), Some("-1"));
    }

    #[test]
    fn rejects_garbage_with_line_number() {
        let e = parse("CONFIG_A=y\nBPF=y\n").expect_err("invalid");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn rejects_a_repeated_option() {
        let e = parse("CONFIG_A=y\nCONFIG_B=y\nCONFIG_A=y\n").expect_err("repeated");
        assert_eq!(e, "line 3: CONFIG_A is set twice");
    }

    #[test]
    fn the_project_fragment_parses() {
        let path = crate::workspace_root().join("kernel-patches/config");
        let s = load(&path).expect("kernel-patches/config parses");
        assert!(s
            .iter()
            .any(|s| s.name == "CONFIG_BPF_CRIB" && s.value.as_deref() == Some("y")));
    }

    #[test]
    fn reports_lost_and_wrong_options() {
        let frag =
            parse("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=5\n").expect("valid");
        let dot = "CONFIG_A=y\nCONFIG_C=y\nCONFIG_D=6\n";
        let lost = missing(&frag, dot);
        assert_eq!(
            lost,
            vec![
                "CONFIG_B=y (got not set)",
                "CONFIG_C=n (got y)",
                "CONFIG_D=5 (got 6)"
            ]
        );
    }
}
