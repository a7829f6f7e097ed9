// verdict: accept
// run: 0
// expect-rfd: 1
// A version-1 struct (40 bytes) on a kernel that knows version 2: the
// missing fields get defaults and the datagram is queued.
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
	restore_info(&info, BPF_CRIB_SKB_INFO_SZ_V1, 1);
	ret = queue_rcv(sk, &info, BPF_CRIB_SKB_INFO_SZ_V1, data,
				     sizeof(RESTORE_PAYLOAD) - 1);
	bpf_crib_sock_release(sk);
	return ret;
}
