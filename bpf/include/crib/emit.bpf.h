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
	struct crib_rec_vma *r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r) + CRIB_PATH_MAX, 0);
	struct file *file;

	if (!r) {
		e->dropped++;
		return;
	}
	crib_fill_vma(r, vma, (char *)(r + 1));
	file = BPF_CORE_READ(vma, vm_file);
	if (file)
		r->path_len = crib_path_of(file, (struct crib_path_out *)(r + 1));
	/* the sample keeps its reserved size; hdr.len says what is used */
	crib_hdr(&r->hdr, CRIB_REC_VMA, CRIB_REC_VMA_V1, sizeof(*r) + r->path_len);
	crib_submit(e, r);
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
