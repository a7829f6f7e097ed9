//! What the plugin uses of CRIU (`criu-plugin.h` and the symbols CRIU
//! exports, it is linked `-rdynamic`): the plugin descriptor's layout, the
//! hook numbers of the kit's CRIU patches, and the functions, looked up at
//! run time with `dlsym` so that the library links (and its tests run)
//! without CRIU.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

/// `CRIU_PLUGIN_VERSION` = GEN(0, 2, 0).
pub const PLUGIN_VERSION: c_uint = 2 << 8;
/// `CR_PLUGIN_HOOK__DUMP_INET_SK_QUEUES` (kit patch 0001).
pub const HOOK_DUMP_INET_SK_QUEUES: usize = 13;
/// `CR_PLUGIN_HOOK__RESTORE_INET_SK_QUEUES` (kit patch 0001).
pub const HOOK_RESTORE_INET_SK_QUEUES: usize = 14;
/// `CR_PLUGIN_HOOK__MAX` of the patched CRIU: a CRIU without the hooks
/// refuses this plugin ("Corrupted plugin") instead of ignoring it.
pub const HOOK_MAX: usize = 15;

/// `CR_PLUGIN_STAGE__DUMP`, `__PRE_DUMP`, `__RESTORE`.
pub const STAGE_DUMP: c_int = 0;
pub const STAGE_PRE_DUMP: c_int = 1;
pub const STAGE_RESTORE: c_int = 2;

/// `cr_plugin_desc_t`.
#[repr(C)]
pub struct PluginDesc {
    pub name: *const c_char,
    pub init: Option<extern "C" fn(c_int) -> c_int>,
    pub exit: Option<extern "C" fn(c_int, c_int)>,
    pub version: c_uint,
    pub max_hooks: c_uint,
    pub hooks: [*const c_void; HOOK_MAX],
}

// SAFETY: the descriptor is immutable after load; CRIU only reads it.
unsafe impl Sync for PluginDesc {}

/// CRIU's log levels (criu-log.h).
pub const LOG_ERROR: c_uint = 1;
pub const LOG_WARN: c_uint = 2;
pub const LOG_INFO: c_uint = 3;

fn sym(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with the default handle and a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Write to CRIU's log (stderr when not inside CRIU, e.g. in tests).
pub fn log(level: c_uint, msg: &str) {
    let line = format!("crib: {msg}\n");
    match sym(c"print_on_level") {
        Some(f) => {
            type PrintOnLevel = unsafe extern "C" fn(c_uint, *const c_char, ...);
            // SAFETY: print_on_level(unsigned int, const char *fmt, ...), called
            // with "%s" and one C string.
            let f: PrintOnLevel = unsafe { std::mem::transmute(f) };
            if let Ok(c) = CString::new(line) {
                unsafe { f(level, c"%s".as_ptr(), c.as_ptr()) };
            }
        }
        None => eprint!("{line}"),
    }
}

/// The image directory CRIU works in (`criu_get_image_dir()`: a directory
/// fd), as a path this process can open.
pub fn image_dir() -> Option<std::path::PathBuf> {
    let f = sym(c"criu_get_image_dir")?;
    // SAFETY: int criu_get_image_dir(void).
    let f: unsafe extern "C" fn() -> c_int = unsafe { std::mem::transmute(f) };
    let fd = unsafe { f() };
    (fd >= 0).then(|| std::path::PathBuf::from(format!("/proc/self/fd/{fd}")))
}

/// Note in the dump's inventory that this plugin carries state, so that a
/// restore without it fails ("Missing plugin").
pub fn add_inventory(name: &CStr) -> bool {
    let Some(f) = sym(c"add_inventory_plugin") else {
        return false;
    };
    // SAFETY: int add_inventory_plugin(const char *name).
    let f: unsafe extern "C" fn(*const c_char) -> c_int = unsafe { std::mem::transmute(f) };
    unsafe { f(name.as_ptr()) == 0 }
}

/// At restore: whether the dump's inventory names this plugin (and mark
/// it present).
pub fn inventory_has(name: &CStr) -> bool {
    let Some(f) = sym(c"check_and_remove_inventory_plugin") else {
        return false;
    };
    // SAFETY: bool check_and_remove_inventory_plugin(const char *name, size_t n).
    let f: unsafe extern "C" fn(*const c_char, usize) -> bool = unsafe { std::mem::transmute(f) };
    unsafe { f(name.as_ptr(), name.to_bytes().len()) }
}

/// CRIU's fdstore: descriptors kept across its forks, for the restored
/// tasks (which close every descriptor inherited from CRIU).
pub fn fdstore_add(fd: c_int) -> Option<c_int> {
    let f = sym(c"fdstore_add")?;
    // SAFETY: int fdstore_add(int fd).
    let f: unsafe extern "C" fn(c_int) -> c_int = unsafe { std::mem::transmute(f) };
    let id = unsafe { f(fd) };
    (id >= 0).then_some(id)
}

pub fn fdstore_get(id: c_int) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let f = sym(c"fdstore_get")?;
    // SAFETY: int fdstore_get(int id), a new descriptor owned by the caller.
    let f: unsafe extern "C" fn(c_int) -> c_int = unsafe { std::mem::transmute(f) };
    let fd = unsafe { f(id) };
    // SAFETY: fd is fresh and ours.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
