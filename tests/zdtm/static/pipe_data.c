/* A pipe holding unread data, both ends open; a second pipe whose writer
 * end is non-blocking. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <unistd.h>

#define FD_R 100
#define FD_W 101
#define LEN 3000

int test_setup(void)
{
	int p[2];
	unsigned char buf[LEN];
	fill_pattern(buf, LEN, 5);
	if (pipe(p) || write(p[1], buf, LEN) != LEN)
		setup_fail("pipe: %m");
	if (dup2(p[0], FD_R) != FD_R || dup2(p[1], FD_W) != FD_W)
		setup_fail("dup2: %m");
	close(p[0]);
	close(p[1]);
	fcntl(FD_W, F_SETFL, O_NONBLOCK);
	return 0;
}

int test_verify(void)
{
	unsigned char buf[LEN + 16];
	if ((fd_flags(FD_R) & O_ACCMODE) != O_RDONLY || (fd_flags(FD_W) & O_ACCMODE) != O_WRONLY)
		fail("pipe ends have the wrong access modes");
	if (!(fd_flags(FD_W) & O_NONBLOCK))
		fail("write end lost O_NONBLOCK");
	fcntl(FD_R, F_SETFL, O_NONBLOCK);
	ssize_t n = read(FD_R, buf, sizeof(buf));
	if (n != LEN)
		fail("read %zd bytes from the pipe, want %d", n, LEN);
	if (check_pattern(buf, LEN, 5))
		fail("pipe data differs");
	/* The two ends are one pipe. */
	if (write(FD_W, "x", 1) != 1 || read(FD_R, buf, 1) != 1 || buf[0] != 'x')
		fail("write end is not connected to read end");
	return 0;
}
