// verdict: reject invalid mem access
// Using the KF_RET_NULL result without a NULL check.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	int pid = t->tgid;

	bpf_task_release(t);
	return pid;
}
