//! Which kernel to boot: a bzImage plus, for stock kernels, the modules the
//! guest init must load before it can reach the host root.

use crate::debian::{self, Series};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// A bootable kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Short name for reports (`debian-6.12`, `patched`, or the path).
    pub label: String,
    /// The bzImage / vmlinuz.
    pub image: PathBuf,
    /// Uncompressed modules in load order (empty when 9p/virtio are built in).
    pub modules: Vec<PathBuf>,
    /// Modules tests may want (socket diag), loaded in the background while
    /// the root is mounted, before the first command.
    pub extra_modules: Vec<PathBuf>,
    /// The kernel's .config, when known.
    pub config: Option<PathBuf>,
}

impl Kernel {
    /// A kernel image at `path` with everything the guest needs built in.
    pub fn from_path(label: impl Into<String>, path: impl Into<PathBuf>) -> Result<Kernel> {
        let image = path.into();
        if !image.is_file() {
            return Err(Error::KernelMissing(image));
        }
        Ok(Kernel {
            label: label.into(),
            image,
            modules: Vec::new(),
            extra_modules: Vec::new(),
            config: None,
        })
    }

    /// `debian-6.1`, `debian-6.12` (fetched and cached) or a path to a
    /// bzImage. `patched` is resolved by the caller (it needs a kernel build).
    pub fn resolve(spec: &str) -> Result<Kernel> {
        if let Some(series) = Series::from_label(spec) {
            return debian::ensure(series, false);
        }
        if spec == "patched" {
            return Err(Error::Invalid(
                "kernel `patched` must be built by `cargo xtask kernel` and passed as a path"
                    .into(),
            ));
        }
        if spec.starts_with("debian-") {
            return Err(Error::Invalid(format!(
                "unknown stock kernel `{spec}` (known: debian-6.1, debian-6.12)"
            )));
        }
        Kernel::from_path(spec, spec)
    }

    /// The image virtme-ng should boot: for cached stock kernels the copy in
    /// `boot/vmlinuz-<ver>` next to `lib/modules/<ver>` (so vng finds the
    /// modules and the version); otherwise the image itself.
    pub fn vng_image(&self) -> PathBuf {
        let boot = self.image.parent().map(|d| d.join("boot"));
        boot.and_then(|b| std::fs::read_dir(b).ok())
            .and_then(|rd| {
                rd.flatten().map(|e| e.path()).find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
                })
            })
            .unwrap_or_else(|| self.image.clone())
    }
}
