// verdict: reject program must be sleepable to call sleepable kfunc bpf_iter_crib_skb_new
// sleepable: no
// The skb snapshot takes the socket lock.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	struct bpf_iter_crib_skb it;

	if (!sk)
		return 2;
	bpf_iter_crib_skb_new(&it, sk, Q_RECEIVE);
	bpf_iter_crib_skb_destroy(&it);
	bpf_crib_sock_release(sk);
	return 0;
}
