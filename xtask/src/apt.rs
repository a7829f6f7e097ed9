//! The machine's own apt setup, read (never changed): which Debian mirror
//! its sources use. The fresh lane bootstraps from it, and the private apt
//! configuration for other suites (sid, trixie) is built from it.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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

/// Suites of Debian's archive the kit reads besides the machine's own:
/// where CRIU 4.2 and the newer kernels are.
pub const EXTRA_SUITES: &[&str] = &["sid", "trixie", "trixie-backports"];

/// `apt-cache show --no-all-versions PKG` through `c` (an `apt-cache`
/// command with its configuration): the candidate version, or an error
/// naming the package and `where_` it was looked for.
pub fn candidate_version(mut c: std::process::Command, pkg: &str, where_: &str) -> Result<String> {
    let out = c
        .args(["show", "--no-all-versions", pkg])
        .output()
        .context("running apt-cache show")?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(|l| l.strip_prefix("Version: ")) {
        Some(v) if out.status.success() => Ok(v.trim().to_string()),
        _ => bail!(
            "package {pkg} is not in {where_}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// A private apt configuration under the kit's cache (`apt/`): its own
/// sources list (`deb` and `deb-src` of [`EXTRA_SUITES`] from the
/// machine's own mirror), lists, cache and an empty dpkg status, so that
/// nothing of the machine's apt setup is read or changed. Used only to
/// download (`apt-get source --download-only`, `apt-get download`), never
/// to install.
pub struct PrivateApt {
    pub dir: PathBuf,
}

/// Lists older than this are fetched again before a look-up.
const LISTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl PrivateApt {
    /// Write the configuration (idempotent) from the machine's mirror.
    pub fn new() -> Result<PrivateApt> {
        let mirror = system_mirror("bookworm")?;
        let dir = crib_vmtest::cache::root().join("apt");
        for d in ["etc", "lists/partial", "cache/archives/partial", "state"] {
            std::fs::create_dir_all(dir.join(d))
                .with_context(|| format!("creating {}", dir.join(d).display()))?;
        }
        let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
        let mut list = String::from(
            "# Written by crib-kit (xtask/src/apt.rs); the machine's own apt setup is not used.\n",
        );
        for suite in EXTRA_SUITES {
            for kind in ["deb", "deb-src"] {
                list.push_str(&format!(
                    "{kind} [arch=amd64 signed-by={keyring}] {mirror} {suite} main\n"
                ));
            }
        }
        let path = dir.join("etc/sources.list");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(list.as_str()) {
            std::fs::write(&path, &list).with_context(|| format!("writing {}", path.display()))?;
            // New sources: the old lists no longer describe them.
            let _ = std::fs::remove_file(dir.join("lists/.updated"));
        }
        std::fs::write(dir.join("state/status"), "")?;
        Ok(PrivateApt { dir })
    }

    /// The `-o` options that make apt use only this configuration.
    pub fn options(&self) -> Vec<String> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        vec![
            format!("Dir::Etc::SourceList={}", d("etc/sources.list")),
            "Dir::Etc::SourceParts=/dev/null".into(),
            format!("Dir::State::Lists={}", d("lists")),
            format!("Dir::State::status={}", d("state/status")),
            format!("Dir::Cache={}", d("cache")),
            "Dir::Etc::Preferences=/dev/null".into(),
            "Dir::Etc::PreferencesParts=/dev/null".into(),
            "APT::Architectures=amd64".into(),
            "Acquire::Languages=none".into(),
            // _apt cannot enter the cache under /root: download as root.
            "APT::Sandbox::User=root".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let mut c = std::process::Command::new(tool);
        c.args(self.options())
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    /// `apt-get update` of the private lists, unless they are fresh.
    pub fn update(&self, force: bool) -> Result<()> {
        let stamp = self.dir.join("lists/.updated");
        let fresh = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < LISTS_MAX_AGE);
        if fresh && !force {
            return Ok(());
        }
        eprintln!(
            "[apt] updating the private lists ({})",
            EXTRA_SUITES.join(", ")
        );
        let out = self
            .command("apt-get")
            .args(["-q", "update"])
            .output()
            .context("running apt-get update (private configuration)")?;
        if !out.status.success() {
            bail!(
                "apt-get update (private configuration in {}) failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        std::fs::write(&stamp, "")?;
        Ok(())
    }

    /// The candidate version of binary package `pkg` in the private
    /// suites (`apt-cache show`), or an error naming the package.
    pub fn version(&self, pkg: &str) -> Result<String> {
        self.update(false)?;
        let where_ = format!("the private suites ({})", EXTRA_SUITES.join(", "));
        candidate_version(self.command("apt-cache"), pkg, &where_)
    }

    /// `apt-get download PKG` (or `PKG=VERSION`) into `dest` (checked
    /// against the signed index); returns the .deb.
    pub fn download(&self, pkg: &str, dest: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        self.update(false)?;
        let out = self
            .command("apt-get")
            .args(["-q", "download", pkg])
            .current_dir(dest)
            .output()
            .context("running apt-get download (private configuration)")?;
        if !out.status.success() {
            bail!(
                "apt-get download {pkg} (private configuration) failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let name = pkg.split('=').next().unwrap_or(pkg);
        let prefix = format!("{name}_");
        std::fs::read_dir(dest)
            .with_context(|| format!("reading {}", dest.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
            .with_context(|| format!("apt-get download {pkg} left no .deb in {}", dest.display()))
    }

    /// Download the upstream tarball of source package `pkg` version
    /// `version` into `dest` (`apt-get source --download-only --tar-only`:
    /// checked against the signed Sources index; the Debian part of the
    /// source package is not fetched). Returns the tarball's path.
    pub fn orig_tarball(&self, pkg: &str, version: &str, dest: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
        self.update(false)?;
        let spec = format!("{pkg}={version}");
        let run = |this: &Self| {
            this.command("apt-get")
                .args(["-q", "source", "--download-only", "--tar-only"])
                .arg(&spec)
                .current_dir(dest)
                .output()
        };
        let mut out = run(self).context("running apt-get source")?;
        if !out.status.success() {
            // The lists may predate the version: once more with new ones.
            self.update(true)?;
            out = run(self).context("running apt-get source")?;
        }
        if !out.status.success() {
            bail!(
                "apt-get source --download-only --tar-only {spec} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let upstream = version.split('-').next().unwrap_or(version);
        let name = format!("{pkg}_{upstream}.orig.tar.xz");
        let p = dest.join(&name);
        if !p.is_file() {
            bail!(
                "apt-get source {spec} succeeded but left no {name} in {}",
                dest.display()
            );
        }
        Ok(p)
    }
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
