// verdict: accept
// run: 0
// expect-rfd: 0
// Insane version-2 values: tos > 255 (-EINVAL), unknown ifindex (-ENODEV).
// A kernel that only knows version 1 sees a non-zero unknown tail instead
// (-E2BIG); the program asks the kernel's BTF which one it runs on.
#include "common.h"

#define ENODEV 19

static __always_inline int try(struct sock *sk, struct bpf_crib_skb_info_v2 *info)
{
	char data[16] = RESTORE_PAYLOAD;

	return queue_rcv(sk, info, sizeof(*info), data,
				      sizeof(RESTORE_PAYLOAD) - 1);
}

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->rfd);
	struct bpf_crib_skb_info_v2 info;
	int v1 = bpf_core_type_size(struct bpf_crib_skb_info) == BPF_CRIB_SKB_INFO_SZ_V1;
	int ret = 0;

	if (!sk)
		return 2;
	restore_info(&info, sizeof(info), 2);
	info.tos = 256;
	if (try(sk, &info) != (v1 ? -E2BIG : -EINVAL))
		ret = 13;
	restore_info(&info, sizeof(info), 2);
	info.ifindex = 4242;
	if (!ret && try(sk, &info) != (v1 ? -E2BIG : -ENODEV))
		ret = 14;
	bpf_crib_sock_release(sk);
	return ret;
}
