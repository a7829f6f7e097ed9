/* Anonymous/file, private/shared mappings (dump-and-compare: the runner
 * checks the dumped memory map against the expectations written here;
 * memory is not restored). */
#define _GNU_SOURCE
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void expect(int i, void *p, size_t len, const char *prot, int shared, long off, const char *path)
{
	char key[16];
	snprintf(key, sizeof(key), "map.%d", i);
	state_put(key, "%lx %lx %s %d %lx %s", (unsigned long)p, (unsigned long)p + len, prot, shared, off,
		  path);
}

int test_setup(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char path[4200];
	snprintf(path, sizeof(path), "%s/mapped", tmp_dir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 8 * pg))
		setup_fail("create %s: %m", path);
	/* Separate the mappings with PROT_NONE gaps so none merges with a neighbour. */
	char *base = mmap(NULL, 64 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		setup_fail("reserve: %m");
	void *a = mmap(base + 1 * pg, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *b = mmap(base + 16 * pg, 2 * pg, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *c = mmap(base + 32 * pg, 2 * pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, pg);
	void *d = mmap(base + 48 * pg, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 2 * pg);
	if (a == MAP_FAILED || b == MAP_FAILED || c == MAP_FAILED || d == MAP_FAILED)
		setup_fail("mmap: %m");
	memset(a, 1, 3 * pg);
	memset(d, 2, 4 * pg);
	close(fd);
	expect(0, a, 3 * pg, "rw-", 0, 0, "");
	expect(1, b, 2 * pg, "r--", 1, 0, "/dev/zero");
	expect(2, c, 2 * pg, "r-x", 0, pg, path);
	expect(3, d, 4 * pg, "rw-", 1, 2 * pg, path);
	state_put("maps", "4");
	return 0;
}

int test_verify(void)
{
	return 0;
}
