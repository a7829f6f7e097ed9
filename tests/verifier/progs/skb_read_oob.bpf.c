// verdict: reject invalid access to map value
// buf__sz larger than the buffer: the verifier checks the copy length.
#include "common.h"

struct buf16 {
	char b[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct buf16);
} bufs SEC(".maps");

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	struct bpf_iter_crib_skb it;
	struct sk_buff *skb;
	struct buf16 *buf;
	__u32 zero = 0;

	if (!sk)
		return 2;
	buf = bpf_map_lookup_elem(&bufs, &zero);
	bpf_iter_crib_skb_new(&it, sk, Q_RECEIVE);
	skb = bpf_iter_crib_skb_next(&it);
	if (skb && buf && skb->len)
		bpf_crib_skb_read(skb, 0, buf, 32);
	bpf_iter_crib_skb_destroy(&it);
	bpf_crib_sock_release(sk);
	return 0;
}
