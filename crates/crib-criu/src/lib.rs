//! The crib CRIU plugin (`crib.so`): CRIB as CRIU's engine for what CRIU's
//! own procfs and socket paths cannot do. With the kit's CRIU patches
//! (`patches/`: the `DUMP_INET_SK_QUEUES` / `RESTORE_INET_SK_QUEUES` hooks),
//! CRIU hands it every UDP and UDP-lite socket it dumps; the plugin reads
//! the socket's receive queue (datagrams with their senders) and write
//! queue (a corked pending frame with its destination) through the crib
//! engine's BPF programs and keeps them in its own image
//! (`crib-udp-<id>.img`, [`image`]); at restore it puts the datagrams back
//! with `bpf_crib_udp_queue_rcv` and replays the pending frame under
//! UDP_CORK, before the task resumes. CRIU does memory, registers, the
//! process tree and everything else.
//!
//! - Programs load once per CRIU run, at plugin init ([`dump::Dumper`],
//!   [`restore::Restorer`]).
//! - On a kernel without the CRIB kfuncs the plugin says so once and
//!   declines every socket: CRIU then behaves as without it. A restore of
//!   a dump that carries crib sockets fails there (CRIU's inventory names
//!   the plugin; an image that is missing, damaged or newer is an error).
//! - The plugin only loads into the kit's patched CRIU: it declares the
//!   patched hook count, which an unpatched CRIU refuses.

pub mod criu;
pub mod dump;
pub mod image;
pub mod restore;

use criu::{PluginDesc, HOOK_DUMP_INET_SK_QUEUES, HOOK_MAX, HOOK_RESTORE_INET_SK_QUEUES};
use std::cell::RefCell;
use std::ffi::{c_int, c_uint, c_void};

const NAME: &std::ffi::CStr = c"crib";
/// `-ENOTSUP`: "not mine", CRIU goes on as without the plugin.
const DECLINE: c_int = -libc::ENOTSUP;

enum State {
    None,
    /// The kernel cannot do it: every socket is declined (said once).
    Declining,
    Dump(dump::Dumper),
    Restore(restore::Restorer),
}

thread_local! {
    // CRIU calls plugins from one thread; the restored task inherits this
    // (fork copies it), which is how the restore hook sees the images.
    static STATE: RefCell<State> = const { RefCell::new(State::None) };
}

fn guarded(f: impl FnOnce() -> c_int) -> c_int {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        criu::log(criu::LOG_ERROR, "internal error (panic)");
        -libc::EIO
    })
}

extern "C" fn init(stage: c_int) -> c_int {
    guarded(|| {
        let Some(dir) = criu::image_dir() else {
            criu::log(criu::LOG_ERROR, "no image directory from CRIU");
            return -libc::EINVAL;
        };
        let state = match stage {
            criu::STAGE_DUMP => {
                match dump::Dumper::open(dir) {
                    Ok(d) => {
                        criu::log(
                            criu::LOG_INFO,
                            "crib engine loaded: UDP queues go through CRIB",
                        );
                        State::Dump(d)
                    }
                    Err(e) => {
                        criu::log(
                        criu::LOG_WARN,
                        &format!("declining every socket, CRIU dumps them as without the plugin: {e}"),
                    );
                        State::Declining
                    }
                }
            }
            criu::STAGE_RESTORE if criu::inventory_has(NAME) => match restore::Restorer::open(&dir)
            {
                Ok(r) => {
                    criu::log(
                        criu::LOG_INFO,
                        &format!(
                            "{} socket image(s) read, restore program loaded",
                            r.sockets()
                        ),
                    );
                    State::Restore(r)
                }
                Err(e) => {
                    criu::log(criu::LOG_ERROR, &e);
                    return -libc::EIO;
                }
            },
            _ => State::None,
        };
        STATE.with(|s| *s.borrow_mut() = state);
        0
    })
}

extern "C" fn exit(_stage: c_int, _ret: c_int) {
    let _ = guarded(|| {
        STATE.with(|s| *s.borrow_mut() = State::None);
        0
    });
}

extern "C" fn dump_inet_sk_queues(fd: c_int, id: c_int) -> c_int {
    guarded(|| {
        STATE.with(|s| {
            let mut st = s.borrow_mut();
            let State::Dump(d) = &mut *st else {
                return DECLINE;
            };
            match d.socket(fd, id as u32) {
                Ok(None) => DECLINE,
                Ok(Some(q)) => {
                    if d.carried == 1 && !criu::add_inventory(NAME) {
                        criu::log(criu::LOG_ERROR, "cannot add the plugin to the inventory");
                        return -libc::EIO;
                    }
                    criu::log(
                        criu::LOG_INFO,
                        &format!(
                            "socket {id}: {} received datagram(s), {} pending frame(s), cork {}",
                            q.receive.len(),
                            q.write.len(),
                            q.corked
                        ),
                    );
                    0
                }
                Err(e) => {
                    criu::log(criu::LOG_ERROR, &e);
                    -libc::EIO
                }
            }
        })
    })
}

extern "C" fn restore_inet_sk_queues(fd: c_int, id: c_int) -> c_int {
    guarded(|| {
        STATE.with(|s| {
            let st = s.borrow();
            let State::Restore(r) = &*st else {
                criu::log(
                    criu::LOG_ERROR,
                    &format!("socket {id}: its queues are in crib images, but the plugin has none loaded"),
                );
                return -libc::EIO;
            };
            match r.socket(fd, id as u32) {
                Ok((rcv, wr)) => {
                    criu::log(
                        criu::LOG_INFO,
                        &format!("socket {id}: {rcv} datagram(s) queued, {wr} pending frame(s) replayed"),
                    );
                    0
                }
                Err(e) => {
                    criu::log(criu::LOG_ERROR, &e);
                    -libc::EIO
                }
            }
        })
    })
}

const fn hooks() -> [*const c_void; HOOK_MAX] {
    let mut h = [std::ptr::null::<c_void>(); HOOK_MAX];
    h[HOOK_DUMP_INET_SK_QUEUES] = dump_inet_sk_queues as *const c_void;
    h[HOOK_RESTORE_INET_SK_QUEUES] = restore_inet_sk_queues as *const c_void;
    h
}

/// The descriptor CRIU looks up (`CR_PLUGIN_DESC`).
#[no_mangle]
pub static CR_PLUGIN_DESC: PluginDesc = PluginDesc {
    name: NAME.as_ptr(),
    init: Some(init),
    exit: Some(exit),
    version: criu::PLUGIN_VERSION,
    max_hooks: HOOK_MAX as c_uint,
    hooks: hooks(),
};
