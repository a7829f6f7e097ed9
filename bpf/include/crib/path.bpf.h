/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A d_path() replacement for program types without bpf_d_path() (syscall,
 * crib): walk dentry names up to the dumper's root (current->fs->root, as
 * d_path() does; the global root if that is not on the way), crossing
 * mounts, with a bpf_loop() and CO-RE reads. Same output as d_path(),
 * including the " (deleted)" suffix; paths longer than CRIB_PATH_MAX - 1
 * are cut at the root end.
 */
#ifndef CRIB_PATH_BPF_H
#define CRIB_PATH_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "crib/records.h"

#define CRIB_PATH_DEPTH 40

/* Twice CRIB_PATH_MAX so that (pos & mask) + name_len never leaves it. */
struct crib_path_buf {
	char b[2 * CRIB_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct crib_path_buf);
	__uint(max_entries, 1);
} crib_path_scratch SEC(".maps");

static const char crib_deleted[] = " (deleted)";

/* n & (CRIB_PATH_MAX - 1), done in the register the verifier checks (the
 * compiler would drop a C mask it can prove redundant). */
static __always_inline __u64 crib_mask_path(__u64 n)
{
	asm volatile("%[n] &= 511" : [n] "+r"(n));
	return n;
}
_Static_assert(CRIB_PATH_MAX == 512, "crib_mask_path assumes 512");

struct crib_path_out {
	char b[CRIB_PATH_MAX];
};

/* State of the walk, shared with the bpf_loop() callback. */
struct crib_walk {
	__u64 d;	/* struct dentry * */
	__u64 mnt;	/* struct mount * */
	__u64 root_d;	/* the dumper's root (current->fs->root): d_path stops there */
	__u64 root_mnt;	/* struct vfsmount * of that root */
	__u32 pos;	/* start of the path built so far, backwards from CRIB_PATH_MAX */
	__u32 _pad;
};

/* One step up: a name, or a jump from a mount's root to its mountpoint.
 * A bpf_loop() callback, so the verifier checks one step, not 2^depth paths. */
static long crib_walk_step(__u64 i, void *ctx)
{
	struct crib_walk *w = ctx;
	__u32 zero = 0;
	struct crib_path_buf *t = bpf_map_lookup_elem(&crib_path_scratch, &zero);
	struct dentry *d = (void *)w->d, *parent, *root;
	struct mount *mnt = (void *)w->mnt, *mp;
	struct vfsmount *vmnt = (void *)mnt + bpf_core_field_offset(struct mount, mnt);
	__u32 len, pos = w->pos;

	if (!t)
		return 1;
	if (w->d == w->root_d && (__u64)vmnt == w->root_mnt)
		return 1;	/* the dumper's root, as d_path() resolves */
	root = BPF_CORE_READ(vmnt, mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == root) {
		mp = BPF_CORE_READ(mnt, mnt_parent);
		if (mp == mnt)
			return 1;	/* the global root */
		w->d = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (__u64)mp;
		return 0;
	}
	len = BPF_CORE_READ(d, d_name.len);
	if (len + 1 > pos)
		return 1;	/* too long: keep the tail we have */
	pos -= len;
	bpf_probe_read_kernel(&t->b[pos & (CRIB_PATH_MAX - 1)], len & 255, BPF_CORE_READ(d, d_name.name));
	pos -= 1;
	t->b[pos & (CRIB_PATH_MAX - 1)] = '/';
	w->pos = pos;
	if (parent == d)
		return 1;	/* a pseudo root (pipe:, anon files): d_path prints "/name" */
	w->d = (__u64)parent;
	return 0;
}

/* Writes the path of (dentry, vfsmount) to out; returns its length. A
 * global function, so the verifier checks it once. Its arguments are plain
 * addresses, read with CO-RE probes only: a global function takes scalars
 * from any caller, whereas a trusted pointer (from an iterator or an
 * acquire kfunc) would be refused. Call it through crib_path_of(). */
__noinline int crib_dentry_path(__u64 dentry_addr, __u64 vfsmnt_addr, struct crib_path_out *outp)
{
	__u32 zero = 0;
	struct crib_path_buf *t = bpf_map_lookup_elem(&crib_path_scratch, &zero);
	struct crib_walk w = {};
	struct dentry *d;
	__u32 pos, n;
	bool deleted;

	if (!t || !dentry_addr || !vfsmnt_addr || !outp)
		return 0;
	d = (struct dentry *)dentry_addr;
	if (BPF_CORE_READ(d, d_parent) == d &&
	    d != BPF_CORE_READ((struct vfsmount *)vfsmnt_addr, mnt_root)) {
		/* A pseudo file: d_path() asks the filesystem's d_dname(); these
		 * are the answers of the three that processes hold most. */
		unsigned long magic = BPF_CORE_READ(d, d_sb, s_magic);
		__u64 a[1];
		long n = 0;

		if (magic == 0x50495045 /* PIPEFS_MAGIC */) {
			a[0] = BPF_CORE_READ(d, d_inode, i_ino);
			n = bpf_snprintf(outp->b, CRIB_PATH_MAX, "pipe:[%lu]", a, sizeof(a));
		} else if (magic == 0x534F434B /* SOCKFS_MAGIC */) {
			a[0] = BPF_CORE_READ(d, d_inode, i_ino);
			n = bpf_snprintf(outp->b, CRIB_PATH_MAX, "socket:[%lu]", a, sizeof(a));
		} else if (magic == 0x09041934 /* ANON_INODE_FS_MAGIC */) {
			a[0] = (__u64)BPF_CORE_READ(d, d_name.name);
			n = bpf_snprintf(outp->b, CRIB_PATH_MAX, "anon_inode:%s", a, sizeof(a));
		}
		if (n > 1)
			return crib_mask_path(n - 1);
	}
	w.d = (__u64)d;
	w.mnt = vfsmnt_addr - bpf_core_field_offset(struct mount, mnt);
	w.pos = CRIB_PATH_MAX;
	{
		struct task_struct *cur = (void *)bpf_get_current_task();

		w.root_d = (__u64)BPF_CORE_READ(cur, fs, root.dentry);
		w.root_mnt = (__u64)BPF_CORE_READ(cur, fs, root.mnt);
	}
	/* d_unlinked(): unhashed and not a root */
	deleted = !BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d;
	bpf_loop(CRIB_PATH_DEPTH, crib_walk_step, &w, 0);
	pos = w.pos;
	if (pos >= CRIB_PATH_MAX) {
		pos = CRIB_PATH_MAX - 1;
		t->b[pos & (CRIB_PATH_MAX - 1)] = '/';
	}
	n = CRIB_PATH_MAX - pos;
	if (deleted) {
		/* the suffix goes right after the path, in the spare half */
		bpf_probe_read_kernel(&t->b[CRIB_PATH_MAX], sizeof(crib_deleted) - 1, crib_deleted);
		n += sizeof(crib_deleted) - 1;
	}
	if (n > CRIB_PATH_MAX - 1)
		n = CRIB_PATH_MAX - 1;
	bpf_probe_read_kernel(outp->b, crib_mask_path(n), &t->b[pos & (CRIB_PATH_MAX - 1)]);
	return n;
}

/* The path of `file` (any pointer kind) into `out` (struct crib_path_out *);
 * the probe reads turn trusted pointers into the scalars the function takes. */
#define crib_path_of(file, out)                                                  \
	crib_dentry_path((__u64)BPF_CORE_READ(file, f_path.dentry),              \
			 (__u64)BPF_CORE_READ(file, f_path.mnt), (out))

#endif /* CRIB_PATH_BPF_H */
