//! The machine's own apt setup, read (never changed): which Debian mirror
//! its sources use. The fresh lane bootstraps from it, and the private apt
//! configuration for other suites (sid, trixie) is built from it.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// One `deb` source: its URI and suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suites: Vec<String>,
}

/// The `deb` sources of a one-line `sources.list` file.
pub fn parse_list(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let mut w = l.split_whitespace();
            if w.next()? != "deb" {
                return None;
            }
            // Options in brackets come before the URI: `deb [arch=amd64] URI`.
            let mut uri = w.next()?;
            if uri.starts_with('[') {
                while !uri.ends_with(']') {
                    uri = w.next()?;
                }
                uri = w.next()?;
            }
            let suite = w.next()?;
            Some(Source {
                uri: uri.trim_end_matches('/').to_string(),
                suites: vec![suite.to_string()],
            })
        })
        .collect()
}

/// The `Types: deb` stanzas of a deb822 `.sources` file.
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Option<String> {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
            })
        };
        let enabled = field("Enabled").is_none_or(|v| v != "no");
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        if !(enabled && is_deb) {
            continue;
        }
        let suites: Vec<String> = field("Suites")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for uri in field("URIs").unwrap_or_default().split_whitespace() {
            out.push(Source {
                uri: uri.trim_end_matches('/').to_string(),
                suites: suites.clone(),
            });
        }
    }
    out
}

/// Every `deb` source of the machine's apt configuration under `etc_apt`
/// (`/etc/apt`): `sources.list` and `sources.list.d/*.{list,sources}`.
pub fn system_sources(etc_apt: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string(etc_apt.join("sources.list")) {
        out.extend(parse_list(&t));
    }
    let mut files: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_else(|_| Vec::new());
    files.sort();
    for f in files {
        let Ok(t) = std::fs::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_list(&t)),
            Some("sources") => out.extend(parse_deb822(&t)),
            _ => {}
        }
    }
    out
}

/// The Debian archive mirror the machine uses: the URI of a source that
/// carries `suite` (e.g. `bookworm`) from the main archive (not the
/// security archive).
pub fn debian_mirror(sources: &[Source], suite: &str) -> Result<String> {
    sources
        .iter()
        .find(|s| s.suites.iter().any(|x| x == suite) && !s.uri.contains("security"))
        .map(|s| s.uri.clone())
        .with_context(|| {
            format!("no apt source of this machine carries the Debian suite `{suite}` (read /etc/apt/sources.list and sources.list.d/)")
        })
}

/// [`debian_mirror`] of this machine.
pub fn system_mirror(suite: &str) -> Result<String> {
    let sources = system_sources(Path::new("/etc/apt"));
    if sources.is_empty() {
        bail!("this machine has no apt sources (/etc/apt/sources.list, sources.list.d/)");
    }
    debian_mirror(&sources, suite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn deb822_and_one_line_sources_give_the_main_mirror() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                      Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n";
        let s = parse_deb822(deb822);
        assert_eq!(s.len(), 2);
        assert_eq!(
            debian_mirror(&s, "bookworm").ok().as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list =
            "deb [arch=amd64 signed-by=/x.gpg] http://mirror.example/debian/ bookworm main\n\
                    deb http://security.debian.org/debian-security bookworm-security main\n";
        let s = parse_list(list);
        assert_eq!(
            debian_mirror(&s, "bookworm").ok().as_deref(),
            Some("http://mirror.example/debian")
        );
        let err = debian_mirror(&s, "trixie").expect_err("no trixie source");
        assert!(err.to_string().contains("trixie"));
    }

    #[test]
    fn disabled_stanzas_are_ignored() {
        let s = parse_deb822("Types: deb\nEnabled: no\nURIs: http://a/debian\nSuites: bookworm\n");
        assert!(s.is_empty());
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in ".{0,400}") {
            let _ = parse_list(&text);
            let _ = parse_deb822(&text);
        }
    }
}
