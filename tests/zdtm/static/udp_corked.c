/* A UDP socket under UDP_CORK with a pending frame built by two sends.
 * CRIU refuses to dump this; procfs cannot see the frame; crib can. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_RX 100
#define FD_TX 101

int test_setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int one = 1;
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(rx, (void *)&a, sizeof(a)) || getsockname(rx, (void *)&a, &l))
		setup_fail("bind: %m");
	if (connect(tx, (void *)&a, sizeof(a)))
		setup_fail("connect: %m");
	if (setsockopt(tx, IPPROTO_UDP, UDP_CORK, &one, sizeof(one)))
		setup_fail("UDP_CORK: %m");
	if (send(tx, "part1-", 6, 0) != 6 || send(tx, "part2", 5, 0) != 5)
		setup_fail("send: %m");
	dup2(rx, FD_RX);
	dup2(tx, FD_TX);
	close(rx);
	close(tx);
	return 0;
}

int test_verify(void)
{
	char buf[64] = { 0 };
	int cork = 0, zero = 0;
	socklen_t l = sizeof(cork);
	if (getsockopt(FD_TX, IPPROTO_UDP, UDP_CORK, &cork, &l) || !cork)
		fail("fd %d is not corked", FD_TX);
	if (recv(FD_RX, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		fail("a datagram arrived while corked: \"%s\"", buf);
	if (setsockopt(FD_TX, IPPROTO_UDP, UDP_CORK, &zero, sizeof(zero)))
		fail("uncork: %m");
	usleep(10000);
	ssize_t n = recv(FD_RX, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 11 || memcmp(buf, "part1-part2", 11))
		fail("after uncork got \"%s\" (%zd bytes), want one datagram \"part1-part2\"", n > 0 ? buf : "", n);
	if (recv(FD_RX, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		fail("more than one datagram after uncork");
	return 0;
}
