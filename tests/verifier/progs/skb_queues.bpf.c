// verdict: accept
// types: crib,syscall
// run: 0
// Snapshot both queues of the loader's UDP socket: the received datagram's
// payload starts at skb->data, the corked one's after the IP and UDP
// headers the write queue keeps room for.
#include "common.h"

static __always_inline int first_payload_is(struct sock *sk, __u32 queue, __u32 off)
{
	struct bpf_iter_crib_skb it;
	struct sk_buff *skb;
	char buf[16];
	int ret = 10;

	__builtin_memset(buf, 0, sizeof(buf));
	bpf_iter_crib_skb_new(&it, sk, queue);
	skb = bpf_iter_crib_skb_next(&it);
	if (skb) {
		ret = 11;
		/* Reading a field also makes clang emit struct sk_buff in full:
		 * libbpf does not match a forward declaration to the kernel's.
		 */
		if (skb->len >= off + 4 &&
		    bpf_crib_skb_read(skb, off, buf, sizeof(buf)) >= 4 &&
		    buf[0] == 'c' && buf[1] == 'r' && buf[2] == 'i' && buf[3] == 'b')
			ret = 0;
	}
	bpf_iter_crib_skb_destroy(&it);
	return ret;
}

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->fd);
	int ret;

	if (!sk)
		return 2;
	ret = first_payload_is(sk, Q_RECEIVE, 0);
	if (!ret)
		ret = 20 + first_payload_is(sk, Q_WRITE, 28);
	if (ret == 20)
		ret = 0;
	bpf_crib_sock_release(sk);
	return ret;
}
