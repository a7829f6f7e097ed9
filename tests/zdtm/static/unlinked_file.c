/* An open file whose name is gone: contents and offset must survive. */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_GONE 100
#define LEN 20000

int test_setup(void)
{
	char path[4200];
	unsigned char buf[LEN];
	snprintf(path, sizeof(path), "%s/gone", tmp_dir());
	fill_pattern(buf, LEN, 9);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0 || write(fd, buf, LEN) != LEN || unlink(path))
		setup_fail("create/unlink %s: %m", path);
	lseek(fd, 4321, SEEK_SET);
	if (dup2(fd, FD_GONE) != FD_GONE)
		setup_fail("dup2: %m");
	close(fd);
	return 0;
}

int test_verify(void)
{
	struct stat st;
	unsigned char buf[LEN];
	if (fstat(FD_GONE, &st))
		fail("fstat: %m");
	if (st.st_nlink != 0)
		fail("file has %lu links, want 0 (unlinked)", (unsigned long)st.st_nlink);
	if (st.st_size != LEN)
		fail("size %lld, want %d", (long long)st.st_size, LEN);
	if ((st.st_mode & 0777) != 0640)
		fail("mode %o, want 640", st.st_mode & 0777);
	if (lseek(FD_GONE, 0, SEEK_CUR) != 4321)
		fail("offset %lld, want 4321", (long long)lseek(FD_GONE, 0, SEEK_CUR));
	if (pread(FD_GONE, buf, LEN, 0) != LEN || check_pattern(buf, LEN, 9))
		fail("contents differ");
	return 0;
}
