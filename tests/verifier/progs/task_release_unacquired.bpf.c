// verdict: reject expects refcounted PTR_TO_BTF_ID || Pass the resource-owning pointer returned by the matching acquire kfunc
// Releasing a task pointer that was never acquired.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	bpf_task_release(bpf_get_current_task_btf());
	return 0;
}
