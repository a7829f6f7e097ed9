//! Region markers for strace: an `access()` of a path that cannot exist,
//! which strace prints in full, so a trace can be cut into regions
//! (engine load, the dump, each operation) without timing the tracer.

/// Every marker path starts with this.
pub const PREFIX: &str = "/nonexistent/crib-bench-mark/";

fn touch(label: &str) {
    if let Ok(p) = std::ffi::CString::new(format!("{PREFIX}{label}")) {
        // SAFETY: a valid NUL-terminated path; the result is ignored on purpose.
        unsafe { libc::access(p.as_ptr(), libc::F_OK) };
    }
}

pub fn begin(label: &str) {
    touch(&format!("begin:{label}"));
}

pub fn end(label: &str) {
    touch(&format!("end:{label}"));
}
