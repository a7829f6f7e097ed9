// SPDX-License-Identifier: GPL-2.0-only
/*
 * Whole-process round trip: a process that keeps computing (its state
 * lives in memory and registers: CRIU's part) while it holds a corked UDP
 * socket and a socket with queued datagrams (the crib plugin's part).
 * After C/R the computation must go on from where it was, consistent
 * with its step count, and the sockets must deliver what was pending.
 */
#include <stdint.h>
#include "crib_udp.h"

const char *test_doc = "computing process with corked and queued UDP sockets continues after C/R";
const char *test_author = "crib-kit";

/* One step of a 64-bit xorshift: the state after n steps is checkable. */
static uint64_t step(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

int main(int argc, char **argv)
{
	static volatile uint64_t state = 0x243f6a8885a308d3ULL, steps;
	union crib_addr rcv, snd, q;
	uint64_t check, i, at_dump;
	int r, s, qs;

	test_init(argc, argv);

	r = crib_udp_bound(AF_INET, &rcv);
	s = crib_udp_bound(AF_INET, &snd);
	qs = crib_udp_bound(AF_INET, &q);
	if (r < 0 || s < 0 || qs < 0)
		return 1;
	if (connect(s, &rcv.sa, crib_addr_len(AF_INET)) || crib_cork(s, 1) ||
	    send(s, "pending ", 8, 0) < 0 || send(s, "frame", 5, 0) < 0) {
		pr_perror("corked sender");
		return 1;
	}
	if (sendto(qs, "queued", 6, 0, &rcv.sa, crib_addr_len(AF_INET)) < 0) {
		pr_perror("sendto");
		return 1;
	}

	test_daemon();
	while (test_go()) {
		state = step(state);
		steps++;
	}
	at_dump = steps;

	/* The state must be exactly `steps` steps from the seed. */
	check = 0x243f6a8885a308d3ULL;
	for (i = 0; i < at_dump; i++)
		check = step(check);
	if (check != state) {
		fail("state after %llu steps differs from a recomputation", (unsigned long long)at_dump);
		return 1;
	}
	if (at_dump == 0) {
		fail("the process never computed");
		return 1;
	}
	if (crib_expect(r, "queued", "queued", &q))
		return 1;
	if (crib_expect_empty(r, "before uncorking") || crib_cork(s, 0))
		return 1;
	if (crib_expect(r, "after uncorking", "pending frame", &snd))
		return 1;
	test_msg("%llu steps, state consistent\n", (unsigned long long)at_dump);
	pass();
	return 0;
}
