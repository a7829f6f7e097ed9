// verdict: accept
// types: crib,syscall
// run: 0
// bpf_crib_sock_from_file() on a UDP socket file; released.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	int ret;

	if (!sk)
		return 2;
	ret = sk->__sk_common.skc_num == ctx->port ? 0 : 3;
	bpf_crib_sock_release(sk);
	return ret;
}
