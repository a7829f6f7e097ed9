// verdict: accept
// types: crib,syscall
// run: 0
// bpf_task_from_vpid() finds the loader itself; released.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	int ret = 1;

	if (!t)
		return 2;
	if (t->tgid == ctx->pid)
		ret = 0;
	bpf_task_release(t);
	return ret;
}
