// verdict: accept
// types: crib,syscall
// run: 0
// Read the loader's pipe twice: the same bytes both times (nothing is
// consumed; the loader checks the pipe afterwards too), then 0 past the end.
#include "common.h"

struct buf64 {
	char b[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct buf64);
} bufs SEC(".maps");

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	const char want[] = TEST_PAYLOAD;
	int n1, n2, n3, n4, i;
	struct buf64 *b;
	struct file *f;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&bufs, &zero);
	if (!t || !b) {
		if (t)
			bpf_task_release(t);
		return 2;
	}
	f = bpf_crib_file_from_fd(t, ctx->pfd);
	bpf_task_release(t);
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
