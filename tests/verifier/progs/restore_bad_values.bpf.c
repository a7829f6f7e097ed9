// verdict: accept
// run: 0
// expect-rfd: 0
// Every insane version-1 value is refused before anything is queued:
// broadcast source, family mismatch, garbage after an IPv4 address,
// version 0, a timestamp in the future (v2 fields: restore_bad_v2_values).
#include "common.h"

#define EAFNOSUPPORT 97

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
	int ret = 0;

	if (!sk)
		return 2;
	restore_info(&info, sizeof(info), 2);
	*(__u32 *)info.saddr = 0xffffffff;
	if (try(sk, &info) != -EINVAL)
		ret = 10;
	restore_info(&info, sizeof(info), 2);
	info.family = AF_INET6;
	if (!ret && try(sk, &info) != -EAFNOSUPPORT)
		ret = 11;
	restore_info(&info, sizeof(info), 2);
	info.saddr[7] = 1;
	if (!ret && try(sk, &info) != -EINVAL)
		ret = 12;
	restore_info(&info, sizeof(info), 0);
	if (!ret && try(sk, &info) != -EINVAL)
		ret = 15;
	restore_info(&info, sizeof(info), 2);
	info.tstamp_ns = 0xffffffffffffffffULL;
	if (!ret && try(sk, &info) != -EINVAL)
		ret = 16;
	bpf_crib_sock_release(sk);
	return ret;
}
