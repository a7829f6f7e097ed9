/* UDP: a bound receiver with queued datagrams from two senders, one of them
 * connected; the connected one also has a datagram queued. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_U1 100
#define FD_U2 101
#define FD_U3 102

static int bound_udp(struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	a->sin_family = AF_INET;
	a->sin_port = 0;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (void *)a, sizeof(*a)) || getsockname(s, (void *)a, &l))
		setup_fail("udp bind: %m");
	return s;
}

int test_setup(void)
{
	struct sockaddr_in a1, a2, a3;
	int u1 = bound_udp(&a1), u2 = bound_udp(&a2), u3 = bound_udp(&a3);
	if (connect(u2, (void *)&a1, sizeof(a1)))
		setup_fail("connect: %m");
	if (send(u2, "from-u2", 7, 0) != 7 || sendto(u3, "from-u3", 7, 0, (void *)&a1, sizeof(a1)) != 7 ||
	    sendto(u1, "to-u2", 5, 0, (void *)&a2, sizeof(a2)) != 5)
		setup_fail("send: %m");
	state_put("p1", "%d", ntohs(a1.sin_port));
	state_put("p2", "%d", ntohs(a2.sin_port));
	state_put("p3", "%d", ntohs(a3.sin_port));
	dup2(u1, FD_U1);
	dup2(u2, FD_U2);
	dup2(u3, FD_U3);
	close(u1);
	close(u2);
	close(u3);
	return 0;
}

static void expect_from(int fd, const char *want, int port)
{
	char buf[64] = { 0 };
	struct sockaddr_in from;
	socklen_t l = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (void *)&from, &l);
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, n))
		fail("fd %d: got \"%s\" (%zd), want \"%s\"", fd, n > 0 ? buf : "", n, want);
	if (ntohs(from.sin_port) != port)
		fail("fd %d: \"%s\" came from port %d, want %d", fd, want, ntohs(from.sin_port), port);
}

static int port_of(int fd, int peer)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	if ((peer ? getpeername(fd, (void *)&a, &l) : getsockname(fd, (void *)&a, &l)))
		fail("fd %d: get%sname: %m", fd, peer ? "peer" : "sock");
	return ntohs(a.sin_port);
}

int test_verify(void)
{
	int p1 = state_ll("p1"), p2 = state_ll("p2"), p3 = state_ll("p3");
	if (port_of(FD_U1, 0) != p1 || port_of(FD_U2, 0) != p2 || port_of(FD_U3, 0) != p3)
		fail("local ports changed");
	if (port_of(FD_U2, 1) != p1)
		fail("fd %d is not connected to port %d", FD_U2, p1);
	expect_from(FD_U1, "from-u2", p2);
	expect_from(FD_U1, "from-u3", p3);
	expect_from(FD_U2, "to-u2", p1);
	if (send(FD_U2, "again", 5, 0) != 5)
		fail("send on connected socket: %m");
	usleep(10000);
	expect_from(FD_U1, "again", p2);
	return 0;
}
