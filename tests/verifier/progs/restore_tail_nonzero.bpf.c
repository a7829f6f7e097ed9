// verdict: accept
// run: -7
// expect-rfd: 0
// A larger struct from a newer program whose unknown tail is not zero:
// -E2BIG, nothing queued.
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
	info.future = 1;
	ret = queue_rcv(sk, &info, sizeof(info), data,
				     sizeof(RESTORE_PAYLOAD) - 1);
	bpf_crib_sock_release(sk);
	return ret;
}
