// SPDX-License-Identifier: GPL-2.0-only
/*
 * A connected UDP socket with UDP_CORK set whose pending frame came from
 * three sends: after C/R nothing may have left, and uncorking must send
 * one datagram with the three parts in order. CRIU alone refuses the
 * socket ("Can't dump corked dgram socket").
 */
#include "crib_udp.h"

const char *test_doc = "corked UDP frame of three sends survives C/R as one datagram";
const char *test_author = "crib-kit";

int main(int argc, char **argv)
{
	static const char *parts[] = { "alpha,", "beta,", "gamma" };
	union crib_addr rcv, snd;
	int r, s, i;

	test_init(argc, argv);

	r = crib_udp_bound(AF_INET, &rcv);
	s = crib_udp_bound(AF_INET, &snd);
	if (r < 0 || s < 0)
		return 1;
	if (connect(s, &rcv.sa, crib_addr_len(AF_INET))) {
		pr_perror("connect");
		return 1;
	}
	if (crib_cork(s, 1))
		return 1;
	for (i = 0; i < 3; i++)
		if (send(s, parts[i], strlen(parts[i]), 0) < 0) {
			pr_perror("send");
			return 1;
		}

	test_daemon();
	test_waitsig();

	if (crib_expect_empty(r, "before uncorking"))
		return 1;
	if (crib_cork(s, 0))
		return 1;
	if (crib_expect(r, "after uncorking", "alpha,beta,gamma", &snd))
		return 1;
	pass();
	return 0;
}
