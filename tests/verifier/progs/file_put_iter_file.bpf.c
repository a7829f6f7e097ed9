// verdict: reject expects refcounted PTR_TO_BTF_ID || Pass the resource-owning pointer returned by the matching acquire kfunc
// Files from the iterator belong to it: putting one is a release of a
// pointer the program did not acquire.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_crib_file it;
	struct file *f;

	if (!t)
		return 2;
	bpf_iter_crib_file_new(&it, t);
	f = bpf_iter_crib_file_next(&it);
	if (f)
		bpf_crib_put_file(f);
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(t);
	return 0;
}
