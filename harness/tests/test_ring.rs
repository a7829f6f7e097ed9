//! Ring-buffer batching of the SEC("syscall") VMA dump (same emit code as
//! the `crib` engine's files and VMA dumps): with a ring too small for the
//! whole dump the program stops, userspace drains and resumes, and the
//! result equals the iterator's; with a ring too small for any record the
//! dump fails loudly instead of coming back short.

use crib_harness::engine::upstream::UpstreamEngine;
use crib_harness::engine::{DumpEngine, KernelFeatures};

/// Pages of the many-mappings child: every other page read-only, so each
/// page is its own VMA.
const PAGES: usize = 1200;

/// A forked child holding PAGES extra VMAs; killed and reaped on drop.
struct ManyMaps {
    pid: i32,
}

impl ManyMaps {
    fn spawn() -> ManyMaps {
        // SAFETY: mmap/mprotect on fresh anonymous memory; the child only
        // calls pause() (no allocation after fork in a threaded test binary).
        unsafe {
            let len = PAGES * 4096;
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED, "mmap");
            for i in (0..PAGES).step_by(2) {
                let page = (p as *mut u8).add(i * 4096) as *mut libc::c_void;
                assert_eq!(libc::mprotect(page, 4096, libc::PROT_READ), 0, "mprotect");
            }
            let pid = libc::fork();
            assert!(pid >= 0, "fork");
            if pid == 0 {
                loop {
                    libc::pause();
                }
            }
            libc::munmap(p, len);
            ManyMaps { pid }
        }
    }
}

impl Drop for ManyMaps {
    fn drop(&mut self) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

fn has_syscall_path() -> bool {
    let f = KernelFeatures::detect();
    f.task_from_vpid && f.task_vma_iter_kfunc
}

#[test]
fn small_ring_dump_resumes_and_equals_the_iterator() {
    assert!(
        has_syscall_path(),
        "this kernel lacks bpf_task_from_vpid / bpf_iter_task_vma_new: the SEC(syscall) path cannot be tested"
    );
    let child = ManyMaps::spawn();
    // 32 KiB less the 16 KiB margin: ~230 VMA records per batch, so the
    // 1200+ mappings take several resumed batches.
    let mut small = UpstreamEngine::open()
        .expect("upstream engine")
        .with_sys_ring(32 << 10)
        .expect("small ring");
    let mut batched = small.memory_map_syscall(child.pid).expect("batched dump");
    let mut whole = UpstreamEngine::open()
        .expect("upstream engine")
        .memory_map(child.pid)
        .expect("iterator dump");
    assert!(batched.len() >= PAGES, "{} mappings", batched.len());
    for m in batched.iter_mut().chain(whole.iter_mut()) {
        m.normalize();
    }
    assert_eq!(batched, whole);
}

#[test]
fn ring_too_small_for_any_record_is_an_error() {
    assert!(
        has_syscall_path(),
        "this kernel lacks bpf_task_from_vpid / bpf_iter_task_vma_new: the SEC(syscall) path cannot be tested"
    );
    let child = ManyMaps::spawn();
    // One page: less than the margin the program keeps, so it stops before
    // the first record. That must fail, never return a short dump.
    let mut tiny = UpstreamEngine::open()
        .expect("upstream engine")
        .with_sys_ring(4096)
        .expect("tiny ring");
    let err = tiny
        .memory_map_syscall(child.pid)
        .expect_err("a dump that cannot progress must fail");
    assert!(err.to_string().contains("ring buffer full"), "{err}");
}
