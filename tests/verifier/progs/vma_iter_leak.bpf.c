// verdict: reject Unreleased reference
// A walk that is never destroyed would keep the mmap lock and the mm.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_vma it;

	if (!t)
		return 2;
	bpf_iter_crib_vma_new(&it, t, 0);
	bpf_iter_crib_vma_next(&it);
	bpf_task_release(t);
	return 0;
}
