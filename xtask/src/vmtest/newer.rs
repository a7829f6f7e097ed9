//! Stock Debian kernels newer than bookworm's (trixie's 6.12 and the 7.x
//! backports), for the matrix: fetched through the kit's private apt
//! configuration and cached like `debian-6.1`/`debian-6.12`. From 7.x
//! Debian splits the image: `linux-base-V` holds the config,
//! `linux-binary-V` the vmlinuz, `linux-modules-V` the modules (the
//! generic and rt flavours have 9p as modules; cloud has no 9p and is
//! covered only by `crib compat` in docs/portability.md). 7.0.13 is not
//! here: its linux-image names linux-base and linux-modules packages the
//! archive does not have, so only its BTF (linux-binary) is checked.

use crate::apt::PrivateApt;
use anyhow::{Context, Result};
use crib_vmtest::Kernel;

/// A bootable newer kernel: its target name and its packages.
pub struct Newer {
    pub label: &'static str,
    pub packages: &'static [&'static str],
}

pub const NEWER: &[Newer] = &[
    Newer {
        label: "trixie-6.12",
        packages: &["linux-image-6.12.117+deb13-amd64-unsigned"],
    },
    Newer {
        label: "debian-7.2",
        packages: &[
            "linux-base-7.2.12+deb13-amd64",
            "linux-binary-7.2.12+deb13-amd64",
            "linux-modules-7.2.12+deb13-amd64",
        ],
    },
    Newer {
        label: "debian-7.3",
        packages: &[
            "linux-base-7.3.4+deb13-amd64",
            "linux-binary-7.3.4+deb13-amd64",
            "linux-modules-7.3.4+deb13-amd64",
        ],
    },
    Newer {
        label: "debian-7.3-rt",
        packages: &[
            "linux-base-7.3.4+deb13-rt-amd64",
            "linux-binary-7.3.4+deb13-rt-amd64",
            "linux-modules-7.3.4+deb13-rt-amd64",
        ],
    },
];

pub fn find(label: &str) -> Option<&'static Newer> {
    NEWER.iter().find(|n| n.label == label)
}

/// The kernel of `n`, downloading its packages on a cold cache.
pub fn ensure(n: &Newer) -> Result<Kernel> {
    let main = n.packages.last().copied().unwrap_or(n.label);
    let dir = crib_vmtest::debian::cache_root().join(main);
    let mut debs = Vec::new();
    if !dir.join("complete").exists() {
        let apt = PrivateApt::new()?;
        let dl = crib_vmtest::debian::cache_root().join(format!("{main}.debs"));
        for p in n.packages {
            eprintln!("[vmtest] fetching {p} (private apt)");
            debs.push(
                apt.download(p, &dl)
                    .with_context(|| format!("kernel {}", n.label))?,
            );
        }
    }
    let k = crib_vmtest::debian::ensure_from_debs(n.label, &debs, &dir)
        .with_context(|| format!("kernel {}: unpacking {}", n.label, n.packages.join(", ")))?;
    let _ = std::fs::remove_dir_all(crib_vmtest::debian::cache_root().join(format!("{main}.debs")));
    Ok(k)
}
