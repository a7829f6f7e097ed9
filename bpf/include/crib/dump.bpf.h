/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Program bodies shared by the `crib` (SEC("crib")) and `upstream`
 * (SEC("syscall")) objects: both dump the task record and the memory map
 * the same way (bpf_task_from_vpid + bpf_iter_task_vma_*); only the section,
 * and so the program type, differs. With CRIB_VMA_ITER defined (the crib
 * object) the memory map is walked with bpf_iter_crib_vma_* (patch 0010)
 * where the kernel has it. Include after records.h, kfuncs.h, fill.bpf.h,
 * path.bpf.h and emit.bpf.h.
 */
#ifndef __CRIB_DUMP_BPF_H
#define __CRIB_DUMP_BPF_H

#define CRIB_ESRCH 3

/* The task record of args->pid, then END. */
static __always_inline int crib_dump_task_body(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_TASK };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct crib_rec_task *r;

	crib_begin(&e);
	if (!task)
		return crib_end(&e, -CRIB_ESRCH);
	r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);
	if (r) {
		crib_fill_task(r, task);
		crib_submit(&e, r, sizeof(*r));
	} else {
		e.dropped++;
	}
	bpf_task_release(task);
	return crib_end(&e, 0);
}

#ifdef CRIB_VMA_ITER
/* The record of one mapping: a global function, so the verifier checks
 * it once (the mapping as a trusted argument) instead of in every state
 * of the VMA loop, which had made that loop the costliest program of
 * the object to verify. */
__noinline int crib_emit_vma_global(struct crib_emit *e, struct vm_area_struct *vma __arg_trusted)
{
	if (!e)
		return 0;
	crib_emit_vma(e, vma);
	return 0;
}
#define CRIB_EMIT_VMA crib_emit_vma_global
#else
#define CRIB_EMIT_VMA crib_emit_vma
#endif

/* The walk with iterator `kind` (task_vma or crib_vma): a record per VMA
 * from args->start, stopping with -EAGAIN before the ring fills up. */
#define CRIB_WALK_VMAS(kind)                                    \
	bpf_for_each(kind, vma, task, args->start) {            \
		if (!crib_ring_room()) {                        \
			err = -CRIB_EAGAIN;                     \
			break;                                  \
		}                                               \
		CRIB_EMIT_VMA(&e, vma);                         \
	}

/* Every VMA of args->pid from args->start, in resumable batches, then END. */
static __always_inline int crib_dump_vmas_body(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_VMAS };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct vm_area_struct *vma;

	crib_begin(&e);
	int err = 0;

	if (!task)
		return crib_end(&e, -CRIB_ESRCH);
	/* args->start: resume address of a batch that stopped (ring full) */
#ifdef CRIB_VMA_ITER
	/* Under the mmap read lock, one vma_next() per step: the task_vma
	 * iterator's per-VMA lock, two tree descents and VMA copy were half
	 * of the walk. All three tested: each call of a kfunc the kernel
	 * lacks must sit behind its own test (crib compat checks that). */
	if (bpf_ksym_exists(bpf_iter_crib_vma_new) && bpf_ksym_exists(bpf_iter_crib_vma_next) &&
	    bpf_ksym_exists(bpf_iter_crib_vma_destroy)) {
		CRIB_WALK_VMAS(crib_vma);
		goto walked;
	}
#endif
	CRIB_WALK_VMAS(task_vma);
#ifdef CRIB_VMA_ITER
walked:
#endif
	/* Since 7.x the iterator locks each VMA on its own and silently steps
	 * over one it cannot lock (kernel/bpf/task_iter.c): userspace compares
	 * the VMAs it got with map_count and walks again on a mismatch. */
	e.expected = BPF_CORE_READ(task, mm, map_count);
	bpf_task_release(task);
	return crib_end(&e, err);
}

#endif /* __CRIB_DUMP_BPF_H */
