// verdict: accept
// run: 0
// A file that is not a pipe (the loader's UDP socket) gives -EBADF.
#include "common.h"

#define EBADF 9

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct file *f = ctx_file(ctx, ctx->fd);
	char buf[16];
	int n;

	if (!f)
		return 2;
	n = bpf_crib_pipe_read(f, 0, buf, sizeof(buf));
	bpf_crib_put_file(f);
	return n == -EBADF ? 0 : 3;
}
