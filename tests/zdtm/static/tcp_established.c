/* An established loopback TCP connection with unread data on the server
 * and unsent data still in the client's write queue (the receiver's window
 * is full), plus unread data on the client. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#define FD_CLI 100
#define FD_SRV 101
#define MAXLEN (4 << 20)

int test_setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1, small = 4096;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (void *)&a, &alen))
		setup_fail("listen: %m");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(c, (void *)&a, sizeof(a)))
		setup_fail("connect: %m");
	int s = accept(l, NULL, NULL);
	if (s < 0)
		setup_fail("accept: %m");
	close(l);
	if (send(s, "server-says-hi", 14, 0) != 14)
		setup_fail("send: %m");
	/* Fill until the window closes: the tail stays unsent in the client. */
	unsigned char *buf = malloc(MAXLEN);
	fill_pattern(buf, MAXLEN, 11);
	fcntl(c, F_SETFL, O_NONBLOCK);
	size_t total = 0;
	for (int idle = 0; idle < 50 && total < MAXLEN;) {
		ssize_t n = send(c, buf + total, MAXLEN - total > 1000 ? 1000 : MAXLEN - total, 0);
		if (n > 0) {
			total += n;
			idle = 0;
		} else if (errno == EAGAIN) {
			idle++;
			usleep(2000);
		} else
			setup_fail("send: %m");
	}
	int unsent = 0;
	ioctl(c, SIOCOUTQNSD, &unsent);
	if (unsent <= 0)
		setup_fail("no unsent data in the client after %zu bytes", total);
	state_put("total", "%zu", total);
	state_put("unsent", "%d", unsent);
	dup2(c, FD_CLI);
	dup2(s, FD_SRV);
	close(c);
	close(s);
	free(buf);
	return 0;
}

static size_t read_all(int fd, unsigned char *buf, size_t want, int ms)
{
	size_t got = 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, ms) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, want - got, 0);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

int test_verify(void)
{
	size_t total = state_ll("total");
	unsigned char *buf = malloc(total + 1);
	if (!(fd_flags(FD_CLI) & O_NONBLOCK))
		fail("client lost O_NONBLOCK");
	size_t got = read_all(FD_SRV, buf, total, 10000);
	if (got != total)
		fail("server received %zu of %zu bytes", got, total);
	if (check_pattern(buf, total, 11))
		fail("server received corrupted data");
	char hi[32] = { 0 };
	if (read_all(FD_CLI, (unsigned char *)hi, 14, 5000) != 14 || strcmp(hi, "server-says-hi"))
		fail("client received \"%s\", want \"server-says-hi\"", hi);
	if (send(FD_CLI, "more", 4, 0) != 4 || read_all(FD_SRV, buf, 4, 5000) != 4 || memcmp(buf, "more", 4))
		fail("connection does not carry new data");
	free(buf);
	return 0;
}
