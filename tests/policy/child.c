/* Forked children for the policy/ tests, and the program's main. */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/policy/tests.h"

int
child_run(int (*fn)(void *, int), void *arg, char *out, size_t outsz)
{
	int	 p[2], status, rc;
	pid_t	 pid;
	size_t	 len = 0;
	ssize_t	 n;
	char	 sink[256];

	assert_int_equal(pipe(p), 0);
	/* A child that ends in exit(3) must not print our buffers again. */
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(p[0]);
		rc = fn(arg, p[1]);
		/*
		 * Not _exit(2) first: ASan prepares every call of a noreturn
		 * function with sigaltstack(2), which no filter allows.
		 */
		syscall(SYS_exit_group, rc);
		_exit(rc);
	}
	close(p[1]);
	for (;;) {
		if (out != NULL && len + 1 < outsz)
			n = read(p[0], out + len, outsz - 1 - len);
		else
			n = read(p[0], sink, sizeof(sink));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && len + 1 < outsz)
			len += (size_t)n;
	}
	close(p[0]);
	if (out != NULL && outsz > 0)
		out[len] = '\0';
	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	return status;
}

const char *
child_status(int status, char *buf, size_t bufsz)
{
	if (WIFEXITED(status))
		snprintf(buf, bufsz, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, bufsz, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, bufsz, "status %#x", (unsigned int)status);
	return buf;
}

int
main(void)
{
	const struct rlimit	 nocore = { 0, 0 };
	int			 failed = 0;

	/* Children killed by SIGSYS must not leave core files behind. */
	if (setrlimit(RLIMIT_CORE, &nocore) == -1) {
		perror("setrlimit");
		return 1;
	}
	failed += run_seccomp_tests();
	failed += run_privdrop_tests();
	failed += run_landlock_tests();
	return failed ? 1 : 0;
}
