//! The ZDTM-style runner. See `tests/zdtm/lib/zdtmtst.h` for the protocol.

pub mod build;
mod criu;
pub mod desc;
pub mod mapcheck;
pub mod proc;
pub mod report;
pub mod run;

pub use desc::{Descriptor, Mode, TestCase};
pub use report::{Outcome, Status};
pub use run::{run_test, EngineSel, RunConfig, Sabotage};

use std::path::PathBuf;

/// `tests/zdtm` in the source tree (override: `CRIB_ZDTM_SRC`).
pub fn source_dir() -> PathBuf {
    std::env::var_os("CRIB_ZDTM_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/zdtm")))
}

/// Where binaries, work dirs and results go: `<target>/zdtm` when the
/// target dir is writable (host), else `/tmp/crib-zdtm` (read-only root in the VM).
pub fn default_out_dir() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|a| {
                matches!(
                    a.file_name().and_then(|n| n.to_str()),
                    Some("debug" | "release")
                )
            })
            .and_then(|p| p.parent())
            .map(|t| t.join("zdtm"))
    });
    match from_exe {
        Some(d) if std::fs::create_dir_all(&d).is_ok() && writable(&d) => d,
        _ => PathBuf::from("/tmp/crib-zdtm"),
    }
}

fn writable(d: &std::path::Path) -> bool {
    let probe = d.join(".probe");
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    ok
}
