// verdict: reject must be referenced or trusted
// A sock walked from an skb is not trusted (KF_TRUSTED_ARGS).
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	struct bpf_crib_skb_info_v2 info;
	struct bpf_iter_crib_skb it;
	char data[16] = RESTORE_PAYLOAD;
	struct sk_buff *skb;

	if (!sk)
		return 2;
	restore_info(&info, sizeof(info), 2);
	bpf_iter_crib_skb_new(&it, sk, Q_RECEIVE);
	skb = bpf_iter_crib_skb_next(&it);
	if (skb && skb->sk)
		queue_rcv(skb->sk, &info, sizeof(info), data, 13);
	bpf_iter_crib_skb_destroy(&it);
	bpf_crib_sock_release(sk);
	return 0;
}
