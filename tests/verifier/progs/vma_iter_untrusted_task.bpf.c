// verdict: reject must be referenced or trusted
// A task pointer walked from another one is not trusted: the walk would
// take the mm of a task nothing keeps alive.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_vma it;

	if (!t)
		return 2;
	bpf_iter_crib_vma_new(&it, t->group_leader, 0);
	bpf_iter_crib_vma_destroy(&it);
	bpf_task_release(t);
	return 0;
}
