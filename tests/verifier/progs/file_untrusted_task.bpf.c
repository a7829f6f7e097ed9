// verdict: reject must be referenced or trusted
// A task pointer walked from another one is not trusted (KF_TRUSTED_ARGS).
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f;

	if (!t)
		return 2;
	f = bpf_crib_file_from_fd(t->group_leader, ctx->fd);
	bpf_task_release(t);
	if (f)
		bpf_crib_put_file(f);
	return 0;
}
