// verdict: reject Unreleased reference
// An iterator that is never destroyed leaks its task reference.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_file it;

	if (!t)
		return 2;
	bpf_iter_crib_file_new(&it, t);
	bpf_iter_crib_file_next(&it);
	bpf_task_release(t);
	return 0;
}
