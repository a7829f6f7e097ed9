// verdict: accept
// types: crib,syscall
// run: 0
// expect-rfd: 1
// run-v1: -7
// expect-rfd-v1: 0
// A version-2 struct with ifindex (lo) and tos; a kernel that only knows
// version 1 refuses the non-zero fields it does not understand (-E2BIG).
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
	restore_info(&info, BPF_CRIB_SKB_INFO_SZ_V2, 2);
	info.ifindex = 1;
	info.tos = 0x10;
	ret = queue_rcv(sk, &info, sizeof(info), data,
				     sizeof(RESTORE_PAYLOAD) - 1);
	bpf_crib_sock_release(sk);
	return ret;
}
