// SPDX-License-Identifier: GPL-2.0-only
/*
 * An unconnected UDP socket with UDP_CORK set and a pending frame made
 * with sendto(): the frame's destination lives only in the socket's cork
 * state. After C/R, uncorking must still deliver it there.
 */
#include "crib_udp.h"

const char *test_doc = "corked frame of an unconnected sendto() survives C/R";
const char *test_author = "crib-kit";

int main(int argc, char **argv)
{
	union crib_addr rcv, snd;
	socklen_t len = crib_addr_len(AF_INET);
	int r, s;

	test_init(argc, argv);

	r = crib_udp_bound(AF_INET, &rcv);
	s = crib_udp_bound(AF_INET, &snd);
	if (r < 0 || s < 0 || crib_cork(s, 1))
		return 1;
	if (sendto(s, "to ", 3, 0, &rcv.sa, len) < 0 || sendto(s, "you", 3, 0, &rcv.sa, len) < 0) {
		pr_perror("sendto");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (crib_expect_empty(r, "before uncorking") || crib_cork(s, 0))
		return 1;
	if (crib_expect(r, "after uncorking", "to you", &snd))
		return 1;
	pass();
	return 0;
}
