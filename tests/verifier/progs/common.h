/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the verifier accept/reject programs. */
#ifndef __CRIB_VERIFIER_COMMON_H
#define __CRIB_VERIFIER_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
/* crib_verifier build defines CRIB_VMLINUX_HAS_CRIB_TYPES when vmlinux.h
 * (from the kernel under test) already has the CRIB structs. */
#include "crib/kfuncs.h"

/* Same values as <linux/bpf_crib.h>; BTF may not carry the enum. */
#define Q_WRITE 0
#define Q_RECEIVE 1

#define E2BIG 7
#define EINVAL 22
#define EPROTOTYPE 91

/* What the loader passes in ctx_in (see README.md). */
struct crib_test_ctx {
	int pid;
	int fd;		/* UDP socket: 1 datagram received, 1 corked */
	int rfd;	/* empty UDP socket, target of restore tests */
	int port;	/* host-order port fd is bound to */
	int pfd;	/* read end of a pipe holding TEST_PAYLOAD */
	int _pad;
};

/* Payload the loader queues on both queues of fd. */
#define TEST_PAYLOAD "crib-verifier"

char LICENSE[] SEC("license") = "GPL";

/* A referenced file for the loader's fd (bpf_crib_put_file), or NULL. */
static __always_inline struct file *ctx_file(struct crib_test_ctx *ctx, int fd)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f;

	if (!t)
		return NULL;
	f = bpf_crib_file_from_fd(t, fd);
	bpf_task_release(t);
	return f;
}

/* A referenced sock for the loader's fd, or NULL. */
static __always_inline struct sock *ctx_sock(struct crib_test_ctx *ctx, int fd)
{
	struct file *f = ctx_file(ctx, fd);
	struct sock *sk;

	if (!f)
		return NULL;
	sk = bpf_crib_sock_from_file(f);
	bpf_crib_put_file(f);
	return sk;
}

/* A one-entry array NAME of struct NAME_buf { char b[SIZE]; }: buffers
 * bigger than the stack allows, or of a size the verifier must check. */
#define BUF_MAP(name, size)						\
	struct name##_buf {						\
		char b[size];						\
	};								\
	struct {							\
		__uint(type, BPF_MAP_TYPE_ARRAY);			\
		__uint(max_entries, 1);					\
		__type(key, __u32);					\
		__type(value, struct name##_buf);			\
	} name SEC(".maps")

/* 10.1.2.3:4242, the source restore programs give their datagrams. */
#define RESTORE_SADDR 0x0302010a
#define RESTORE_SPORT 4242
#define RESTORE_PAYLOAD "crib-restored"
#define AF_INET 2
#define AF_INET6 10

/*
 * The restore struct is filled as struct bpf_crib_skb_info_v2 (generated in
 * crib/kfuncs.h from kfunc-specs/): deliberately not vmlinux.h's struct
 * bpf_crib_skb_info, whose preserve_access_index would make CO-RE relocate
 * every field write to the running kernel's layout and fail on a kernel
 * without the field. The kernel's __sz rules handle the difference.
 */

/* Queue data as one datagram described by info on sk. */
#define queue_rcv(sk, info, info_sz, data, data_sz) \
	bpf_crib_udp_queue_rcv(sk, (const struct bpf_crib_skb_info *)(info), \
			       info_sz, data, data_sz)

static __always_inline void restore_info(struct bpf_crib_skb_info_v2 *info,
					 __u32 sz, __u32 version)
{
	__builtin_memset(info, 0, sizeof(*info));
	info->sz = sz;
	info->version = version;
	info->family = AF_INET;
	*(__u32 *)info->saddr = RESTORE_SADDR;
	info->sport = __builtin_bswap16(RESTORE_SPORT);
}

#endif
