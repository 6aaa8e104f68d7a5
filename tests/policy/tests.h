/*
 * The policy/ unit test program: one cmocka group per file, and the
 * fork helper every test uses, since a seccomp filter, a dropped uid or a
 * cleared capability set can never be undone in the process that has it.
 */
#ifndef DROMOS_TESTS_POLICY_H
#define DROMOS_TESTS_POLICY_H

#include <stddef.h>

int	 run_seccomp_tests(void);	/* test_seccomp.c */
int	 run_privdrop_tests(void);	/* test_privdrop.c */
int	 run_landlock_tests(void);	/* test_landlock.c */

/*
 * Run fn(arg, outfd) in a forked child that ends with exit_group(2) of
 * fn's value,
 * so nothing of the test runner (atexit, stdio buffers, cmocka's state)
 * runs there.  What the child writes to outfd is returned NUL-terminated
 * in out (may be NULL).  Returns the wait(2) status.
 */
int	 child_run(int (*fn)(void *arg, int outfd), void *arg, char *out,
	    size_t outsz);

/* Describe a wait status for failure messages: "exit 3", "signal 31". */
const char *child_status(int status, char *buf, size_t bufsz);

#endif
