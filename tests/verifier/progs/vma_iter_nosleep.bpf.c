// verdict: reject program must be sleepable to call sleepable kfunc
// sleepable: no
// The memory map iterator waits for the mmap lock: only sleepable
// programs may use it.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_vma it;
	struct vm_area_struct *vma;
	int n = 0;

	if (!t)
		return 2;
	bpf_iter_crib_vma_new(&it, t, 0);
	while ((vma = bpf_iter_crib_vma_next(&it)))
		n++;
	bpf_iter_crib_vma_destroy(&it);
	bpf_task_release(t);
	return n;
}
