// verdict: reject program must be sleepable to call sleepable kfunc bpf_crib_udp_queue_rcv
// sleepable: no
// Restore allocates: sleepable programs only.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->rfd);
	struct bpf_crib_skb_info_v2 info;
	char data[16] = RESTORE_PAYLOAD;
	int ret;

	if (!sk)
		return 2;
	restore_info(&info, sizeof(info), 2);
	ret = queue_rcv(sk, &info, sizeof(info), data, 13);
	bpf_crib_sock_release(sk);
	return ret;
}
