//! Per-test descriptors (`tests/zdtm/static/NAME.desc`, TOML).
//!
//! ```toml
//! mode = "restore"            # or "dump-compare" (memory is not restored)
//! engines = ["procfs", "upstream", "crib"]   # default: all
//! crfail = ["procfs"]         # engines expected to fail (ZDTM's crfail)
//! kernels = "any"             # or "crib": needs the patched kernel
//! timeout = 30                # seconds per phase
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Restore,
    DumpCompare,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub mode: Mode,
    #[serde(default)]
    pub engines: Option<Vec<String>>,
    #[serde(default)]
    pub crfail: Vec<String>,
    #[serde(default = "any")]
    pub kernels: String,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

fn any() -> String {
    "any".into()
}
fn default_timeout() -> u64 {
    30
}

impl Descriptor {
    pub fn applies_to(&self, engine: &str) -> bool {
        if engine == "live" {
            return true;
        }
        // dump-compare reads crib's own records; CRIU images are not ours.
        if engine == "criu" && self.mode == Mode::DumpCompare {
            return false;
        }
        self.engines
            .as_ref()
            .is_none_or(|e| e.iter().any(|x| x == engine))
    }
    pub fn expected_to_fail(&self, engine: &str) -> bool {
        self.crfail.iter().any(|x| x == engine)
    }
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub source: PathBuf,
    pub desc: Descriptor,
}

#[derive(Debug, thiserror::Error)]
pub enum DescError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Bad { path: PathBuf, problem: String },
}

/// Every `static/*.c` with its descriptor (a test without one is an error:
/// the descriptor is what says how to run it).
pub fn load_tests(src: &Path) -> Result<Vec<TestCase>, DescError> {
    let dir = src.join("static");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DescError::Io {
            path,
            cause: source,
        }
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let p = e.map_err(io(&dir))?.path();
        if p.extension().and_then(|x| x.to_str()) != Some("c") {
            continue;
        }
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let dpath = p.with_extension("desc");
        let text = std::fs::read_to_string(&dpath).map_err(io(&dpath))?;
        let desc: Descriptor = toml::from_str(&text).map_err(|e| DescError::Bad {
            path: dpath.clone(),
            problem: e.message().to_string(),
        })?;
        out.push(TestCase {
            name,
            source: p,
            desc,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
