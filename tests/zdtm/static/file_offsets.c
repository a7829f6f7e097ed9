/* Regular files: offsets, access modes, O_NONBLOCK, and close-on-exec. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#define FD_RW 100
#define FD_RO 101
#define FD_WO 102
#define FD_CLOEX 103

static void place(int fd, int at)
{
	if (dup2(fd, at) != at)
		setup_fail("dup2 %d: %m", at);
	close(fd);
}

int test_setup(void)
{
	char path[4200], buf[8192];
	snprintf(path, sizeof(path), "%s/data", tmp_dir());
	fill_pattern((unsigned char *)buf, sizeof(buf), 3);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf))
		setup_fail("create %s: %m", path);
	lseek(fd, 1234, SEEK_SET);
	place(fd, FD_RW);
	place(open(path, O_RDONLY | O_NONBLOCK), FD_RO);
	lseek(FD_RO, 7, SEEK_SET);
	place(open(path, O_WRONLY), FD_WO);
	lseek(FD_WO, 8000, SEEK_SET);
	place(open(path, O_RDONLY), FD_CLOEX);
	fcntl(FD_CLOEX, F_SETFD, FD_CLOEXEC);
	return 0;
}

static void check(int fd, off_t pos, int acc, int extra)
{
	off_t cur = lseek(fd, 0, SEEK_CUR);
	if (cur != pos)
		fail("fd %d: offset %lld, want %lld", fd, (long long)cur, (long long)pos);
	int fl = fd_flags(fd);
	if ((fl & O_ACCMODE) != acc)
		fail("fd %d: access mode %o, want %o", fd, fl & O_ACCMODE, acc);
	if ((fl & extra) != extra)
		fail("fd %d: flags %o lack %o", fd, fl, extra);
}

int test_verify(void)
{
	unsigned char buf[8192], want[8192];
	fill_pattern(want, sizeof(want), 3);
	check(FD_RW, 1234, O_RDWR, 0);
	check(FD_RO, 7, O_RDONLY, O_NONBLOCK);
	check(FD_WO, 8000, O_WRONLY, 0);
	if (fd_flags(FD_RW) & O_NONBLOCK)
		fail("fd %d: O_NONBLOCK appeared", FD_RW);
	if (pread(FD_RW, buf, sizeof(buf), 0) != sizeof(buf) || memcmp(buf, want, sizeof(buf)))
		fail("fd %d: contents differ", FD_RW);
	/* In the live run the cloexec fd is still open (no exec happened). */
	if (getenv("ZDTM_RESTORED"))
		expect_fd_closed(FD_CLOEX, "it was close-on-exec and restore execs the verifier");
	return 0;
}
