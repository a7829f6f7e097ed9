// verdict: reject must be referenced or trusted || Pass the resource-owning pointer returned by the matching acquire kfunc
// skb->sk is not a reference the program holds (KF_RELEASE implies
// trusted arguments, so the verifier stops at the trust check).
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	struct bpf_iter_crib_skb it;
	struct sk_buff *skb;

	if (!sk)
		return 2;
	bpf_iter_crib_skb_new(&it, sk, Q_RECEIVE);
	skb = bpf_iter_crib_skb_next(&it);
	if (skb && skb->sk)
		bpf_crib_sock_release(skb->sk);
	bpf_iter_crib_skb_destroy(&it);
	bpf_crib_sock_release(sk);
	return 0;
}
