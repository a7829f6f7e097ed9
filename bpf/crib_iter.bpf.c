// SPDX-License-Identifier: GPL-2.0-only
/*
 * `upstream` engine, iterator half: BPF iterators that stream wire records
 * (crib/records.h) with bpf_seq_write(). Works on stock kernels (5.8+; the
 * per-task link filter needs 6.1, older kernels fall back to target_tgid).
 *
 *   iter/task       task identity and namespaces
 *   iter/task_file  open files (path via bpf_d_path, allowed for iterators)
 *   iter/task_vma   memory map (the smaps replacement); paths by name walk
 *                   (crib/path.bpf.h), not bpf_d_path: vma->vm_file is a
 *                   walked pointer whose trust level differs between
 *                   kernels (6.18.44 builds disagree), and bpf_d_path
 *                   refuses an untrusted one
 *   iter/task_file  (dump_file_socks) the sockets behind the task's fds:
 *                   file->private_data is the struct socket
 *   iter/tcp, iter/udp, iter/unix   the same sockets found from the other
 *                   side, filtered to the task's socket inodes (sock_inos,
 *                   filled by userspace): a second path, compared in tests
 *
 * Globals live in .bss, not .rodata, so one loaded object serves many dumps
 * (userspace rewrites them between dumps).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "crib/records.h"
#include "crib/kfuncs.h"
#include "crib/fill.bpf.h"
#include "crib/path.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* One struct, so userspace writes it at a known offset of .bss. */
struct {
	__u32 target_tgid;	/* 0 = every task (the link filter does the work) */
	__u32 filter_socks;	/* 1 = only sockets whose inode is in sock_inos */
} cfg;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, 65536);
} sock_inos SEC(".maps");

/* Records are built here, not on the 512-byte stack. */
struct scratch {
	union {
		struct crib_rec_task task;
		struct crib_rec_file file;
		struct crib_rec_vma vma;
		struct crib_rec_inet inet;
		struct crib_rec_unix unx;
		__u8 raw[sizeof(struct crib_rec_vma)];
	};
	char path[CRIB_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct scratch);
	__uint(max_entries, 1);
} scratch_map SEC(".maps");

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

/* A fixed record then `extra` bytes of path, as one stream record. */
static __always_inline void emit(struct seq_file *seq, void *rec, __u32 fixed, char *path, __u32 extra)
{
	extra &= CRIB_PATH_MASK;
	((struct crib_rec_hdr *)rec)->len = fixed + extra;
	bpf_seq_write(seq, rec, fixed);
	if (extra)
		bpf_seq_write(seq, path, extra);
}

static __always_inline bool wanted(struct task_struct *task)
{
	return !cfg.target_tgid || BPF_CORE_READ(task, tgid) == cfg.target_tgid;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct scratch *s;

	if (!task || !wanted(task) || BPF_CORE_READ(task, pid) != BPF_CORE_READ(task, tgid))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	crib_fill_task(&s->task, task);
	bpf_seq_write(ctx->meta->seq, &s->task, sizeof(s->task));
	return 0;
}

SEC("iter/task_file")
int dump_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct scratch *s;
	long n;

	if (!task || !file || !wanted(task))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	crib_hdr(&s->file.hdr, CRIB_REC_FILE, CRIB_REC_FILE_V1, sizeof(s->file));
	crib_fill_file(&s->file, task, ctx->fd, file);
	n = bpf_d_path(&file->f_path, s->path, CRIB_PATH_MAX);
	s->file.path_len = n > 1 ? (n - 1) & CRIB_PATH_MASK : 0;
	emit(ctx->meta->seq, &s->file, sizeof(s->file), s->path, s->file.path_len);
	return 0;
}

SEC("iter/task_vma")
int dump_vma(struct bpf_iter__task_vma *ctx)
{
	struct task_struct *task = ctx->task;
	struct vm_area_struct *vma = ctx->vma;
	struct file *file;
	struct scratch *s;

	if (!task || !vma || !wanted(task))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	crib_hdr(&s->vma.hdr, CRIB_REC_VMA, CRIB_REC_VMA_V1, sizeof(s->vma));
	crib_fill_vma(&s->vma, vma, s->path);
	file = vma->vm_file;
	if (file)
		s->vma.path_len = crib_path_of(file, (struct crib_path_out *)s->path) & CRIB_PATH_MASK;
	emit(ctx->meta->seq, &s->vma, sizeof(s->vma), s->path, s->vma.path_len);
	return 0;
}

SEC("iter/task_file")
int dump_file_socks(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct scratch *s;
	struct sock *sk;
	__u64 ino;
	__u16 family;

	if (!task || !file || !wanted(task))
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & 0170000) != 0140000 /* S_IFSOCK */)
		return 0;
	if (BPF_CORE_READ(file, f_flags) & 010000000 /* O_PATH: no socket behind it */)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	/* a socket file's private_data is its struct socket, which points back */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET || family == AF_INET6) {
		crib_fill_inet(&s->inet, sk, ino);
		bpf_seq_write(ctx->meta->seq, &s->inet, sizeof(s->inet));
	} else if (family == 1 /* AF_UNIX */) {
		crib_fill_unix(&s->unx, (struct unix_sock *)sk, ino, s->path);
		emit(ctx->meta->seq, &s->unx, sizeof(s->unx), s->path, s->unx.path_len + s->unx.peer_path_len);
	}
	return 0;
}

static __always_inline __u64 sock_ino(struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline bool sock_wanted(__u64 ino)
{
	return ino && (!cfg.filter_socks || bpf_map_lookup_elem(&sock_inos, &ino));
}

static __always_inline int dump_inet(struct seq_file *seq, struct sock *sk)
{
	struct scratch *s;
	__u64 ino;

	if (!sk)
		return 0;
	ino = sock_ino(sk);
	if (!sock_wanted(ino))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	crib_fill_inet(&s->inet, sk, ino);
	bpf_seq_write(seq, &s->inet, sizeof(s->inet));
	return 0;
}

SEC("iter/tcp")
int dump_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	/* time-wait and request socks have no socket file: skip them */
	if (!skc)
		return 0;
	return dump_inet(ctx->meta->seq, (struct sock *)bpf_skc_to_tcp_sock(skc));
}

SEC("iter/udp")
int dump_udp(struct bpf_iter__udp *ctx)
{
	return dump_inet(ctx->meta->seq, (struct sock *)ctx->udp_sk);
}

SEC("iter/unix")
int dump_unix(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;
	struct scratch *s;
	__u64 ino;

	if (!u)
		return 0;
	ino = sock_ino((struct sock *)u);
	if (!sock_wanted(ino))
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	crib_fill_unix(&s->unx, u, ino, s->path);
	emit(ctx->meta->seq, &s->unx, sizeof(s->unx), s->path, s->unx.path_len + s->unx.peer_path_len);
	return 0;
}
