// verdict: reject expected an initialized iter_crib_file
// The fd getter needs a live iterator.
#include "common.h"

SEC("crib")
int prog(struct crib_test_ctx *ctx)
{
	struct bpf_iter_crib_file it;

	return bpf_iter_crib_file_fd(&it);
}
