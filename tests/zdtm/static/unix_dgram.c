/* A unix datagram socketpair: queued datagrams keep their boundaries. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_A 100
#define FD_B 101
static const char *msgs[] = { "one", "two-two", "three-three-three" };

int test_setup(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		setup_fail("socketpair: %m");
	for (int i = 0; i < 3; i++)
		if (send(sv[0], msgs[i], strlen(msgs[i]), 0) < 0)
			setup_fail("send: %m");
	if (send(sv[1], "back", 4, 0) != 4)
		setup_fail("send: %m");
	dup2(sv[0], FD_A);
	dup2(sv[1], FD_B);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

int test_verify(void)
{
	char buf[64];
	for (int i = 0; i < 3; i++) {
		memset(buf, 0, sizeof(buf));
		ssize_t n = recv(FD_B, buf, sizeof(buf), MSG_DONTWAIT);
		if (n != (ssize_t)strlen(msgs[i]) || memcmp(buf, msgs[i], n))
			fail("datagram %d: got \"%s\" (%zd), want \"%s\"", i, n > 0 ? buf : "", n, msgs[i]);
	}
	if (recv(FD_B, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		fail("an extra datagram was queued");
	memset(buf, 0, sizeof(buf));
	if (recv(FD_A, buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "back", 4))
		fail("reverse datagram lost");
	return 0;
}
