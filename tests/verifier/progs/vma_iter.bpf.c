// verdict: accept
// types: crib,syscall
// run: 0
// The memory map iterator holds the mmap lock for the walk: it sees
// exactly mm->map_count mappings in rising address order, each mapping
// is trusted (its path through bpf_crib_vma_path()), and a walk started
// inside a mapping starts with that mapping.
#include "common.h"

#define ENOENT 2

/* In .bss, not on the stack: the loop converges instead of forking. */
int seen, bad, files;
__u64 last_end, third_start, third_end;

BUF_MAP(bufs, 256);

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_vma it;
	struct vm_area_struct *vma;
	struct bufs_buf *p;
	__u32 zero = 0;
	int expected, ret = 0;

	seen = bad = files = 0;
	last_end = third_start = third_end = 0;
	p = bpf_map_lookup_elem(&bufs, &zero);
	if (!t || !p) {
		if (t)
			bpf_task_release(t);
		return 2;
	}
	if (bpf_iter_crib_vma_new(&it, t, 0))
		ret = 3;
	while ((vma = bpf_iter_crib_vma_next(&it))) {
		int n = bpf_crib_vma_path(vma, p->b, sizeof(p->b));

		if (vma->vm_start < last_end || vma->vm_end <= vma->vm_start)
			__sync_fetch_and_add(&bad, 1);
		if (vma->vm_file) {
			/* "/...", a pseudo file's name, or too long (-36) */
			if (n > 1 && p->b[0] == '/')
				__sync_fetch_and_add(&files, 1);
			else if (n <= 1 && n != -36)
				__sync_fetch_and_add(&bad, 1);
		} else if (n != -ENOENT) {
			__sync_fetch_and_add(&bad, 1);
		}
		if (seen == 2) {
			third_start = vma->vm_start;
			third_end = vma->vm_end;
		}
		seen++;
		last_end = vma->vm_end;
	}
	expected = BPF_CORE_READ(t, mm, map_count);
	bpf_iter_crib_vma_destroy(&it);
	if (ret) {
		bpf_task_release(t);
		return ret;
	}
	if (bad)
		ret = 4;
	else if (seen != expected)
		ret = 5;
	else if (!files)
		ret = 6;
	/* resume inside the third mapping: it comes first */
	if (!ret) {
		bpf_iter_crib_vma_new(&it, t, third_start + 1);
		vma = bpf_iter_crib_vma_next(&it);
		if (!vma || vma->vm_start != third_start || vma->vm_end != third_end)
			ret = 7;
		bpf_iter_crib_vma_destroy(&it);
	}
	bpf_task_release(t);
	return ret;
}
