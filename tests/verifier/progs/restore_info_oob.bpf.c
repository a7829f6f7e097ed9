// verdict: reject invalid access to map value
// info__sz larger than the memory behind info.
#include "common.h"

struct info_v1 {
	char b[BPF_CRIB_SKB_INFO_SZ_V1];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct info_v1);
} infos SEC(".maps");

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct sock *sk = ctx_sock(ctx, ctx->rfd);
	char data[16] = RESTORE_PAYLOAD;
	struct info_v1 *info;
	__u32 zero = 0;
	int ret = 0;

	if (!sk)
		return 2;
	info = bpf_map_lookup_elem(&infos, &zero);
	if (info)
		ret = queue_rcv(sk, info, BPF_CRIB_SKB_INFO_SZ_V2,
					     data, 13);
	bpf_crib_sock_release(sk);
	return ret;
}
