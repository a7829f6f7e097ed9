// SPDX-License-Identifier: GPL-2.0-only
/*
 * A UDP socket whose receive queue holds datagrams from several senders:
 * after C/R it must deliver them all, in order, with their senders.
 * CRIU alone drops the queue ("Read queue is dropped"); with the crib
 * plugin it is carried through bpf_crib_udp_queue_rcv.
 */
#include "crib_udp.h"

const char *test_doc = "UDP receive queue from three senders survives C/R, senders kept";
const char *test_author = "crib-kit";

#define SENDERS 3

int main(int argc, char **argv)
{
	static const char *msgs[] = { "one from A", "two from B", "three from C", "four from A" };
	static const int who[] = { 0, 1, 2, 0 };
	union crib_addr rcv, snd[SENDERS];
	int r, s[SENDERS], i;

	test_init(argc, argv);

	r = crib_udp_bound(AF_INET, &rcv);
	if (r < 0)
		return 1;
	for (i = 0; i < SENDERS; i++) {
		s[i] = crib_udp_bound(AF_INET, &snd[i]);
		if (s[i] < 0)
			return 1;
	}
	for (i = 0; i < 4; i++) {
		if (sendto(s[who[i]], msgs[i], strlen(msgs[i]), 0, &rcv.sa, crib_addr_len(AF_INET)) < 0) {
			pr_perror("sendto");
			return 1;
		}
	}

	test_daemon();
	test_waitsig();

	for (i = 0; i < 4; i++)
		if (crib_expect(r, "receive queue", msgs[i], &snd[who[i]]))
			return 1;
	if (crib_expect_empty(r, "after the queued datagrams"))
		return 1;
	pass();
	return 0;
}
