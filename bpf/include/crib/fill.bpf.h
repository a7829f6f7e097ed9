/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Filling wire records (records.h) from kernel objects with CO-RE reads.
 * Shared by the iterator, SEC("syscall") and SEC("crib") programs, so every
 * engine reads a field the same way. Files and VMAs are BTF pointers and
 * read with direct loads; sockets and socket buffers go through CRIB_RD
 * (below), which is a probe read or a direct load depending on the object.
 */
#ifndef CRIB_FILL_BPF_H
#define CRIB_FILL_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "crib/records.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif

/* udp_sock before 6.5 had corkflag; now it is bit 0 of udp_flags. */
struct udp_sock___old {
	int corkflag;
} __attribute__((preserve_access_index));

/* Kernel BTF ids of the structs the programs cast to, for bpf_rdonly_cast:
 * the loader writes each one into .rodata before the load (harness
 * engine/core_btf.rs, from the kernel's BTF by name), and the verifier sees
 * a frozen read-only value as a known constant. Not
 * bpf_core_type_id_kernel(): that relocation must return the kernel's own
 * ids, which forces the loader to search a BTF with every kernel type id in
 * it; with none of those relocations left, libbpf relocates against a
 * compact BTF of only the types the objects name (a tenth of the kernel's
 * types), cached per kernel. A struct added here needs nothing else. */
#define CRIB_KTYPE(name) const volatile __u32 crib_ktype_##name = 0
CRIB_KTYPE(file);
CRIB_KTYPE(task_struct);
CRIB_KTYPE(vm_area_struct);
CRIB_KTYPE(socket);
CRIB_KTYPE(sock);
CRIB_KTYPE(sk_buff);
CRIB_KTYPE(tcp_sock);
CRIB_KTYPE(udp_sock);
CRIB_KTYPE(unix_sock);

/* An untrusted alias of a BTF pointer (bpf_rdonly_cast, 6.2+). Loads
 * through it stay direct (PROBE_MEM) loads, but the verifier does not look
 * up whether each walked pointer field is trusted: that lookup
 * (btf_nested_type_is_trusted, a linear search of the kernel's BTF per
 * load and verifier state) was a quarter of the crib engine's load time.
 * Without bpf_rdonly_cast the pointer is used as it is. Kfuncs still get
 * the trusted original. */
#define crib_untrusted(p, name)                                                        \
	((struct name *)(bpf_ksym_exists(bpf_rdonly_cast) ?                            \
				 bpf_rdonly_cast((p), crib_ktype_##name) : (void *)(p)))

/* Bounded copy length for the verifier: CRIB_PATH_MAX is a power of two. */
#define CRIB_PATH_MASK (CRIB_PATH_MAX - 1)

static __always_inline void crib_hdr(struct crib_rec_hdr *h, __u16 type, __u16 version, __u32 len)
{
	h->type = type;
	h->version = version;
	h->len = len;
}

static __always_inline void crib_fill_task(struct crib_rec_task *r, struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	crib_hdr(&r->hdr, CRIB_REC_TASK, CRIB_REC_TASK_V1, sizeof(*r));
	r->tgid = BPF_CORE_READ(task, tgid);
	r->pid = BPF_CORE_READ(task, pid);
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* numbers[level] is the pid in the task's own namespace; the tgid
	 * there is the group leader's, equal for the main thread we dump. */
	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	r->ns_tgid = up.nr;
	r->ns_level = level;
	r->uid = BPF_CORE_READ(task, real_cred, uid.val);
	r->gid = BPF_CORE_READ(task, real_cred, gid.val);
	r->_pad = 0;
	r->ns_ino[CRIB_NS_PID] = BPF_CORE_READ(up.ns, ns.inum);
	r->ns_ino[CRIB_NS_NET] = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	r->ns_ino[CRIB_NS_MNT] = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	r->ns_ino[CRIB_NS_UTS] = BPF_CORE_READ(task, nsproxy, uts_ns, ns.inum);
	r->ns_ino[CRIB_NS_IPC] = BPF_CORE_READ(task, nsproxy, ipc_ns, ns.inum);
	r->ns_ino[CRIB_NS_USER] = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
	r->ns_ino[CRIB_NS_CGROUP] = BPF_CORE_READ(task, nsproxy, cgroup_ns, ns.inum);
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
}

/* The mount id of a vfsmount (struct mount embeds it). */
static __always_inline __u32 crib_mnt_id(struct vfsmount *mnt)
{
	struct mount *m = (void *)mnt - bpf_core_field_offset(struct mount, mnt);

	return BPF_CORE_READ(m, mnt_id);
}

/* Whether `fd` has close-on-exec set in `task`'s fd table (four probe
 * reads; a program may define CRIB_CLOEXEC(task, fd) to a cheaper way
 * before including this file). */
static __always_inline __u32 crib_cloexec(struct task_struct *task, int fd)
{
	unsigned long *bits = BPF_CORE_READ(task, files, fdt, close_on_exec);
	unsigned long word = 0;

	if (fd < 0 || !bits)
		return 0;
	/* unsigned: clang cannot lower a signed division for BPF */
	bpf_probe_read_kernel(&word, sizeof(word), &bits[(__u32)fd / 64]);
	return (word >> ((__u32)fd % 64)) & 1;
}

#ifdef CRIB_CLOEXEC
/* defined by the program (after emit.bpf.h) */
static __always_inline __u32 crib_cloexec_cached(struct task_struct *task, int fd);
#endif

/* Fixed part of a FILE record; the caller appends the path. `file` and
 * `task` are BTF pointers (iterator-provided or kfunc-returned), so the
 * fields are direct CO-RE loads (one instruction each, PROBE_MEM-guarded
 * by the JIT) instead of a bpf_probe_read_kernel() call per field. */
static __always_inline void crib_fill_file(struct crib_rec_file *r, struct task_struct *task, int fd,
					   struct file *trusted)
{
	struct file *file = crib_untrusted(trusted, file);
	struct inode *inode = file->f_inode;

	r->fd = fd;
	r->flags = file->f_flags;
	r->pos = file->f_pos;
	r->ino = inode->i_ino;
	r->dev = inode->i_sb->s_dev;
	r->mode = inode->i_mode;
	r->mnt_id = crib_mnt_id(file->f_path.mnt);
	r->fmode = file->f_mode;
	r->nlink = inode->__i_nlink;
	r->size = inode->i_size;
#ifdef CRIB_CLOEXEC
	r->cloexec = CRIB_CLOEXEC(task, fd);
#else
	r->cloexec = crib_cloexec(task, fd);
#endif
	r->path_len = 0;
	r->path_ref = 0;
}

/* Fixed part of a VMA record; for special mappings also their name.
 * Direct CO-RE loads as in crib_fill_file (`vma` is a BTF pointer). */
static __always_inline void crib_fill_vma(struct crib_rec_vma *r, struct vm_area_struct *trusted,
					  char *name)
{
	struct vm_area_struct *vma = crib_untrusted(trusted, vm_area_struct);
	struct file *file = vma->vm_file;
	struct mm_struct *mm = vma->vm_mm;

	r->start = vma->vm_start;
	r->end = vma->vm_end;
	r->pgoff = vma->vm_pgoff;
	r->vm_flags = vma->vm_flags;
	r->ino = 0;
	r->dev = 0;
	r->special = CRIB_VMA_NONE;
	r->path_len = 0;
	r->path_ref = 0;
	if (file) {
		struct inode *inode = file->f_inode;

		r->ino = inode->i_ino;
		r->dev = inode->i_sb->s_dev;
		return;
	}
	/* The rules of fs/proc/task_mmu.c show_map_vma(). */
	if (vma->vm_ops) {
		/* A file-less vma with vm_ops is a special mapping (vdso, vvar,
		 * uprobes): vm_private_data is its struct vm_special_mapping
		 * (a void *: read with a probe). */
		struct vm_special_mapping *sm = BPF_CORE_READ(vma, vm_private_data);
		const char *p = BPF_CORE_READ(sm, name);
		long n;

		if (p) {
			n = bpf_probe_read_kernel_str(name, CRIB_PATH_MAX, p);
			if (n > 1) {
				r->special = CRIB_VMA_NAMED;
				r->path_len = (n - 1) & CRIB_PATH_MASK;
			}
		}
		return;
	}
	if (mm && r->start <= mm->brk && r->end >= mm->start_brk) {
		r->special = CRIB_VMA_HEAP;
		return;
	}
	if (mm && r->start <= mm->start_stack && r->end >= mm->start_stack)
		r->special = CRIB_VMA_STACK;
}

/* Socket and socket-buffer reads. The crib programs (CRIB_DIRECT_READS,
 * patched kernels, which all have bpf_rdonly_cast) hold a socket as an
 * untrusted BTF pointer of its real type (CRIB_AS), so each field is one
 * direct load (PROBE_MEM: a faulting load reads 0) instead of a
 * bpf_probe_read_kernel() call: those calls were most of the files and
 * queue programs' run time. The iterator objects also load on kernels
 * without bpf_rdonly_cast (before 6.2), get sockets typed as sock_common
 * or tcp_sock, and keep the probe reads. CRIB_AS is crib_untrusted()
 * without its fallback (that branch cost the verifier a few instructions
 * per use, dead on every kernel these programs load on) and takes a plain
 * address too. */
#ifdef CRIB_DIRECT_READS
#define CRIB_RD(src, a, ...) (___arrow((src), a, ##__VA_ARGS__))
#define CRIB_RD_BITS(src, field) BPF_CORE_READ_BITFIELD(src, field)
#define CRIB_RD_INTO(dst, src, a) __builtin_memcpy((dst), &(src)->a, sizeof(*(dst)))
#define CRIB_AS(p, name) ((struct name *)bpf_rdonly_cast((void *)(p), crib_ktype_##name))
#else
#define CRIB_RD(src, a, ...) BPF_CORE_READ(src, a, ##__VA_ARGS__)
#define CRIB_RD_BITS(src, field) BPF_CORE_READ_BITFIELD_PROBED(src, field)
#define CRIB_RD_INTO(dst, src, a) BPF_CORE_READ_INTO(dst, src, a)
#define CRIB_AS(p, name) ((struct name *)(void *)(p))
#endif

/* An inet socket: common fields, then TCP or UDP ones. */
static __always_inline void crib_fill_inet(struct crib_rec_inet *r, struct sock *sk, __u64 ino)
{
	unsigned long flags;
	__u16 family = CRIB_RD(sk, __sk_common.skc_family);
	__u8 reuse;

	__builtin_memset(r, 0, sizeof(*r));
	crib_hdr(&r->hdr, CRIB_REC_INET, CRIB_REC_INET_V1, sizeof(*r));
	r->ino = ino;
	r->family = family;
	r->type = CRIB_RD(sk, sk_type);
	r->protocol = CRIB_RD(sk, sk_protocol);
	r->state = CRIB_RD(sk, __sk_common.skc_state);
	r->shutdown = CRIB_RD_BITS(sk, sk_shutdown);
	r->sport = CRIB_RD(sk, __sk_common.skc_num);
	r->dport = __builtin_bswap16(CRIB_RD(sk, __sk_common.skc_dport));
	r->bound_dev_if = CRIB_RD(sk, __sk_common.skc_bound_dev_if);
	if (family == AF_INET6) {
		CRIB_RD_INTO(&r->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		CRIB_RD_INTO(&r->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		CRIB_RD_INTO((__u32 *)r->saddr, sk, __sk_common.skc_rcv_saddr);
		CRIB_RD_INTO((__u32 *)r->daddr, sk, __sk_common.skc_daddr);
	}
	r->rcvbuf = CRIB_RD(sk, sk_rcvbuf);
	r->sndbuf = CRIB_RD(sk, sk_sndbuf);
	r->mark = CRIB_RD(sk, sk_mark);
	reuse = CRIB_RD_BITS(sk, __sk_common.skc_reuse);
	if (reuse)
		r->opts |= CRIB_SOCKOPT_REUSEADDR;
	if (CRIB_RD_BITS(sk, __sk_common.skc_reuseport))
		r->opts |= CRIB_SOCKOPT_REUSEPORT;
	flags = CRIB_RD(sk, __sk_common.skc_flags);
	if (flags & (1ul << bpf_core_enum_value(enum sock_flags, SOCK_KEEPOPEN)))
		r->opts |= CRIB_SOCKOPT_KEEPALIVE;
	if (flags & (1ul << bpf_core_enum_value(enum sock_flags, SOCK_BROADCAST)))
		r->opts |= CRIB_SOCKOPT_BROADCAST;
	r->priority = CRIB_RD(sk, sk_priority);
	r->rqueue_bytes = CRIB_RD(sk, sk_backlog.rmem_alloc.counter);
	r->wqueue_bytes = CRIB_RD(sk, sk_wmem_queued);

	if (r->protocol == IPPROTO_TCP) {
		struct tcp_sock *tp = CRIB_AS(sk, tcp_sock);

		r->valid |= CRIB_INET_TCP;
		r->snd_nxt = CRIB_RD(tp, snd_nxt);
		r->snd_una = CRIB_RD(tp, snd_una);
		r->rcv_nxt = CRIB_RD(tp, rcv_nxt);
		r->write_seq = CRIB_RD(tp, write_seq);
		r->copied_seq = CRIB_RD(tp, copied_seq);
		r->snd_wnd = CRIB_RD(tp, snd_wnd);
		r->rcv_wnd = CRIB_RD(tp, rcv_wnd);
		r->max_window = CRIB_RD(tp, max_window);
		r->mss_cache = CRIB_RD(tp, mss_cache);
		r->snd_wl1 = CRIB_RD(tp, snd_wl1);
		r->rcv_wup = CRIB_RD(tp, rcv_wup);
		r->snd_wscale = CRIB_RD_BITS(tp, rx_opt.snd_wscale);
		r->rcv_wscale = CRIB_RD_BITS(tp, rx_opt.rcv_wscale);
		if (CRIB_RD_BITS(tp, rx_opt.tstamp_ok))
			r->tcp_opts |= CRIB_TCPOPT_TIMESTAMPS;
		if (CRIB_RD_BITS(tp, rx_opt.sack_ok))
			r->tcp_opts |= CRIB_TCPOPT_SACK;
		if (CRIB_RD_BITS(tp, rx_opt.wscale_ok))
			r->tcp_opts |= CRIB_TCPOPT_WSCALE;
		/* TCP_NAGLE_OFF = 1 */
		if (CRIB_RD_BITS(tp, nonagle) & 1)
			r->opts |= CRIB_SOCKOPT_NODELAY;
	} else if (r->protocol == IPPROTO_UDP) {
		struct udp_sock *up = CRIB_AS(sk, udp_sock);
		/* same object and verifier type; the relocation picks the field */
		struct udp_sock___old *old = (void *)up;

		r->valid |= CRIB_INET_UDP;
		r->udp_pending = CRIB_RD(up, pending);
		r->udp_len = CRIB_RD(up, len);
		/* corkflag became a bit of udp_flags in 6.5 */
		if (bpf_core_field_exists(old->corkflag))
			r->udp_corkflag = CRIB_RD(old, corkflag) != 0;
		else
			r->udp_corkflag = CRIB_RD(up, udp_flags) & 1;
	}
}

/* The sun_path of a unix socket into buf; returns its length (0 = unbound). */
static __always_inline __u32 crib_unix_path(struct unix_sock *u, char *buf)
{
	struct unix_address *addr = CRIB_RD(u, addr);
	int n;

	if (!addr)
		return 0;
	/* len counts sun_family; sun_path is the rest */
	n = CRIB_RD(addr, len) - (int)sizeof(__u16);
	if (n <= 0 || n > 108)
		return 0;
	bpf_probe_read_kernel(buf, n & 127, &addr->name[0].sun_path);
	return n;
}

/* A unix socket; its path and the peer's go to path[] (path then peer). */
static __always_inline void crib_fill_unix(struct crib_rec_unix *r, struct unix_sock *u, __u64 ino, char *path)
{
	struct sock *sk = (struct sock *)u;
	struct unix_sock *peer = CRIB_AS(CRIB_RD(u, peer), unix_sock);
	__u32 n;

	crib_hdr(&r->hdr, CRIB_REC_UNIX, CRIB_REC_UNIX_V1, sizeof(*r));
	r->ino = ino;
	r->peer_ino = peer ? CRIB_RD(&peer->sk, sk_socket, file, f_inode, i_ino) : 0;
	r->type = CRIB_RD(sk, sk_type);
	r->state = CRIB_RD(sk, __sk_common.skc_state);
	r->shutdown = CRIB_RD_BITS(sk, sk_shutdown);
	r->rqueue_len = CRIB_RD(sk, sk_receive_queue.qlen);
	n = crib_unix_path(u, path);
	r->path_len = n;
	r->peer_path_len = peer ? crib_unix_path(peer, path + (n & 127)) : 0;
}

#endif /* CRIB_FILL_BPF_H */

