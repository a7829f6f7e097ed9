// verdict: reject must be referenced or trusted
// A file pointer walked out of a structure (the task's exe file through
// mm) is not trusted: d_path() on it could race with its release.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct task_struct *t = bpf_task_from_vpid(ctx->pid);
	struct file *f = NULL;
	char buf[64];
	int n = 0;

	if (!t)
		return 2;
	if (t->mm)
		f = t->mm->exe_file;
	/* read a field: clang then emits struct file whole, so libbpf
	 * matches the kfunc's prototype (tests/verifier/README.md) */
	if (f && f->f_mode)
		n = bpf_crib_file_path(f, buf, sizeof(buf));
	bpf_task_release(t);
	return n > 0 ? 0 : 1;
}
