//! The generated initramfs: static busybox, our init script and, for stock
//! kernels, the modules to load. Written fresh per boot (a few MB, cheap).

use crate::cpio::Cpio;
use crate::error::{io, Error, Result};
use crate::kernel::Kernel;
use std::path::{Path, PathBuf};

/// The guest init script (busybox sh).
pub const INIT_SCRIPT: &str = include_str!("../guest/init.sh");

/// Where the static busybox comes from (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Write the initramfs for `kernel` to `out` and return its path.
pub fn write(kernel: &Kernel, out: &Path) -> Result<PathBuf> {
    let busybox = Path::new(BUSYBOX);
    let bb = std::fs::read(busybox).map_err(|e| Error::Io {
        path: busybox.to_path_buf(),
        err: std::io::Error::new(e.kind(), format!("{e} (install busybox-static)")),
    })?;
    if !is_static_elf(&bb) {
        return Err(Error::BadFile {
            path: busybox.to_path_buf(),
            detail: "not a static binary (install busybox-static)".into(),
        });
    }
    let mut c = Cpio::new();
    for d in [
        "bin", "dev", "proc", "sys", "tmp", "mnt", "mnt/root", "modules",
    ] {
        c.dir(d);
    }
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    c.char_dev("dev/console", 0o600, 5, 1);
    c.file("bin/busybox", 0o755, &bb);
    // Applet links in the archive: cheaper than `busybox --install` under
    // emulation (one exec and ~400 symlink calls less at boot).
    for applet in applets(busybox) {
        c.symlink(&format!("bin/{applet}"), "busybox");
    }
    c.file("init", 0o755, INIT_SCRIPT.as_bytes());
    for (list, file) in [(&kernel.modules, "order"), (&kernel.extra_modules, "extra")] {
        if list.is_empty() {
            continue;
        }
        let mut order = String::new();
        for m in list {
            let name = m
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Error::Invalid(format!("bad module path {}", m.display())))?;
            let bytes = std::fs::read(m).map_err(io(m))?;
            c.file(&format!("modules/{name}"), 0o644, &bytes);
            order.push_str(&name);
            order.push('\n');
        }
        c.file(&format!("modules/{file}"), 0o644, order.as_bytes());
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).map_err(io(out))?);
    c.finish(&mut f).map_err(io(out))?;
    std::io::Write::flush(&mut f).map_err(io(out))?;
    Ok(out.to_path_buf())
}

/// `busybox --list`, or the applets the init uses if that fails.
fn applets(busybox: &Path) -> Vec<String> {
    const NEEDED: &[&str] = &[
        "sh", "mount", "mkdir", "cat", "insmod", "usleep", "mknod", "tr", "sleep", "kill",
        "setsid", "chroot", "rm", "wc", "dmesg", "cut", "reboot", "sync", "ip", "ls", "unshare",
    ];
    let listed = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.is_empty() && !l.contains('/') && *l != "busybox")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        NEEDED.iter().map(|s| s.to_string()).collect()
    } else {
        listed
    }
}

/// ELF without a PT_INTERP program header.
fn is_static_elf(bytes: &[u8]) -> bool {
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(hdr) = object::elf::FileHeader64::<object::Endianness>::parse(bytes) else {
        return false;
    };
    let Ok(endian) = hdr.endian() else {
        return false;
    };
    let Ok(phdrs) = hdr.program_headers(endian, bytes) else {
        return false;
    };
    !phdrs
        .iter()
        .any(|p| p.p_type(endian) == object::elf::PT_INTERP)
}
