//! Child processes that must never outlive the harness (QEMU, vng): each
//! runs in its own process group, is killed (the whole group) on drop, gets
//! SIGKILL if the harness dies (PR_SET_PDEATHSIG), and is killed by our
//! SIGINT/SIGTERM/SIGHUP handler before the harness exits.

use crate::error::{Error, Result};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Process groups to kill on a fatal signal (0 = free slot).
static GROUPS: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];
static HANDLERS: Once = Once::new();

extern "C" fn on_signal(sig: libc::c_int) {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
    // Re-raise with the default action so the exit status says what happened.
    // SAFETY: signal and raise are async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_handlers() {
    HANDLERS.call_once(|| {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a plain handler that only calls async-signal-safe functions.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

/// A child in its own process group, killed with its group on drop.
pub struct GroupChild {
    pub child: Child,
    pgid: i32,
    slot: Option<usize>,
    program: String,
}

impl GroupChild {
    pub fn spawn(mut cmd: Command) -> Result<GroupChild> {
        install_handlers();
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe; runs in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|err| Error::Spawn {
            program: program.clone(),
            err,
        })?;
        let pgid = child.id() as i32;
        let slot = GROUPS.iter().position(|s| {
            s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        Ok(GroupChild {
            child,
            pgid,
            slot,
            program,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Exit status if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait up to `limit` for the child to exit by itself.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL the whole group and reap the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        // SAFETY: plain syscall on a group we created.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        self.child.wait().ok()
    }

    pub fn program(&self) -> &str {
        &self.program
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.kill();
        } else {
            // The leader exited; helpers it left in the group go too.
            // SAFETY: as above.
            unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        }
        if let Some(i) = self.slot {
            GROUPS[i].store(0, Ordering::SeqCst);
        }
    }
}
