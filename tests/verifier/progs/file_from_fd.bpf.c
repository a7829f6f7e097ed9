// verdict: accept
// types: crib,syscall
// run: 0
// bpf_crib_file_from_fd() on the loader's UDP socket fd; put back.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f;
	int ret;

	if (!t)
		return 2;
	f = bpf_crib_file_from_fd(t, ctx->fd);
	bpf_task_release(t);
	if (!f)
		return 3;
	ret = f->private_data ? 0 : 4;
	bpf_crib_put_file(f);
	return ret;
}
