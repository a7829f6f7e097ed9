// verdict: accept
// run: 0
// A file that is not a pipe (the loader's UDP socket) gives -EBADF.
#include "common.h"

#define EBADF 9

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f;
	char buf[16];
	int n;

	if (!t)
		return 2;
	f = bpf_crib_file_from_fd(t, ctx->fd);
	bpf_task_release(t);
	if (!f)
		return 2;
	n = bpf_crib_pipe_read(f, 0, buf, sizeof(buf));
	bpf_crib_put_file(f);
	return n == -EBADF ? 0 : 3;
}
