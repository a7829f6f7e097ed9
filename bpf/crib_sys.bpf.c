// SPDX-License-Identifier: GPL-2.0-only
/*
 * `upstream` engine, SEC("syscall") half: run on demand with BPF_PROG_RUN,
 * ctx_in = struct crib_args. Uses only upstream kfuncs (bpf_task_from_vpid,
 * 6.13+; bpf_iter_task_vma_*, 6.7+) and writes wire records to a ring buffer,
 * ending with an END record. The same memory map as iter/task_vma, read a
 * second way (no bpf_d_path here: paths come from crib/path.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "crib/records.h"
#include "crib/kfuncs.h"
#include "crib/fill.bpf.h"
#include "crib/path.bpf.h"
#include "crib/emit.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("syscall")
int sys_dump_task(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_TASK };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct crib_rec_task *r;

	if (!task)
		return crib_end(&e, -3 /* ESRCH */);
	r = bpf_ringbuf_reserve(&crib_rb, sizeof(*r), 0);
	if (r) {
		crib_fill_task(r, task);
		crib_submit(&e, r);
	} else {
		e.dropped++;
	}
	bpf_task_release(task);
	return crib_end(&e, 0);
}

SEC("syscall")
int sys_dump_vmas(struct crib_args *args)
{
	struct crib_emit e = { .prog = CRIB_PROG_VMAS };
	struct task_struct *task = bpf_task_from_vpid(args->pid);
	struct vm_area_struct *vma;

	int err = 0;

	if (!task)
		return crib_end(&e, -3 /* ESRCH */);
	/* args->start: resume address of a batch that stopped (ring full) */
	bpf_for_each(task_vma, vma, task, args->start) {
		if (!crib_ring_room()) {
			err = -CRIB_EAGAIN;
			break;
		}
		crib_emit_vma(&e, vma);
	}
	bpf_task_release(task);
	return crib_end(&e, err);
}
