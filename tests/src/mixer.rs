//! A target process holding a generated mix of kernel objects
//! (`tests/zdtm/tools/mixer.c`), for differential engine tests.

use crate::zdtm::build::build_tool;
use crate::zdtm::proc::{hermetic, wait_pidfile, wait_timeout};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One object the mixer creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Access ("r", "w", "rw", "a" = write+append) and offset.
    File {
        access: &'static str,
        pos: u32,
    },
    Pipe {
        bytes: u32,
    },
    Unix {
        dgram: bool,
        n: u32,
    },
    Udp {
        datagrams: u32,
    },
    Tcp {
        unread: u32,
    },
    /// Protection ("r", "rw", "rx"), shared, pages.
    Map {
        prot: &'static str,
        shared: bool,
        pages: u32,
    },
}

impl Item {
    pub fn arg(&self) -> String {
        match self {
            Item::File { access, pos } => format!("file:{access}:{pos}"),
            Item::Pipe { bytes } => format!("pipe:{bytes}"),
            Item::Unix { dgram, n } => {
                format!("unix:{}:{n}", if *dgram { "dgram" } else { "stream" })
            }
            Item::Udp { datagrams } => format!("udp:{datagrams}"),
            Item::Tcp { unread } => format!("tcp:{unread}"),
            Item::Map {
                prot,
                shared,
                pages,
            } => {
                format!("map:{prot}:{}:{pages}", if *shared { "s" } else { "p" })
            }
        }
    }
}

/// A running mixer; killed on drop.
pub struct Mixer {
    child: Child,
    pub pid: i32,
    pub dir: PathBuf,
}

impl Mixer {
    /// Build (once) and start the mixer with `items`, wait until it is ready.
    pub fn start(src: &Path, out: &Path, tag: &str, items: &[Item]) -> Result<Mixer, String> {
        let bin = build_tool(src, "mixer", out).map_err(|e| e.to_string())?;
        let dir = out.join("mixer").join(tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pidfile = dir.join("pid");
        let mut cmd = Command::new(&bin);
        cmd.arg(&pidfile)
            .arg(&dir)
            .args(items.iter().map(Item::arg))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        hermetic(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        match wait_pidfile(&pidfile, &mut child, Duration::from_secs(20)) {
            Ok(pid) => Ok(Mixer { child, pid, dir }),
            Err(why) => {
                let _ = child.kill();
                let out = child
                    .wait_with_output()
                    .map(|o| o.stderr)
                    .unwrap_or_default();
                Err(format!(
                    "mixer {items:?}: {why}: {}",
                    String::from_utf8_lossy(&out).trim()
                ))
            }
        }
    }
}

impl Drop for Mixer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_timeout(&mut self.child, Duration::from_secs(5));
    }
}
