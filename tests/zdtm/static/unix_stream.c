/* A unix stream socketpair with data queued in both directions. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_A 100
#define FD_B 101

int test_setup(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		setup_fail("socketpair: %m");
	if (send(sv[0], "hello ", 6, 0) != 6 || send(sv[0], "b-side", 6, 0) != 6 ||
	    send(sv[1], "to-a", 4, 0) != 4)
		setup_fail("send: %m");
	dup2(sv[0], FD_A);
	dup2(sv[1], FD_B);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static void expect(int fd, const char *want)
{
	char buf[64] = { 0 };
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, n))
		fail("fd %d: received \"%s\" (%zd bytes), want \"%s\"", fd, n > 0 ? buf : "", n, want);
}

int test_verify(void)
{
	int type = 0;
	socklen_t len = sizeof(type);
	getsockopt(FD_A, SOL_SOCKET, SO_TYPE, &type, &len);
	if (type != SOCK_STREAM)
		fail("fd %d: type %d, want SOCK_STREAM", FD_A, type);
	expect(FD_B, "hello b-side");
	expect(FD_A, "to-a");
	if (send(FD_A, "ping", 4, 0) != 4)
		fail("send after restore: %m");
	expect(FD_B, "ping");
	return 0;
}
