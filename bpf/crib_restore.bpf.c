// SPDX-License-Identifier: GPL-2.0-only
/*
 * `crib` engine, restore side: put one datagram back on the receive queue
 * of a freshly created UDP socket with bpf_crib_udp_queue_rcv().
 * ctx_in = struct crib_restore_args; payload in the crib_restore_data map.
 *
 * struct bpf_crib_skb_info is append-only and versioned by size: the
 * program passes the size the running kernel knows (CO-RE type size of the
 * kernel's struct), so one object works on a v1-only kernel (40 bytes, no
 * ifindex/tos) and on a v2 kernel (48 bytes).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "crib/records.h"
#include "crib/kfuncs.h"
#include "crib/emit.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ESRCH 3
#define EBADF 9
#define EINVAL 22
#define ENOTSOCK 88
#define EOPNOTSUPP 95

struct restore_data {
	__u8 b[CRIB_RESTORE_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct restore_data);
	__uint(max_entries, 1);
} crib_restore_data SEC(".maps");

/* The size of struct bpf_crib_skb_info in the running kernel. */
static __always_inline __u32 kernel_info_size(void)
{
	if (!bpf_core_type_exists(struct bpf_crib_skb_info))
		return BPF_CRIB_SKB_INFO_SZ_V1;
	return bpf_core_type_size(struct bpf_crib_skb_info);
}

SEC("crib")
int crib_restore_udp_rcv(struct crib_restore_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_RESTORE };
	struct bpf_crib_skb_info info = {};
	__u32 zero = 0, len = args->data_len, sz = kernel_info_size();
	struct restore_data *data;
	struct task_struct *task;
	struct file *file;
	struct sock *sk;
	int ret;

	crib_begin(&e);
	data = bpf_map_lookup_elem(&crib_restore_data, &zero);
	if (!data || len >= CRIB_RESTORE_DATA_MAX)
		return crib_end(&e, -EINVAL);
	if (sz < BPF_CRIB_SKB_INFO_SZ_V1 || sz > sizeof(info))
		return crib_end(&e, -EINVAL);
	info.sz = sz;
	info.version = sz >= BPF_CRIB_SKB_INFO_SZ_V2 ? 2 : 1;
	info.tstamp_ns = args->tstamp_ns;
	__builtin_memcpy(info.saddr, args->saddr, sizeof(info.saddr));
	info.sport = __builtin_bswap16(args->sport);
	info.family = args->family;
	info.mark = args->mark;
	if (info.version >= 2) {
		info.ifindex = args->ifindex;
		info.tos = args->tos;
	} else if (args->ifindex || args->tos) {
		/* the kernel's v1 struct has no room for them: refuse rather
		 * than queue the datagram without what the caller asked for */
		return crib_end(&e, -EOPNOTSUPP);
	}

	task = bpf_task_from_vpid(args->pid);
	if (!task)
		return crib_end(&e, -ESRCH);
	file = bpf_crib_file_from_fd(task, args->fd);
	bpf_task_release(task);
	if (!file)
		return crib_end(&e, -EBADF);
	sk = bpf_crib_sock_from_file(file);
	bpf_crib_put_file(file);
	if (!sk)
		return crib_end(&e, -ENOTSOCK);
	/* the kfunc reads info__sz bytes: pass exactly what the kernel knows */
	if (sz >= BPF_CRIB_SKB_INFO_SZ_V2)
		ret = bpf_crib_udp_queue_rcv(sk, &info, BPF_CRIB_SKB_INFO_SZ_V2, data->b, len & (CRIB_RESTORE_DATA_MAX - 1));
	else
		ret = bpf_crib_udp_queue_rcv(sk, &info, BPF_CRIB_SKB_INFO_SZ_V1, data->b, len & (CRIB_RESTORE_DATA_MAX - 1));
	bpf_crib_sock_release(sk);
	return crib_end(&e, ret < 0 ? ret : 0);
}
