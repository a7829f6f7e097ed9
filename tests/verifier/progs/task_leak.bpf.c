// verdict: reject Unreleased reference
// A task reference that is never released.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);

	return t ? 0 : 1;
}
