//! Where crib-kit keeps what it fetches and builds (kernels, the KVM
//! verdict, CRIU): outside the repository, shared by every checkout.

use std::path::PathBuf;

/// `$CRIB_KIT_CACHE`, else `$XDG_CACHE_HOME/crib-kit`, else
/// `$HOME/.cache/crib-kit` (`/root/.cache/crib-kit` without a HOME).
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os("CRIB_KIT_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("crib-kit");
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cache/crib-kit")
}
