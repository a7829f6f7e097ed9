// verdict: reject Unreleased reference
// A file reference that is never put.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f;

	if (!t)
		return 2;
	f = bpf_crib_file_from_fd(t, ctx->fd);
	bpf_task_release(t);
	return f ? 0 : 1;
}
