// verdict: accept
// types: crib,syscall
// run: 0
// Paths of the loader's file mappings from the VMA iterator (which holds
// the mmap lock): NUL-terminated, some absolute; anonymous mappings -ENOENT.
#include "common.h"

#define ENOENT 2

/* Counters in .bss, not on the stack: the verifier does not track map
 * memory, so the iterator loop converges instead of forking per count. */
int files, anon, bad;

BUF_MAP(bufs, 256);

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;
	struct bufs_buf *p;
	__u32 zero = 0;

	files = anon = bad = 0;
	p = bpf_map_lookup_elem(&bufs, &zero);
	if (!t || !p) {
		if (t)
			bpf_task_release(t);
		return 2;
	}
	bpf_iter_task_vma_new(&it, t, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		int n = bpf_crib_vma_path(vma, p->b, sizeof(p->b));

		if (vma->vm_file) {
			/* a long path may not fit: that is -ENAMETOOLONG, fine */
			/* "/..." or a pseudo file's name ("anon_inode:bpf-map" of
			 * libbpf's ring buffer mapping) */
			if (n > 1 && p->b[(n - 1) & 255] == 0) {
				if (p->b[0] == '/')
					__sync_fetch_and_add(&files, 1);
			} else if (n != -36)
				__sync_fetch_and_add(&bad, 1);
		} else if (n == -ENOENT) {
			__sync_fetch_and_add(&anon, 1);
		} else {
			__sync_fetch_and_add(&bad, 1);
		}
	}
	bpf_iter_task_vma_destroy(&it);
	bpf_task_release(t);
	if (bad)
		return 3;
	if (!files)
		return 4;
	return anon ? 0 : 5;
}
