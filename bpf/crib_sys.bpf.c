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
#include "crib/dump.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("syscall")
int sys_dump_task(struct crib_args *args)
{
	return crib_dump_task_body(args);
}

SEC("syscall")
int sys_dump_vmas(struct crib_args *args)
{
	return crib_dump_vmas_body(args);
}
