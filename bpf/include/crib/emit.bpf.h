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
};

/* A record with a path is built here, then copied to the ring with
 * bpf_ringbuf_output() at its exact length: reserving the largest size
 * (CRIB_PATH_MAX per record) filled the ring 5x faster than needed. */
#define CRIB_REC_BUF 1024
struct crib_rec_buf {
	char b[CRIB_REC_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct crib_rec_buf);
	__uint(max_entries, 1);
} crib_rec_scratch SEC(".maps");

static __always_inline void *crib_rec_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&crib_rec_scratch, &zero);
}

/* Resumable dumps: a program stops before the ring has less than this
 * left (room for one record of any kind plus the END record), ends with
 * -EAGAIN, and userspace drains the ring and runs it again from the next
 * fd / address. Nothing is consumed while BPF_PROG_RUN runs. */
#define CRIB_RING_MARGIN (16 << 10)
#define CRIB_EAGAIN 11

static __always_inline bool crib_ring_room(void)
{
	__u64 size = bpf_ringbuf_query(&crib_rb, BPF_RB_RING_SIZE);
	__u64 used = bpf_ringbuf_query(&crib_rb, BPF_RB_AVAIL_DATA);

	return used + CRIB_RING_MARGIN <= size;
}

/* Copy the first len bytes of rec (a crib_rec_buf) to the ring. */
static __always_inline void crib_output(struct crib_emit *e, void *rec, __u64 len)
{
	/* bounded in the register the verifier checks */
	asm volatile("%[n] &= 1023" : [n] "+r"(len));
	if (bpf_ringbuf_output(&crib_rb, rec, len, 0))
		e->dropped++;
	else
		e->records++;
}

static __always_inline void crib_submit(struct crib_emit *e, void *rec)
{
	bpf_ringbuf_submit(rec, 0);
	e->records++;
}

static __always_inline int crib_end(struct crib_emit *e, int error)
{
	struct crib_rec_end *r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);

	if (!r)
		return error ? error : -28 /* ENOSPC */;
	crib_hdr(&r->hdr, CRIB_REC_END, CRIB_REC_END_V1, sizeof(*r));
	r->prog = e->prog;
	r->error = error;
	r->records = e->records;
	r->dropped = e->dropped;
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
	crib_submit(e, r);
}

/* One VMA record with its path (name walk) or special name. */
static __always_inline void crib_emit_vma(struct crib_emit *e, struct vm_area_struct *vma)
{
	struct crib_rec_vma *r = crib_rec_buf();
	struct file *file;

	if (!r) {
		e->dropped++;
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	crib_fill_vma(r, vma, (char *)(r + 1));
	file = vma->vm_file;
	if (file)
		r->path_len = crib_path_of(file, (struct crib_path_out *)(r + 1));
	crib_hdr(&r->hdr, CRIB_REC_VMA, CRIB_REC_VMA_V1, sizeof(*r) + r->path_len);
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
