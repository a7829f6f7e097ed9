// verdict: accept
// types: crib,syscall
// run: 0
// Read the loader's pipe twice: the same bytes both times (nothing is
// consumed; the loader checks the pipe afterwards too), then 0 past the end.
#include "common.h"

BUF_MAP(bufs, 64);

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct bufs_buf *b = bpf_map_lookup_elem(&bufs, &(__u32){0});
	const char want[] = TEST_PAYLOAD;
	int n1, n2, n3, n4;
	struct file *f;

	if (!b)
		return 2;
	f = ctx_file(ctx, ctx->pfd);
	if (!f)
		return 2;
	n1 = bpf_crib_pipe_read(f, 0, b->b, sizeof(b->b));
	n2 = bpf_crib_pipe_read(f, 0, b->b, sizeof(b->b));
	n3 = bpf_crib_pipe_read(f, 5, b->b, 4);	/* "veri" */
	n4 = bpf_crib_pipe_read(f, sizeof(want) - 1, b->b, sizeof(b->b));
	bpf_crib_put_file(f);
	if (n1 != sizeof(want) - 1 || n2 != n1 || n3 != 4 || n4 != 0)
		return 3;
	if (b->b[0] != 'v' || b->b[3] != 'i')
		return 4;
	return 0;
}
