// verdict: accept
// run: 0
// expect-rfd: 1
// A larger struct from a newer program whose unknown tail is zero: accepted.
#include "common.h"

struct info_v3 {
	struct bpf_crib_skb_info_v2 v2;
	__u64 future;
};

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->rfd);
	struct info_v3 info;
	char data[16] = RESTORE_PAYLOAD;
	int ret;

	if (!sk)
		return 2;
	restore_info(&info.v2, sizeof(info), 3);
	info.future = 0;
	ret = queue_rcv(sk, &info, sizeof(info), data,
				     sizeof(RESTORE_PAYLOAD) - 1);
	bpf_crib_sock_release(sk);
	return ret;
}
