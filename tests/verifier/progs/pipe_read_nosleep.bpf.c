// verdict: reject program must be sleepable to call sleepable kfunc
// sleepable: no
// The pipe is read under its mutex: only sleepable programs may call it.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct file *f = ctx_file(ctx, ctx->pfd);
	char buf[16];
	int n;

	if (!f)
		return 2;
	n = bpf_crib_pipe_read(f, 0, buf, sizeof(buf));
	bpf_crib_put_file(f);
	return n;
}
