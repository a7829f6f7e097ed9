// verdict: reject invalid bpf_context access
// The CRIB context is read-only.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	ctx->pid = 1;
	return 0;
}
