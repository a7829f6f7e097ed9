/* ZDTM-style test protocol for crib-kit (our own, modelled on CRIU's zdtm).
 *
 * A test is run twice:
 *   setup:  T --pidfile P --outfile O --state S
 *           sets up kernel state, records what it expects in S (key=value
 *           lines), writes its pid to P, then waits. On SIGTERM (the "live"
 *           run, no checkpoint/restore) it verifies in place and writes
 *           PASS or "FAIL: reason" to O.
 *   verify: T --verify --outfile O --state S
 *           run by `crib restore ... -- T --verify ...` in a fresh process
 *           that holds the restored descriptors; checks them against S.
 * The runner kills the setup process after the dump; O decides the result.
 */
#ifndef ZDTMTST_H
#define ZDTMTST_H

#include <stddef.h>

/* Each test defines these two; return 0 or call fail(). */
int test_setup(void);
int test_verify(void);

/* Set to 1 by a test (before main) to run setup as pid 1 of a new pid namespace. */
extern int zdtm_want_pidns;

void state_put(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *state_get(const char *key);            /* fails the test if missing */
long long state_ll(const char *key);
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void setup_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Helpers. */
void fill_pattern(unsigned char *buf, size_t len, unsigned seed);
int check_pattern(const unsigned char *buf, size_t len, unsigned seed);
int fd_flags(int fd);                               /* F_GETFL or fail */
void expect_fd_closed(int fd, const char *why);
const char *tmp_dir(void);                          /* dir of the state file */

#endif
