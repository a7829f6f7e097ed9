/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers of the kit's ZDTM-protocol UDP tests (built against CRIU's
 * test/zdtm/lib by `cargo xtask criu build`): loopback sockets of either
 * family, sends, and checked receives.
 */
#ifndef CRIB_UDP_H
#define CRIB_UDP_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "zdtmtst.h"

union crib_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static inline socklen_t crib_addr_len(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* A UDP socket bound to the loopback address of @family, any port. */
static inline int crib_udp_bound(int family, union crib_addr *a)
{
	socklen_t len = crib_addr_len(family);
	int sk = socket(family, SOCK_DGRAM, 0);

	memset(a, 0, sizeof(*a));
	a->sa.sa_family = family;
	if (family == AF_INET6)
		a->in6.sin6_addr = in6addr_loopback;
	else
		a->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sk < 0 || bind(sk, &a->sa, len) || getsockname(sk, &a->sa, &len)) {
		pr_perror("UDP socket on the loopback");
		return -1;
	}
	return sk;
}

static inline int crib_same_addr(const union crib_addr *a, const union crib_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(struct in6_addr));
	return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
}

static inline int crib_cork(int sk, int on)
{
	if (setsockopt(sk, SOL_UDP, UDP_CORK, &on, sizeof(on))) {
		pr_perror("UDP_CORK %d", on);
		return -1;
	}
	return 0;
}

/*
 * Receive one datagram without waiting and check its bytes and, when
 * @from is given, its sender. 0 when it matches.
 */
static inline int crib_expect(int sk, const char *what, const char *want, const union crib_addr *from)
{
	union crib_addr src;
	socklen_t len = sizeof(src);
	char buf[256];
	ssize_t n;

	memset(&src, 0, sizeof(src));
	n = recvfrom(sk, buf, sizeof(buf) - 1, MSG_DONTWAIT, &src.sa, &len);
	if (n < 0) {
		fail("%s: no datagram \"%s\" after restore", what, want);
		return -1;
	}
	buf[n] = 0;
	if (strcmp(buf, want)) {
		fail("%s: got \"%s\", want \"%s\"", what, buf, want);
		return -1;
	}
	if (from && !crib_same_addr(&src, from)) {
		fail("%s: \"%s\" arrived from another sender", what, want);
		return -1;
	}
	return 0;
}

/* The queue of @sk is empty (nothing arrives without waiting). */
static inline int crib_expect_empty(int sk, const char *what)
{
	char buf[16];

	if (recv(sk, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
		fail("%s: a datagram arrived while the sender was still corked", what);
		return -1;
	}
	if (errno != EAGAIN) {
		pr_perror("%s: recv", what);
		return -1;
	}
	return 0;
}

#endif
