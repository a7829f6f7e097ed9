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
 *                     sock fields (CO-RE reads)
 *   crib_dump_vmas    memory map (bpf_iter_crib_vma_*, patch 0010; on a
 *                     kernel without it bpf_iter_task_vma_*)
 *   crib_dump_queue   one socket queue (args.fd, args.queue), every frame
 *                     with its payload (bpf_iter_crib_skb_* + bpf_crib_skb_read)
 *   crib_dump_queues  every queue of the task in one run: both queues of
 *                     each socket and the bytes of each pipe
 *                     (bpf_crib_pipe_read), resumable by fd
 *
 * Paths come from bpf_crib_file_path()/bpf_crib_vma_path() (d_path() in the
 * kernel, patch 0008) where the kernel has them; the dentry walk of
 * crib/path.bpf.h is the fallback (bpf_ksym_exists() decides at load).
 */
#define CRIB_PATH_KFUNCS 1
#define CRIB_VMA_ITER 1
#define CRIB_CLOEXEC(task, fd) crib_cloexec_cached(task, fd)
/* socket fields as direct loads (crib/fill.bpf.h) */
#define CRIB_DIRECT_READS
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

#define E2BIG 7
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

/* The sock record (inet or unix) of the socket at sock_addr (a struct
 * socket *, read through an untrusted alias: CRIB_AS). A global function,
 * so the verifier checks it once instead of in every state of the files
 * loop; it takes a plain address for that reason (the iterator's
 * reference on the file keeps the socket alive). */
__noinline int crib_emit_sock(struct crib_emit *e, __u64 sock_addr, __u64 ino)
{
	struct sock *sk;
	__u16 family;

	if (!e || !sock_addr)
		return 0;
	sk = CRIB_RD(CRIB_AS(sock_addr, socket), sk);
	if (!sk)
		return 0;
	family = CRIB_RD(sk, __sk_common.skc_family);
	/* into the batch, like the file record before it: a ring reservation
	 * per socket cost more than filling the record */
	if (family == AF_INET || family == AF_INET6) {
		struct crib_rec_inet *r = crib_rec_buf(e);

		if (r) {
			crib_fill_inet(r, sk, ino);
			crib_output(e, r, sizeof(*r));
		} else {
			e->dropped++;
		}
	} else if (family == 1 /* AF_UNIX */) {
		struct crib_rec_unix *r = crib_rec_buf(e);

		if (r) {
			crib_fill_unix(r, CRIB_AS(sk, unix_sock), ino, (char *)(r + 1));
			r->hdr.len = sizeof(*r) + r->path_len + r->peer_path_len;
			crib_output(e, r, sizeof(*r) + r->path_len + r->peer_path_len);
		} else {
			e->dropped++;
		}
	}
	return 0;
}

/* The path of a trusted file, rendered: d_path() through the kfunc, or
 * the walk (old kernel, or a path longer than the record carries: the
 * walk keeps its tail); or nothing when this run already sent it (*ref
 * then names its path slot). Only files that name a place in a
 * filesystem get a slot: every pipe and socket has a dentry of its own,
 * and would only push the shared ones out. */
static __always_inline __u32 file_path(struct file *file, __u32 mode, struct crib_path_out *out, __u32 *ref)
{
	/* S_IFREG, S_IFDIR, S_IFCHR as bits of (mode >> 12): arithmetic, not
	 * branches, so that both kinds of file share the verifier's states;
	 * a dentry of 0 is never looked up nor stored */
	__u64 cacheable = (0x114 >> ((mode >> 12) & 15)) & 1;
	struct crib_pcache_key key;
	__u32 len;

	crib_pcache_key(file, &key);
	*ref = crib_pcache_find(key.dentry * cacheable, key.mnt);
	if (*ref)
		return 0;
	if (bpf_ksym_exists(bpf_crib_file_path)) {
		int n = bpf_crib_file_path(file, out->b, CRIB_PATH_MAX);

		if (n > 0) {
			len = crib_mask_path(n - 1);
			goto remember;
		}
	}
	len = crib_path_of(file, out);
remember:
	if (len)
		*ref = crib_pcache_set(key.dentry * cacheable, key.mnt);
	return len;
}

/* The record of one open file (and of its socket): a global function, so
 * the verifier checks it once (task and file as trusted arguments)
 * instead of in every state of the files loop, where it was most of the
 * object's verification. */
__noinline int crib_emit_file(struct crib_emit *e, struct task_struct *task __arg_trusted, int fd,
			      struct file *file __arg_trusted)
{
	struct crib_rec_file *r;
	__u32 mode, ref = 0;
	__u64 ino;

	if (!e)
		return 0;
	r = crib_rec_buf(e);
	if (!r) {
		e->dropped++;
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	crib_fill_file(r, task, fd, file);
	r->path_len = file_path(file, r->mode, (struct crib_path_out *)(r + 1), &ref);
	r->path_ref = ref;
	crib_hdr(&r->hdr, CRIB_REC_FILE, CRIB_REC_FILE_V2, sizeof(*r) + r->path_len);
	mode = r->mode;
	ino = r->ino;
	crib_output(e, r, sizeof(*r) + r->path_len);
	if ((mode & 0170000) == 0140000 /* S_IFSOCK */)
		/* a probe read: on 7.x a void * loaded through an untrusted
		 * alias stays a pointer, which a global function's scalar
		 * argument refuses */
		crib_emit_sock(e, (__u64)BPF_CORE_READ(file, private_data), ino);
	return 0;
}

SEC("crib")
int crib_dump_files(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_FILES };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct bpf_iter_crib_file it;
	struct file *file;

	crib_begin(&e);
	/* args->fd: first fd of a batch resumed after the ring filled up */
	int start = args->fd > 0 ? args->fd : 0;
	int err = 0;

	if (!task)
		return crib_end(&e, -ESRCH);
	bpf_iter_crib_file_new(&it, task);
	/* an open-coded iterator loop: the verifier checks one iteration */
	while ((file = bpf_iter_crib_file_next(&it))) {
		int fd = bpf_iter_crib_file_fd(&it);

		if (fd < start)
			continue;
		if (!crib_ring_room()) {
			err = -CRIB_EAGAIN;
			break;
		}
		crib_emit_file(&e, task, fd, file);
	}
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(task);
	return crib_end(&e, err);
}

/* UDP and UDP-lite share udp_sock and the frame layout. */
static __always_inline bool crib_is_udp(struct sock *sk)
{
	__u16 proto = CRIB_RD(sk, sk_protocol);

	return proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE;
}

/* Offset of the payload from skb->data, for a frame of a queue. */
static __always_inline __u32 payload_offset(struct sock *sk, struct sk_buff *skb, __u32 queue, bool first)
{
	__u16 proto = CRIB_RD(sk, sk_protocol);
	__u16 family = CRIB_RD(sk, __sk_common.skc_family);
	unsigned char *head = CRIB_RD(skb, head);
	unsigned char *data = CRIB_RD(skb, data);
	__u32 off = 0;

	if (family == 1 /* AF_UNIX */) {
		/* a stream skb the owner read in part: UNIXCB(skb).consumed */
		struct unix_skb_parms *cb = (void *)&skb->cb;

		/* guarded: a kernel whose BTF lacks the type still loads */
		if (bpf_core_type_exists(struct unix_skb_parms) &&
		    CRIB_RD(sk, sk_type) == 1 /* SOCK_STREAM */)
			off = CRIB_RD(cb, consumed);
		return off;
	}
	if ((proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE) && queue == CRIB_QUEUE_WRITE) {
		/* __ip_append_data(): data starts at the room for the IP header;
		 * the first skb of the pending frame also holds the UDP header */
		off = CRIB_RD(skb, transport_header) - (__u32)(data - head);
		if (first)
			off += 8;
		return off;
	}
	if (proto == IPPROTO_TCP && queue == CRIB_QUEUE_RECEIVE) {
		/* unread part: from copied_seq (TCP_SKB_CB(skb)->seq is cb[0..4]) */
		__u32 seq = 0, copied = CRIB_RD(CRIB_AS(sk, tcp_sock), copied_seq);

		bpf_probe_read_kernel(&seq, sizeof(seq), &skb->cb);
		if ((__s32)(copied - seq) > 0)
			off = copied - seq;
	}
	return off;
}

/* Receive-queue metadata: source address/port from the headers. */
static __always_inline void frame_source(struct crib_rec_skb *r, struct sock *sk, struct sk_buff *skb)
{
	unsigned char *head = CRIB_RD(skb, head);
	__u16 nh = CRIB_RD(skb, network_header);
	__u16 th = CRIB_RD(skb, transport_header);
	__u16 family = CRIB_RD(sk, __sk_common.skc_family);
	__u16 port = 0;

	if (!crib_is_udp(sk))
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

/* Write-queue metadata of a pending UDP frame: its destination. The IP
 * header is built only when the frame leaves, so the address lives in the
 * cork's flow (udp_sendmsg() fills inet->cork.fl before appending); for an
 * unconnected sender that used sendto() it is the only copy. udp_sock.pending
 * says which half of the flow union is in use: a v6 socket sending to a
 * v4-mapped peer keeps an ip4 flow, written back v4-mapped. Probe reads,
 * not CRIB_RD: clang merges the direct loads of the flow union into one
 * 8-byte load that the verifier refuses as crossing its members (and a
 * corked UDP frame is rare). */
static __always_inline void frame_dest(struct crib_rec_skb *r, struct sock *sk)
{
	struct inet_sock *inet = (void *)sk;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 pending = BPF_CORE_READ((struct udp_sock *)sk, pending);
	__u16 port = 0;

	if (!crib_is_udp(sk))
		return;
	if (pending == AF_INET) {
		__u32 a = BPF_CORE_READ(inet, cork.fl.u.ip4.daddr);

		port = BPF_CORE_READ(inet, cork.fl.u.ip4.uli.ports.dport);
		if (family == AF_INET6) {
			r->addr[10] = 0xff;
			r->addr[11] = 0xff;
			__builtin_memcpy(&r->addr[12], &a, 4);
			r->family = AF_INET6;
		} else {
			__builtin_memcpy(r->addr, &a, 4);
			r->family = AF_INET;
		}
	} else if (pending == AF_INET6) {
		BPF_CORE_READ_INTO(&r->addr, inet, cork.fl.u.ip6.daddr);
		port = BPF_CORE_READ(inet, cork.fl.u.ip6.uli.ports.dport);
		r->family = AF_INET6;
	} else {
		return;
	}
	r->port = __builtin_bswap16(port);
}

/* Everything of a frame record but the payload, into r; returns where
 * the payload starts in the skb. Plain addresses, read through untrusted
 * aliases (CRIB_AS): a global function, verified once, where inlined its
 * branches were verified in every state of the skb loop (most of the
 * queue programs' load time). */
__noinline __u32 crib_frame_meta(struct crib_rec_skb *r, __u64 sk_addr, __u64 skb_addr, __u32 queue,
				 __u32 first)
{
	struct sock *sk = CRIB_AS(sk_addr, sock);
	struct sk_buff *skb = CRIB_AS(skb_addr, sk_buff);
	__u32 len, start;

	if (!r || !sk || !skb)
		return 0;
	len = CRIB_RD(skb, len);
	start = payload_offset(sk, skb, queue, first);
	r->frame_len = start < len ? len - start : 0;
	r->tstamp_ns = CRIB_RD(skb, tstamp);
	r->mark = CRIB_RD(skb, mark);
	if (queue == CRIB_QUEUE_RECEIVE)
		frame_source(r, sk, skb);
	else if (queue == CRIB_QUEUE_WRITE)
		frame_dest(r, sk);
	return start;
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

/* This CPU's frame buffer; without one the task reference (if any) is
 * put back, so the caller only has to end the run. */
static __always_inline struct frame_buf *frame_buf_or_put(struct task_struct *task)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct frame_buf *fb = bpf_map_lookup_elem(&crib_frame_buf, &cpu);

	if (!fb && task)
		bpf_task_release(task);
	return fb;
}

/* The address a BTF pointer holds, as a plain number (for the global
 * functions, which take no trusted pointers): read back from the stack. */
static __always_inline __u64 crib_addr_of(void *p)
{
	__u64 a = 0;

	bpf_probe_read_kernel(&a, sizeof(a), &p);
	return a;
}

/* Every frame of one queue of sk, a record each. fb->rec.sock_ino and .fd
 * are set by the caller. -EAGAIN when the ring is full (the caller resumes
 * at this fd), else 0. Global, with the caller's referenced sk as a
 * trusted argument (what the kfuncs need): verified once, not at each
 * call in every state of the caller's files loop. */
__noinline int dump_sock_queue(struct crib_emit *e, struct frame_buf *fb, struct sock *sk __arg_trusted,
			       __u64 sk_addr, __u32 queue)
{
	/* a flag, not index == 0: branching on the counter would make it
	 * precise and keep the iterator loop from converging */
	__u32 first = 1;
	struct bpf_iter_crib_skb it;
	struct sk_buff *skb;
	__u32 index = 0;
	int err = 0;
	__u64 ino;
	int fd;

	if (!e || !fb)
		return 0;
	ino = fb->rec.sock_ino;
	fd = fb->rec.fd;
	bpf_iter_crib_skb_new(&it, sk, queue);
	while ((skb = bpf_iter_crib_skb_next(&it))) {
		struct crib_rec_skb *r = &fb->rec;
		__u32 start;
		int n = 0;

		__builtin_memset(r, 0, sizeof(*r));
		start = crib_frame_meta(r, sk_addr, crib_addr_of(skb), queue, first);
		r->sock_ino = ino;
		r->fd = fd;
		r->queue = queue;
		r->index = index;
		if (r->frame_len) {
			/* the whole frame in one read; a frame over CRIB_FRAME_MAX
			 * arrives cut, which userspace reports (data < frame_len) */
			n = bpf_crib_skb_read(skb, start, fb->data, CRIB_FRAME_MAX - 1);
			if (n < 0) {
				crib_error(e, n, ino);
				n = 0;
			}
		}
		r->flags = CRIB_SKB_FIRST | CRIB_SKB_LAST;
		r->data_len = n & (CRIB_FRAME_MAX - 1);
		crib_hdr(&r->hdr, CRIB_REC_SKB, CRIB_REC_SKB_V1, sizeof(*r) + r->data_len);
		if (!crib_ring_fits(sizeof(*r) + r->data_len)) {
			err = -CRIB_EAGAIN;
			break;
		}
		crib_output_raw(e, fb, sizeof(*r) + (r->data_len & (CRIB_FRAME_MAX - 1)));
		index++;
		first = 0;
	}
	bpf_iter_crib_skb_destroy(&it);
	return err;
}

SEC("crib")
int crib_dump_queue(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_QUEUES };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	int fd = args->fd, err;
	struct frame_buf *fb;
	struct file *file;
	struct sock *sk;
	__u64 ino;

	crib_begin(&e);
	fb = frame_buf_or_put(task);
	if (!fb)
		return crib_end(&e, -ENOMEM);
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
	fb->rec.sock_ino = ino;
	fb->rec.fd = fd;
	err = dump_sock_queue(&e, fb, sk, crib_addr_of(sk), args->queue);
	bpf_crib_sock_release(sk);
	return crib_end(&e, err);
}

/* Pipe data in chunks of CRIB_FRAME_MAX - 1 bytes: at most this many
 * (the ring holds 4 MiB per batch anyway). */
#define CRIB_PIPE_CHUNKS 64

/* The bytes buffered in the pipe of file, left in place. -EAGAIN when the
 * ring is full, else 0 (a read error is reported as an ERROR record).
 * Global, the file a trusted argument: verified once. */
__noinline int dump_pipe(struct crib_emit *e, struct frame_buf *fb, struct file *file __arg_trusted,
			 __u64 ino, int fd)
{
	__u32 off = 0;
	int i;

	if (!e || !fb || !bpf_ksym_exists(bpf_crib_pipe_read))
		return 0;
	bpf_for(i, 0, CRIB_PIPE_CHUNKS) {
		struct crib_rec_skb *r = &fb->rec;
		int n = bpf_crib_pipe_read(file, off, fb->data, CRIB_FRAME_MAX - 1);

		if (n < 0) {
			crib_error(e, n, ino);
			return 0;
		}
		if (n == 0 && off == 0)
			return 0;	/* empty: no record */
		__builtin_memset(r, 0, sizeof(*r));
		r->sock_ino = ino;
		r->fd = fd;
		r->queue = CRIB_QUEUE_PIPE;
		r->index = i;
		r->offset = off;
		r->data_len = n & (CRIB_FRAME_MAX - 1);
		/* a short chunk is the last one (an exact fit ends with an empty one) */
		r->flags = (off == 0 ? CRIB_SKB_FIRST : 0) | (n < CRIB_FRAME_MAX - 1 ? CRIB_SKB_LAST : 0);
		crib_hdr(&r->hdr, CRIB_REC_SKB, CRIB_REC_SKB_V1, sizeof(*r) + r->data_len);
		if (!crib_ring_fits(sizeof(*r) + r->data_len))
			return -CRIB_EAGAIN;
		crib_output_raw(e, fb, sizeof(*r) + (r->data_len & (CRIB_FRAME_MAX - 1)));
		if (n < CRIB_FRAME_MAX - 1)
			return 0;
		off += n;
	}
	crib_error(e, -E2BIG, ino);
	return 0;
}

/* Inodes whose queues this dump generation already has, so the second
 * fd of a pipe (or a dup'ed socket) is skipped: a direct-mapped table by
 * inode (key << 1 | is_pipe). A collision only costs a second copy, which
 * userspace drops (it keeps the lowest fd's); cheaper than a hash map,
 * whose updates allocate. */
#define CRIB_SEEN_SLOTS 16384

struct seen_slot {
	__u64 key;
	__u32 gen;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct seen_slot);
	__uint(max_entries, CRIB_SEEN_SLOTS);
} crib_seen SEC(".maps");

static __always_inline bool seen_before(__u64 key, __u32 gen)
{
	__u32 slot = (key >> 1) & (CRIB_SEEN_SLOTS - 1);
	struct seen_slot *v = bpf_map_lookup_elem(&crib_seen, &slot);

	if (!v)
		return false;
	if (v->key == key && v->gen == gen)
		return true;
	v->key = key;
	v->gen = gen;
	return false;
}

SEC("crib")
int crib_dump_queues(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_ALL_QUEUES };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	__u32 gen = args->flags;
	int start = args->fd > 0 ? args->fd : 0;
	struct bpf_iter_crib_file it;
	struct frame_buf *fb;
	struct file *file;
	int err = 0;

	crib_begin(&e);
	fb = frame_buf_or_put(task);
	if (!fb)
		return crib_end(&e, -ENOMEM);
	if (!task)
		return crib_end(&e, -ESRCH);
	bpf_iter_crib_file_new(&it, task);
	while ((file = bpf_iter_crib_file_next(&it))) {
		/* direct loads through an untrusted alias (see crib_untrusted) */
		struct inode *inode = crib_untrusted(file, file)->f_inode;
		__u32 mode = inode->i_mode & 0170000;
		__u64 ino = inode->i_ino;
		int fd = bpf_iter_crib_file_fd(&it);

		if (fd < start)
			continue;
		if (mode == 0140000 /* S_IFSOCK */) {
			struct sock *sk;

			if (seen_before(ino << 1, gen))
				continue;
			sk = bpf_crib_sock_from_file(file);
			if (!sk)
				continue;
			fb->rec.sock_ino = ino;
			fb->rec.fd = fd;
			err = dump_sock_queue(&e, fb, sk, crib_addr_of(sk), CRIB_QUEUE_RECEIVE);
			if (!err)
				err = dump_sock_queue(&e, fb, sk, crib_addr_of(sk), CRIB_QUEUE_WRITE);
			bpf_crib_sock_release(sk);
		} else if (mode == 0010000 /* S_IFIFO */ && bpf_ksym_exists(bpf_crib_pipe_read)) {
			if (seen_before((ino << 1) | 1, gen))
				continue;
			err = dump_pipe(&e, fb, file, ino, fd);
		}
		if (err) {
			/* resume here: userspace drops this fd's records so far */
			crib_error(&e, err, fd);
			break;
		}
	}
	bpf_iter_crib_file_destroy(&it);
	bpf_task_release(task);
	return crib_end(&e, err);
}
