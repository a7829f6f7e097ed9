// verdict: reject must be referenced or trusted
// A mapping cast from an address (bpf_rdonly_cast) is not trusted: without
// the iterator's mmap lock, vm_file could change under d_path().
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma, *v;
	char buf[64];
	int n = 0;

	if (!t)
		return 2;
	bpf_iter_task_vma_new(&it, t, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		v = bpf_rdonly_cast(vma, bpf_core_type_id_kernel(struct vm_area_struct));
		n = bpf_crib_vma_path(v, buf, sizeof(buf));
		break;
	}
	bpf_iter_task_vma_destroy(&it);
	bpf_task_release(t);
	return n > 0 ? 0 : 1;
}
