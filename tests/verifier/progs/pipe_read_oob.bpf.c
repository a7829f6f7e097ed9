// verdict: reject invalid access to map value
// buf__sz larger than the buffer: the verifier checks the copy length.
#include "common.h"

BUF_MAP(bufs, 16);

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct file *f = ctx_file(ctx, ctx->pfd);
	struct bufs_buf *b;
	__u32 zero = 0;
	int n = 0;

	b = bpf_map_lookup_elem(&bufs, &zero);
	if (!f)
		return 2;
	if (b)
		n = bpf_crib_pipe_read(f, 0, b->b, 32);
	bpf_crib_put_file(f);
	return n;
}
