// SPDX-License-Identifier: GPL-2.0-only
/*
 * `crib` engine: SEC("crib") programs (BPF_PROG_TYPE_CRIB, sleepable, run
 * with BPF_PROG_RUN, ctx_in = struct crib_args) that use the CRIB kfuncs and
 * stream wire records (crib/records.h) through the crib_rb ring buffer,
 * each program ending with an END record.
 *
 * libbpf does not know the "crib" section: the loader sets the program type
 * by number (BPF_PROG_TYPE_CRIB = 33 on the patched 6.12) and falls back to
 * BPF_PROG_TYPE_SYSCALL, for which the kfuncs are registered too.
 *
 *   crib_dump_task    task identity + namespaces (bpf_task_from_vpid)
 *   crib_dump_files   every fd (bpf_iter_crib_file_*), and for sockets the
 *                     sock fields (bpf_crib_sock_from_file + CO-RE)
 *   crib_dump_vmas    memory map (bpf_iter_task_vma_*)
 *   crib_dump_queue   one socket queue (args.fd, args.queue), every frame
 *                     with its payload (bpf_iter_crib_skb_* + bpf_crib_skb_read)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "crib/records.h"
#include "crib/kfuncs.h"
#include "crib/fill.bpf.h"
#include "crib/path.bpf.h"
#include "crib/emit.bpf.h"
#include "crib/dump.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define ESRCH 3
#define EBADF 9
#define ENOMEM 12
#define ENOTSOCK 88

/* Payload bytes of one frame record (a power of two, over the largest
 * UDP datagram: 65507 bytes). */
#define CRIB_FRAME_MAX 65536

SEC("crib")
int crib_dump_task(struct crib_args *args)
{
	return crib_dump_task_body(args);
}

SEC("crib")
int crib_dump_vmas(struct crib_args *args)
{
	return crib_dump_vmas_body(args);
}

/* The sock record of a socket file (inet or unix), if it is one. */
static __always_inline void emit_sock(struct crib_emit *e, struct file *file, __u64 ino)
{
	struct sock *sk = bpf_crib_sock_from_file(file);
	__u16 family;

	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET || family == AF_INET6) {
		struct crib_rec_inet *r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);

		if (r) {
			crib_fill_inet(r, sk, ino);
			crib_submit(e, r);
		} else {
			e->dropped++;
		}
	} else if (family == 1 /* AF_UNIX */) {
		struct crib_rec_unix *r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r) + 256, 0);

		if (r) {
			crib_fill_unix(r, (struct unix_sock *)sk, ino, (char *)(r + 1));
			r->hdr.len = sizeof(*r) + r->path_len + r->peer_path_len;
			crib_submit(e, r);
		} else {
			e->dropped++;
		}
	}
	bpf_crib_sock_release(sk);
}

SEC("crib")
int crib_dump_files(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_FILES };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct bpf_iter_crib_file it;
	struct file *file;

	/* args->fd: first fd of a batch resumed after the ring filled up */
	int start = args->fd > 0 ? args->fd : 0;
	int err = 0;

	if (!task)
		return crib_end(&e, -ESRCH);
	bpf_iter_crib_file_new(&it, task);
	/* an open-coded iterator loop: the verifier checks one iteration */
	while ((file = bpf_iter_crib_file_next(&it))) {
		struct crib_rec_file *r;
		__u64 ino;
		__u32 mode;
		int fd;

		fd = bpf_iter_crib_file_fd(&it);
		if (fd < start)
			continue;
		if (!crib_ring_room()) {
			err = -CRIB_EAGAIN;
			break;
		}
		r = crib_rec_buf();
		if (!r) {
			e.dropped++;
			continue;
		}
		__builtin_memset(r, 0, sizeof(*r));
		crib_fill_file(r, task, fd, file);
		r->path_len = crib_path_of(file, (struct crib_path_out *)(r + 1));
		crib_hdr(&r->hdr, CRIB_REC_FILE, CRIB_REC_FILE_V1, sizeof(*r) + r->path_len);
		mode = r->mode;
		ino = r->ino;
		crib_output(&e, r, sizeof(*r) + r->path_len);
		if ((mode & 0170000) == 0140000 /* S_IFSOCK */)
			emit_sock(&e, file, ino);
	}
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(task);
	return crib_end(&e, err);
}

/* Offset of the payload from skb->data, for a frame of a queue. */
static __always_inline __u32 payload_offset(struct sock *sk, struct sk_buff *skb, __u32 queue, bool first)
{
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u32 off = 0;

	if (family == 1 /* AF_UNIX */) {
		/* a stream skb the owner read in part: UNIXCB(skb).consumed */
		struct unix_skb_parms *cb = (void *)&skb->cb;

		/* guarded: a kernel whose BTF lacks the type still loads */
		if (bpf_core_type_exists(struct unix_skb_parms) &&
		    BPF_CORE_READ(sk, sk_type) == 1 /* SOCK_STREAM */)
			off = BPF_CORE_READ(cb, consumed);
		return off;
	}
	if (proto == IPPROTO_UDP && queue == CRIB_QUEUE_WRITE) {
		/* __ip_append_data(): data starts at the room for the IP header;
		 * the first skb of the pending frame also holds the UDP header */
		off = BPF_CORE_READ(skb, transport_header) - (__u32)(data - head);
		if (first)
			off += 8;
		return off;
	}
	if (proto == IPPROTO_TCP && queue == CRIB_QUEUE_RECEIVE) {
		/* unread part: from copied_seq (TCP_SKB_CB(skb)->seq is cb[0..4]) */
		__u32 seq = 0, copied = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);

		bpf_probe_read_kernel(&seq, sizeof(seq), &skb->cb);
		if ((__s32)(copied - seq) > 0)
			off = copied - seq;
	}
	return off;
}

/* Receive-queue metadata: source address/port from the headers. */
static __always_inline void frame_source(struct crib_rec_skb *r, struct sock *sk, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 port = 0;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return;
	if (family == AF_INET) {
		bpf_probe_read_kernel(r->addr, 4, head + nh + 12);
		r->family = AF_INET;
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(r->addr, 16, head + nh + 8);
		r->family = AF_INET6;
	}
	bpf_probe_read_kernel(&port, sizeof(port), head + th);
	r->port = __builtin_bswap16(port);
}

/* One frame record (header + up to 64 KiB of payload) is built here and
 * copied to the ring buffer at its real size. An ARRAY indexed by CPU: too
 * big for a per-CPU map value, and BPF_PROG_RUN pins the program to one CPU.
 * The loader sets max_entries to the number of possible CPUs. */
struct frame_buf {
	struct crib_rec_skb rec;
	__u8 data[CRIB_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct frame_buf);
	__uint(max_entries, 1);
} crib_frame_buf SEC(".maps");

SEC("crib")
int crib_dump_queue(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_QUEUES };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	__u32 queue = args->queue, index = 0, cpu = bpf_get_smp_processor_id();
	/* a flag, not index == 0: branching on the counter would make it
	 * precise and keep the iterator loop from converging */
	bool first = true;
	int fd = args->fd;
	struct bpf_iter_crib_skb it;
	struct frame_buf *fb;
	struct sk_buff *skb;
	struct file *file;
	struct sock *sk;
	__u64 ino;

	fb = bpf_map_lookup_elem(&crib_frame_buf, &cpu);
	if (!fb) {
		if (task)
			bpf_task_release(task);
		return crib_end(&e, -ENOMEM);
	}
	if (!task)
		return crib_end(&e, -ESRCH);
	file = bpf_crib_file_from_fd(task, fd);
	bpf_task_release(task);
	if (!file)
		return crib_end(&e, -EBADF);
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	sk = bpf_crib_sock_from_file(file);
	bpf_crib_put_file(file);
	if (!sk)
		return crib_end(&e, -ENOTSOCK);

	bpf_iter_crib_skb_new(&it, sk, queue);
	while ((skb = bpf_iter_crib_skb_next(&it))) {
		struct crib_rec_skb *r = &fb->rec;
		__u32 len = BPF_CORE_READ(skb, len);
		__u32 start = payload_offset(sk, skb, queue, first);
		__u32 total = start < len ? len - start : 0;
		int n = 0;

		__builtin_memset(r, 0, sizeof(*r));
		r->sock_ino = ino;
		r->fd = fd;
		r->queue = queue;
		r->index = index;
		r->frame_len = total;
		r->tstamp_ns = BPF_CORE_READ(skb, tstamp);
		r->mark = BPF_CORE_READ(skb, mark);
		if (queue == CRIB_QUEUE_RECEIVE)
			frame_source(r, sk, skb);
		if (total) {
			/* the whole frame in one read; a frame over CRIB_FRAME_MAX
			 * arrives cut, which userspace reports (data < frame_len) */
			n = bpf_crib_skb_read(skb, start, fb->data, CRIB_FRAME_MAX - 1);
			if (n < 0) {
				crib_error(&e, n, ino);
				n = 0;
			}
		}
		r->flags = CRIB_SKB_FIRST | CRIB_SKB_LAST;
		r->data_len = n & (CRIB_FRAME_MAX - 1);
		crib_hdr(&r->hdr, CRIB_REC_SKB, CRIB_REC_SKB_V1, sizeof(*r) + r->data_len);
		if (bpf_ringbuf_output(&crib_rb, fb, sizeof(*r) + (r->data_len & (CRIB_FRAME_MAX - 1)), 0))
			e.dropped++;
		else
			e.records++;
		index++;
		first = false;
	}
	bpf_iter_crib_skb_destroy(&it);
	bpf_crib_sock_release(sk);
	return crib_end(&e, 0);
}
