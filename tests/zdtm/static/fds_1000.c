/* 1000 descriptors, each with its own offset. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#define BASE 200
#define N 1000

int test_setup(void)
{
	struct rlimit r;
	getrlimit(RLIMIT_NOFILE, &r);
	if (r.rlim_max < BASE + N + 16)
		setup_fail("RLIMIT_NOFILE hard limit %llu is too low", (unsigned long long)r.rlim_max);
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
	char path[4200];
	snprintf(path, sizeof(path), "%s/many", tmp_dir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4096))
		setup_fail("create %s: %m", path);
	for (int i = 0; i < N; i++) {
		int f = open(path, i % 2 ? O_RDONLY : O_RDWR);
		if (f < 0 || dup2(f, BASE + i) != BASE + i)
			setup_fail("fd %d: %m", BASE + i);
		close(f);
		lseek(BASE + i, i, SEEK_SET);
	}
	close(fd);
	return 0;
}

int test_verify(void)
{
	for (int i = 0; i < N; i++) {
		off_t p = lseek(BASE + i, 0, SEEK_CUR);
		if (p != i)
			fail("fd %d: offset %lld, want %d", BASE + i, (long long)p, i);
		int acc = fd_flags(BASE + i) & O_ACCMODE;
		if (acc != (i % 2 ? O_RDONLY : O_RDWR))
			fail("fd %d: access mode %o", BASE + i, acc);
	}
	return 0;
}
