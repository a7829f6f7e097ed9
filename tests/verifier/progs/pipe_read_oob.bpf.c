// verdict: reject invalid access to map value
// buf__sz larger than the buffer: the verifier checks the copy length.
#include "common.h"

struct buf16 {
	char b[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct buf16);
} bufs SEC(".maps");

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct buf16 *b;
	struct file *f;
	__u32 zero = 0;
	int n = 0;

	b = bpf_map_lookup_elem(&bufs, &zero);
	if (!t)
		return 2;
	f = bpf_crib_file_from_fd(t, ctx->pfd);
	bpf_task_release(t);
	if (!f)
		return 2;
	if (b)
		n = bpf_crib_pipe_read(f, 0, b->b, 32);
	bpf_crib_put_file(f);
	return n;
}
