/* mixer: hold a generated mix of kernel objects for differential engine
 * tests. Usage: mixer PIDFILE DIR ITEM...; items:
 *   file:r|w|rw|a:POS      a file in DIR opened with those flags at POS
 *   pipe:N                 a pipe with N bytes buffered
 *   unix:stream|dgram:N    a socketpair with N bytes (dgram: N datagrams) queued
 *   udp:N                  a bound UDP socket with N queued datagrams + its sender
 *   tcp:N                  an established loopback pair, N unread bytes on the server
 *   map:r|rw|rx:s|p:PAGES  an anonymous mapping
 * Writes its pid to PIDFILE when ready, then sleeps until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, const char *item)
{
	fprintf(stderr, "mixer: %s: %s: %m\n", item, what);
	exit(1);
}

static void fill(int fd, size_t n, const char *item)
{
	char buf[256];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + n);
	while (n) {
		size_t k = n > sizeof(buf) ? sizeof(buf) : n;
		if (write(fd, buf, k) != (ssize_t)k)
			die("write", item);
		n -= k;
	}
}

static int udp_bound(struct sockaddr_in *a, const char *item)
{
	socklen_t l = sizeof(*a);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (void *)a, sizeof(*a)) || getsockname(s, (void *)a, &l))
		die("udp", item);
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mixer PIDFILE DIR ITEM...\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		char *it = argv[i], a[32] = "", b[32] = "";
		long n = 0;
		if (sscanf(it, "file:%31[a-z]:%ld", a, &n) == 2) {
			char path[4200];
			int fl = !strcmp(a, "r") ? O_RDONLY : !strcmp(a, "w") ? O_WRONLY : !strcmp(a, "a") ? O_WRONLY | O_APPEND : O_RDWR;
			snprintf(path, sizeof(path), "%s/f%d", argv[2], i);
			int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || ftruncate(fd, n + 100))
				die("create", it);
			close(fd);
			fd = open(path, fl);
			if (fd < 0 || lseek(fd, n, SEEK_SET) != n)
				die("open", it);
		} else if (sscanf(it, "pipe:%ld", &n) == 1) {
			int p[2];
			if (pipe(p))
				die("pipe", it);
			/* Room for all of it, or the write would block forever. */
			if (n > 65536 && fcntl(p[1], F_SETPIPE_SZ, (int)n) < 0)
				die("F_SETPIPE_SZ", it);
			fill(p[1], n, it);
		} else if (sscanf(it, "unix:%31[a-z]:%ld", a, &n) == 2) {
			int sv[2], dgram = !strcmp(a, "dgram");
			if (socketpair(AF_UNIX, dgram ? SOCK_DGRAM : SOCK_STREAM, 0, sv))
				die("socketpair", it);
			for (long k = 0; k < (dgram ? n : 1); k++)
				fill(sv[0], dgram ? (size_t)k + 1 : (size_t)n, it);
		} else if (sscanf(it, "udp:%ld", &n) == 1) {
			struct sockaddr_in ra, sa;
			int r = udp_bound(&ra, it), s = udp_bound(&sa, it);
			(void)r;
			for (long k = 0; k < n; k++)
				if (sendto(s, "datagram", 1 + k % 8, 0, (void *)&ra, sizeof(ra)) < 0)
					die("sendto", it);
		} else if (sscanf(it, "tcp:%ld", &n) == 1) {
			struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			socklen_t l = sizeof(la);
			int ls = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
			if (bind(ls, (void *)&la, sizeof(la)) || listen(ls, 1) || getsockname(ls, (void *)&la, &l) ||
			    connect(c, (void *)&la, sizeof(la)) || accept(ls, NULL, NULL) < 0)
				die("tcp", it);
			close(ls);
			fill(c, n, it);
		} else if (sscanf(it, "map:%31[a-z]:%31[a-z]:%ld", a, b, &n) == 3) {
			int prot = PROT_READ | (strchr(a, 'w') ? PROT_WRITE : 0) | (strchr(a, 'x') ? PROT_EXEC : 0);
			/* A PROT_NONE guard page on each side keeps it from merging. */
			long pg = sysconf(_SC_PAGESIZE);
			char *g = mmap(NULL, (n + 2) * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (g == MAP_FAILED ||
			    mmap(g + pg, n * pg, prot, (b[0] == 's' ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				die("mmap", it);
		} else {
			fprintf(stderr, "mixer: unknown item %s\n", it);
			return 2;
		}
	}
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) || rename(tmp, argv[1]))
		die("pidfile", argv[1]);
	for (;;)
		pause();
}
