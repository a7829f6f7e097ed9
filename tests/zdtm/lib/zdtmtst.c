#define _GNU_SOURCE
#include "zdtmtst.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int zdtm_want_pidns __attribute__((weak)) = 0;

static const char *pidfile, *outfile, *statefile;
static char statedir[4096];
static int verify_mode;
static volatile sig_atomic_t got_term;

#define MAX_KEYS 256
static char *keys[MAX_KEYS], *vals[MAX_KEYS];
static int nkeys, state_loaded;

static void out_line(const char *line)
{
	/* O_APPEND + one write: the runner never sees a half line. */
	int fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%s\n", line);
		close(fd);
	}
	printf("%s\n", line);
	fflush(stdout);
}

static void vfail(const char *prefix, const char *fmt, va_list ap)
{
	char msg[1024], line[1100];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(line, sizeof(line), "%s%s", prefix, msg);
	out_line(line);
}

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail("FAIL: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void setup_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail("FAIL: setup: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void state_put(const char *key, const char *fmt, ...)
{
	char val[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	FILE *f = fopen(statefile, "ae");
	if (!f)
		setup_fail("open state %s: %m", statefile);
	fprintf(f, "%s=%s\n", key, val);
	fclose(f);
}

static void load_state(void)
{
	char line[8192];
	FILE *f;
	if (state_loaded)
		return;
	state_loaded = 1;
	f = fopen(statefile, "re");
	if (!f)
		fail("open state %s: %m", statefile);
	while (fgets(line, sizeof(line), f) && nkeys < MAX_KEYS) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		line[strcspn(eq + 1, "\n") + (eq + 1 - line)] = 0;
		keys[nkeys] = strdup(line);
		vals[nkeys] = strdup(eq + 1);
		nkeys++;
	}
	fclose(f);
}

const char *state_get(const char *key)
{
	load_state();
	for (int i = nkeys - 1; i >= 0; i--)
		if (!strcmp(keys[i], key))
			return vals[i];
	fail("state file has no key %s", key);
}

long long state_ll(const char *key)
{
	return strtoll(state_get(key), NULL, 0);
}

void fill_pattern(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

int check_pattern(const unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (unsigned char)((i * 31 + seed * 7 + (i >> 8)) & 0xff))
			return -1;
	return 0;
}

int fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		fail("fd %d: F_GETFL: %m", fd);
	return fl;
}

void expect_fd_closed(int fd, const char *why)
{
	if (fcntl(fd, F_GETFD) >= 0)
		fail("fd %d is open but should not be (%s)", fd, why);
}

const char *tmp_dir(void)
{
	return statedir;
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void write_pidfile(pid_t pid)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
	FILE *f = fopen(tmp, "we");
	if (!f)
		setup_fail("open %s: %m", tmp);
	fprintf(f, "%d\n", pid);
	fclose(f);
	if (rename(tmp, pidfile))
		setup_fail("rename %s: %m", tmp);
}

static void wait_term(void)
{
	sigset_t none;
	sigemptyset(&none);
	while (!got_term)
		sigsuspend(&none);
}

static int run_setup(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!zdtm_want_pidns) {
		test_setup();
		write_pidfile(getpid());
		sigset_t none;
		sigemptyset(&none);
		while (!got_term)
			sigsuspend(&none);
		test_verify();
		out_line("PASS");
		return 0;
	}

	/* pid-namespace flavour: the task under test is pid 1 of a new pidns. */
	int ready[2];
	if (pipe2(ready, O_CLOEXEC))
		setup_fail("pipe: %m");
	if (unshare(CLONE_NEWPID))
		setup_fail("unshare(CLONE_NEWPID): %m");
	pid_t child = fork();
	if (child < 0)
		setup_fail("fork: %m");
	if (child == 0) {
		close(ready[0]);
		if (getpid() != 1)
			setup_fail("child is pid %d, not 1", getpid());
		test_setup();
		if (write(ready[1], "r", 1) != 1)
			setup_fail("ready: %m");
		close(ready[1]);
		wait_term();
		test_verify();
		out_line("PASS");
		_exit(0);
	}
	close(ready[1]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		setup_fail("child died before it was ready");
	close(ready[0]);
	write_pidfile(child);
	int status;
	waitpid(child, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verify"))
			verify_mode = 1;
		else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (!strcmp(argv[i], "--outfile") && i + 1 < argc)
			outfile = argv[++i];
		else if (!strcmp(argv[i], "--state") && i + 1 < argc)
			statefile = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--verify] --outfile O --state S [--pidfile P]\n", argv[0]);
			return 2;
		}
	}
	if (!outfile || !statefile || (!verify_mode && !pidfile)) {
		fprintf(stderr, "%s: --outfile and --state are required (and --pidfile for setup)\n", argv[0]);
		return 2;
	}
	snprintf(statedir, sizeof(statedir), "%s", statefile);
	char *slash = strrchr(statedir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(statedir, ".");
	if (verify_mode) {
		test_verify();
		out_line("PASS");
		return 0;
	}
	return run_setup();
}
