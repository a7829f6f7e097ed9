/* O_APPEND survives: writes land at the end whatever the offset. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_APP 100

int test_setup(void)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/log", tmp_dir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0 || write(fd, "first;", 6) != 6)
		setup_fail("create %s: %m", path);
	if (dup2(fd, FD_APP) != FD_APP)
		setup_fail("dup2: %m");
	close(fd);
	state_put("path", "%s", path);
	return 0;
}

int test_verify(void)
{
	if (!(fd_flags(FD_APP) & O_APPEND))
		fail("fd %d lost O_APPEND", FD_APP);
	lseek(FD_APP, 0, SEEK_SET);
	if (write(FD_APP, "second;", 7) != 7)
		fail("write: %m");
	char buf[64] = { 0 };
	int r = open(state_get("path"), O_RDONLY);
	if (r < 0 || read(r, buf, sizeof(buf) - 1) < 0)
		fail("read back: %m");
	if (strncmp(buf, "first;second;", 13))
		fail("file holds \"%s\", want \"first;second;...\"", buf);
	/* Undo for the next run of the same state (live run, then restore). */
	struct stat st;
	fstat(FD_APP, &st);
	if (ftruncate(FD_APP, 6))
		fail("truncate: %m");
	return 0;
}
