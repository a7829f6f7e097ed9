// verdict: accept
// sleepable: no
// run: 0
// The file iterator needs no sleepable program.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_file it;
	struct file *f;
	int ret = 1;

	if (!t)
		return 2;
	bpf_iter_crib_file_new(&it, t);
	while ((f = bpf_iter_crib_file_next(&it))) {
		if (bpf_iter_crib_file_fd(&it) == ctx->fd && f->private_data) {
			ret = 0;
			break;
		}
	}
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(t);
	return ret;
}
