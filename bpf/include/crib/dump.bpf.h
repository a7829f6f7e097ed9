/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Program bodies shared by the `crib` (SEC("crib")) and `upstream`
 * (SEC("syscall")) objects: both dump the task record and the memory map
 * the same way (bpf_task_from_vpid + bpf_iter_task_vma_*); only the section,
 * and so the program type, differs. Include after records.h, kfuncs.h,
 * fill.bpf.h, path.bpf.h and emit.bpf.h.
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
	bpf_for_each(task_vma, vma, task, args->start) {
		if (!crib_ring_room()) {
			err = -CRIB_EAGAIN;
			break;
		}
		crib_emit_vma(&e, vma);
	}
	/* Since 7.x the iterator locks each VMA on its own and silently steps
	 * over one it cannot lock (kernel/bpf/task_iter.c): userspace compares
	 * the VMAs it got with map_count and walks again on a mismatch. */
	e.expected = BPF_CORE_READ(task, mm, map_count);
	bpf_task_release(task);
	return crib_end(&e, err);
}

#endif /* __CRIB_DUMP_BPF_H */
