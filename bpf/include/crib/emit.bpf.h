/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ring-buffer output for SEC("syscall") / SEC("crib") programs: one wire
 * record per sample, counted, and an END record last so userspace can tell
 * a complete dump from a cut one.
 */
#ifndef CRIB_EMIT_BPF_H
#define CRIB_EMIT_BPF_H

#include <bpf/bpf_helpers.h>
#include "crib/records.h"
#include "crib/fill.bpf.h"
#include "crib/path.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} crib_rb SEC(".maps");

struct crib_emit {
	__u32 prog;
	__u32 records;
	__u32 dropped;
	__u32 expected;		/* END's v2 `expected`, 0 = not counted */
};

/* Records with a path (files, VMAs) are built straight into a per-CPU
 * batch and leave in one CRIB_REC_BATCH sample per CRIB_BATCH bytes: a ring
 * reservation per record (a lock and a commit each) cost more than
 * building the record. Records sit at 8-byte aligned offsets of the batch.
 * The batch also keeps count of the ring bytes this run wrote: BPF_PROG_RUN
 * consumes nothing while it runs, so that count replaces querying the ring
 * before every record. */
#define CRIB_REC_BUF 1024	/* largest record built in the batch */
#define CRIB_BATCH 16384	/* flush before a record could start past this */

struct crib_batch {
	__u64 run;		/* program runs on this CPU: the path cache's epoch */
	__u64 ring_used;	/* ring bytes in use (at start + written since) */
	__u64 ring_size;
	__u64 cloexec_bits;	/* close_on_exec bitmap of the last word read, */
	__u64 cloexec_word;	/* that word, */
	__u32 cloexec_idx;	/* and its index (see crib_cloexec_cached) */
	__u32 _pad;
	__u32 off;		/* bytes of records after hdr */
	__u32 count;		/* records in the batch */
	struct crib_rec_hdr hdr;	/* CRIB_REC_BATCH, len = 8 + off */
	char b[CRIB_BATCH + CRIB_REC_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct crib_batch);
	__uint(max_entries, 1);
} crib_batch_scratch SEC(".maps");

static __always_inline struct crib_batch *crib_batch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&crib_batch_scratch, &zero);
}

/* Ring bytes of a len-byte sample: an 8-byte header, 8-byte aligned. */
static __always_inline __u64 crib_ring_cost(__u64 len)
{
	return (len + 8 + 7) & ~7ULL;
}

/* Start of a program run: an empty batch, the ring's state. */
static __always_inline void crib_begin(struct crib_emit *e)
{
	struct crib_batch *bt = crib_batch();

	if (!bt)
		return;
	bt->run++;
	bt->off = 0;
	bt->count = 0;
	bt->cloexec_bits = 0;
	bt->ring_size = bpf_ringbuf_query(&crib_rb, BPF_RB_RING_SIZE);
	bt->ring_used = bpf_ringbuf_query(&crib_rb, BPF_RB_AVAIL_DATA);
}

/* Path slots of this run (CRIB_PATH_SET/SAME in records.h), by struct
 * path identity (dentry, mount): d_path() depends on nothing else for
 * one task, and thousands of descriptors and mappings share a handful of
 * files (libraries, data files). The first record of a file carries its
 * path and claims a slot; later records of that file in the run name the
 * slot instead of carrying the path again (userspace keeps the slots'
 * paths). A slot holds no path bytes, only whose path it is: valid only
 * in the run (crib_begin) that set it, per CPU like the batch. */
#define CRIB_PCACHE_SLOTS 256

struct crib_pcache_slot {
	__u64 run;
	__u64 dentry;
	__u64 mnt;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct crib_pcache_slot);
	__uint(max_entries, CRIB_PCACHE_SLOTS);
} crib_pcache SEC(".maps");

/* A file's (dentry, mount) as numbers: one probe read of f_path (the
 * verifier does no arithmetic on a BTF pointer, and the hash needs some). */
struct crib_pcache_key {
	__u64 dentry;
	__u64 mnt;
};

static __always_inline void crib_pcache_key(struct file *file, struct crib_pcache_key *k)
{
	struct path p = {};

	bpf_core_read(&p, sizeof(p), &crib_untrusted(file, file)->f_path);
	k->dentry = (__u64)p.dentry;
	k->mnt = (__u64)p.mnt;
}

/* The slot of dentry (its index in *k), or NULL. */
static __always_inline struct crib_pcache_slot *crib_pcache_slot(__u64 dentry, __u32 *k)
{
	/* dentries are slab objects: mix the bits above their alignment */
	*k = ((dentry * 0x9E3779B97F4A7C15ULL) >> 56) & (CRIB_PCACHE_SLOTS - 1);
	return bpf_map_lookup_elem(&crib_pcache, k);
}

/* CRIB_PATH_SAME | slot when this run already sent the path of (dentry,
 * mnt), else 0. Global, like crib_pcache_set(): verified once, not in
 * every state of the files and VMA loops (inlined, they grew those 3-5
 * fold). */
__noinline __u32 crib_pcache_find(__u64 dentry, __u64 mnt)
{
	struct crib_batch *bt = crib_batch();
	struct crib_pcache_slot *s;
	__u32 k;

	if (!bt || !dentry)
		return 0;
	s = crib_pcache_slot(dentry, &k);
	if (!s || s->run != bt->run || s->dentry != dentry || s->mnt != mnt)
		return 0;
	return CRIB_PATH_SAME | k;
}

/* The record about to carry the path of (dentry, mnt) claims its slot:
 * CRIB_PATH_SET | slot, or 0 when it cannot (no dentry). */
__noinline __u32 crib_pcache_set(__u64 dentry, __u64 mnt)
{
	struct crib_batch *bt = crib_batch();
	struct crib_pcache_slot *s;
	__u32 k;

	if (!bt || !dentry)
		return 0;
	s = crib_pcache_slot(dentry, &k);
	if (!s)
		return 0;
	s->dentry = dentry;
	s->mnt = mnt;
	s->run = bt->run;
	return CRIB_PATH_SET | k;
}

/* Word idx of a close_on_exec bitmap, from the last word read if it is
 * that one (files come in fd order: one probe read per 64 fds). A global
 * function on plain numbers: verified once, not at every call site. */
__noinline __u64 crib_cloexec_word(__u64 bits, __u32 idx)
{
	struct crib_batch *bt = crib_batch();
	__u64 word = 0;

	if (!bits)
		return 0;
	if (bt && bt->cloexec_bits == bits && bt->cloexec_idx == idx)
		return bt->cloexec_word;
	bpf_probe_read_kernel(&word, sizeof(word), (void *)(bits + (__u64)idx * sizeof(word)));
	if (bt) {
		bt->cloexec_bits = bits;
		bt->cloexec_idx = idx;
		bt->cloexec_word = word;
	}
	return word;
}

/* crib_cloexec() from the cached bitmap word (per run: crib_begin()
 * forgets it). */
static __always_inline __u32 crib_cloexec_cached(struct task_struct *task, int fd)
{
	struct task_struct *t = crib_untrusted(task, task_struct);
	__u64 bits = 0;

	/* Read the bitmap's address as a number: 7.x verifiers refuse a
	 * pointer register as a global function's scalar argument. */
	bpf_probe_read_kernel(&bits, sizeof(bits), &t->files->fdt->close_on_exec);
	if (fd < 0)
		return 0;
	return (crib_cloexec_word(bits, (__u32)fd / 64) >> ((__u32)fd % 64)) & 1;
}

/* Resumable dumps: a program stops before the ring has less than this
 * left (room for one record of any kind plus the END record), ends with
 * -EAGAIN, and userspace drains the ring and runs it again from the next
 * fd / address. Nothing is consumed while BPF_PROG_RUN runs. */
#define CRIB_RING_MARGIN (16 << 10)
#define CRIB_EAGAIN 11

/* Room for a len-byte sample after the pending batch, with the margin. */
static __always_inline bool crib_ring_fits(__u64 len)
{
	struct crib_batch *bt = crib_batch();

	if (!bt)
		return false;
	return bt->ring_used + crib_ring_cost(8 + bt->off) + crib_ring_cost(len) + CRIB_RING_MARGIN <=
	       bt->ring_size;
}

static __always_inline bool crib_ring_room(void)
{
	return crib_ring_fits(CRIB_REC_BUF);
}

/* Count a sample this run wrote to the ring outside the batch. */
static __always_inline void crib_account(__u64 len)
{
	struct crib_batch *bt = crib_batch();

	if (bt)
		bt->ring_used += crib_ring_cost(len);
}

/* Send the pending batch as one sample. */
static __always_inline void crib_flush(struct crib_emit *e)
{
	struct crib_batch *bt = crib_batch();
	__u64 n;

	if (!bt || !bt->off)
		return;
	n = bt->off;
	if (n > CRIB_BATCH + CRIB_REC_BUF)
		n = CRIB_BATCH + CRIB_REC_BUF;
	crib_hdr(&bt->hdr, CRIB_REC_BATCH, CRIB_REC_BATCH_V1, 8 + n);
	if (bpf_ringbuf_output(&crib_rb, &bt->hdr, 8 + n, 0)) {
		e->dropped += bt->count;
		e->records -= bt->count;
	} else {
		bt->ring_used += crib_ring_cost(8 + n);
	}
	bt->off = 0;
	bt->count = 0;
}

/* Where the next record is built (flushing first when the batch is
 * nearly full), or NULL. */
static __always_inline void *crib_rec_buf(struct crib_emit *e)
{
	struct crib_batch *bt = crib_batch();

	if (!bt)
		return NULL;
	if (bt->off > CRIB_BATCH - CRIB_REC_BUF)
		crib_flush(e);
	return &bt->b[bt->off & (CRIB_BATCH - 1)];
}

/* The record just built at crib_rec_buf() is len bytes long: keep it. */
static __always_inline void crib_output(struct crib_emit *e, void *rec, __u64 len)
{
	struct crib_batch *bt = crib_batch();

	if (!bt) {
		e->dropped++;
		return;
	}
	/* off is map memory, not verifier state: no mask needed for bounds */
	len = (len + 7) & ~7ULL;
	bt->off += len < CRIB_REC_BUF ? len : CRIB_REC_BUF;
	bt->count++;
	e->records++;
}

/* A record reserved in the ring (reserved bytes: size). */
static __always_inline void crib_submit(struct crib_emit *e, void *rec, __u64 size)
{
	bpf_ringbuf_submit(rec, 0);
	crib_account(size);
	e->records++;
}

/* A sample written with bpf_ringbuf_output() outside the batch. */
static __always_inline void crib_output_raw(struct crib_emit *e, void *data, __u64 len)
{
	if (bpf_ringbuf_output(&crib_rb, data, len, 0)) {
		e->dropped++;
	} else {
		crib_account(len);
		e->records++;
	}
}

static __always_inline int crib_end(struct crib_emit *e, int error)
{
	struct crib_rec_end *r;

	crib_flush(e);
	r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);

	if (!r)
		return error ? error : -28 /* ENOSPC */;
	crib_hdr(&r->hdr, CRIB_REC_END, CRIB_REC_END_V2, sizeof(*r));
	r->prog = e->prog;
	r->error = error;
	r->records = e->records;
	r->dropped = e->dropped;
	r->expected = e->expected;
	r->__pad = 0;
	bpf_ringbuf_submit(r, 0);
	return error;
}

static __always_inline void crib_error(struct crib_emit *e, int err, __u64 arg)
{
	struct crib_rec_error *r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);

	if (!r) {
		e->dropped++;
		return;
	}
	crib_hdr(&r->hdr, CRIB_REC_ERROR, CRIB_REC_ERROR_V1, sizeof(*r));
	r->prog = e->prog;
	r->err = err;
	r->arg = arg;
	crib_submit(e, r, sizeof(*r));
}

/* One VMA record with its path or special name. The path comes from
 * bpf_crib_vma_path() (d_path() in the kernel) where the object is built
 * with CRIB_PATH_KFUNCS and the kernel has it, else from the name walk;
 * a file this run already sent is named by its path slot instead. */
static __always_inline void crib_emit_vma(struct crib_emit *e, struct vm_area_struct *vma)
{
	struct crib_rec_vma *r = crib_rec_buf(e);
	struct crib_pcache_key key;
	struct file *file;
	__u32 ref;

	if (!r) {
		e->dropped++;
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	crib_fill_vma(r, vma, (char *)(r + 1));
	file = crib_untrusted(vma, vm_area_struct)->vm_file;
	if (!file)
		goto out;
	crib_pcache_key(file, &key);
	ref = crib_pcache_find(key.dentry, key.mnt);
	if (ref) {
		r->path_ref = ref;
		goto out;
	}
#ifdef CRIB_PATH_KFUNCS
	if (bpf_ksym_exists(bpf_crib_vma_path)) {
		int n = bpf_crib_vma_path(vma, (char *)(r + 1), CRIB_PATH_MAX);

		if (n > 0) {
			r->path_len = crib_mask_path(n - 1);
			goto remember;
		}
	}
#endif
	r->path_len = crib_path_of(file, (struct crib_path_out *)(r + 1));
#ifdef CRIB_PATH_KFUNCS
remember:
#endif
	if (r->path_len)
		r->path_ref = crib_pcache_set(key.dentry, key.mnt);
out:
	crib_hdr(&r->hdr, CRIB_REC_VMA, CRIB_REC_VMA_V2, sizeof(*r) + r->path_len);
	crib_output(e, r, sizeof(*r) + r->path_len);
}

/* Never called: they make every wire type part of the object's BTF, where
 * harness/tests/test_wire.rs checks the layouts against the Rust decoder.
 * (Uncalled global functions are neither loaded nor verified.) */
__noinline int crib_wire_layout(struct crib_rec_task *t, struct crib_rec_file *f, struct crib_rec_vma *v,
				struct crib_rec_inet *i, struct crib_rec_unix *u)
{
	return 0;
}

__noinline int crib_wire_layout2(struct crib_rec_skb *s, struct crib_rec_end *e, struct crib_rec_error *r,
				 struct crib_rec_hdr *h)
{
	return 0;
}

/* Never called: makes the kernel types of kfunc prototypes complete in the
 * object's BTF. A program that only passes a `struct task_struct *` along
 * gets a BTF forward declaration, and libbpf then finds the kfunc's
 * prototype incompatible with the kernel's and leaves the (weak) kfunc
 * unresolved: "kfunc 'bpf_task_from_vpid' is referenced but wasn't resolved". */
__noinline int crib_kernel_types(void)
{
	return bpf_core_type_size(struct task_struct) + bpf_core_type_size(struct file) +
	       bpf_core_type_size(struct sock) + bpf_core_type_size(struct sk_buff) +
	       bpf_core_type_size(struct vm_area_struct);
}

#endif /* CRIB_EMIT_BPF_H */
