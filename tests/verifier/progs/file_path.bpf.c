// verdict: accept
// types: crib,syscall
// run: 0
// The path of a file the iterator holds: ctx->fd is a socket, so d_path()
// gives the socket filesystem's name, "socket:[<ino>]", NUL included.
#include "common.h"

BUF_MAP(bufs, 256);

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_file it;
	struct bufs_buf *p;
	struct file *f;
	__u32 zero = 0;
	int ret = 1;

	p = bpf_map_lookup_elem(&bufs, &zero);
	if (!t || !p) {
		if (t)
			bpf_task_release(t);
		return 2;
	}
	bpf_iter_crib_file_new(&it, t);
	while ((f = bpf_iter_crib_file_next(&it))) {
		int n;

		if (bpf_iter_crib_file_fd(&it) != ctx->fd)
			continue;
		n = bpf_crib_file_path(f, p->b, sizeof(p->b));
		if (n > 9 && p->b[0] == 's' && p->b[6] == ':' && p->b[7] == '[' &&
		    p->b[(n - 2) & 255] == ']' && p->b[(n - 1) & 255] == 0)
			ret = 0;
		else
			ret = 3;
		break;
	}
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(t);
	return ret;
}
