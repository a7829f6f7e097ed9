// verdict: reject calling kernel function bpf_task_from_vpid is not allowed
// types: socket_filter
// sleepable: no
// CRIB kfuncs are registered for CRIB and SYSCALL programs only.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(1);

	if (t)
		bpf_task_release(t);
	return 0;
}
