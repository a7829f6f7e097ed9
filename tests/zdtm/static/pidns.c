/* The task under test is pid 1 of its own pid namespace. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define FD_F 100
int zdtm_want_pidns = 1;

int test_setup(void)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/in-ns", tmp_dir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16 || lseek(fd, 5, SEEK_SET) != 5)
		setup_fail("file: %m");
	dup2(fd, FD_F);
	close(fd);
	state_put("vpid", "%d", getpid());
	return 0;
}

int test_verify(void)
{
	if (getpid() != state_ll("vpid"))
		fail("pid is %d, want %lld (pid in its own namespace)", getpid(), state_ll("vpid"));
	if (lseek(FD_F, 0, SEEK_CUR) != 5)
		fail("offset %lld, want 5", (long long)lseek(FD_F, 0, SEEK_CUR));
	return 0;
}
