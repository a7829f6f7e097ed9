// verdict: reject Unreleased reference
// A sock reference that is never released.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);

	return sk ? 0 : 1;
}
