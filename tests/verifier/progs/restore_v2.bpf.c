// verdict: accept
// types: crib,syscall
// run: 0
// expect-rfd: 1
// A version-2 struct with ifindex (lo) and tos.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->rfd);
	struct bpf_crib_skb_info info;
	char data[16] = RESTORE_PAYLOAD;
	int ret;

	if (!sk)
		return 2;
	restore_info(&info, BPF_CRIB_SKB_INFO_SZ_V2, 2);
	info.ifindex = 1;
	info.tos = 0x10;
	ret = bpf_crib_udp_queue_rcv(sk, &info, sizeof(info), data,
				     sizeof(RESTORE_PAYLOAD) - 1);
	bpf_crib_sock_release(sk);
	return ret;
}
