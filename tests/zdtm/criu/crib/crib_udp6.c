// SPDX-License-Identifier: GPL-2.0-only
/*
 * IPv6: a receive queue from two senders and a corked connected sender
 * on ::1 survive C/R (the IPv6 paths of the plugin and of the restore
 * kfunc).
 */
#include "crib_udp.h"

const char *test_doc = "IPv6 UDP receive queue and corked frame survive C/R";
const char *test_author = "crib-kit";

int main(int argc, char **argv)
{
	union crib_addr rcv, a, b, c;
	int r, sa, sb, sc;

	test_init(argc, argv);

	r = crib_udp_bound(AF_INET6, &rcv);
	sa = crib_udp_bound(AF_INET6, &a);
	sb = crib_udp_bound(AF_INET6, &b);
	sc = crib_udp_bound(AF_INET6, &c);
	if (r < 0 || sa < 0 || sb < 0 || sc < 0)
		return 1;
	if (sendto(sa, "v6 from a", 9, 0, &rcv.sa, crib_addr_len(AF_INET6)) < 0 ||
	    sendto(sb, "v6 from b", 9, 0, &rcv.sa, crib_addr_len(AF_INET6)) < 0) {
		pr_perror("sendto");
		return 1;
	}
	if (connect(sc, &rcv.sa, crib_addr_len(AF_INET6)) || crib_cork(sc, 1) ||
	    send(sc, "corked ", 7, 0) < 0 || send(sc, "six", 3, 0) < 0) {
		pr_perror("corked sender");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (crib_expect(r, "queued", "v6 from a", &a) || crib_expect(r, "queued", "v6 from b", &b))
		return 1;
	if (crib_expect_empty(r, "before uncorking") || crib_cork(sc, 0))
		return 1;
	if (crib_expect(r, "after uncorking", "corked six", &c))
		return 1;
	pass();
	return 0;
}
