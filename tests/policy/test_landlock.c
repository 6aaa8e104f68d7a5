/*
 * dromosd's Landlock ruleset (policy/landlock.c), in forked children: once
 * it is in force a file can be created and written beneath the audit
 * directory and nowhere else, and nothing else can be opened by path.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "tests/policy/tests.h"

struct ll_env {
	char	 top[40];	/* holds dir/ and a sibling file */
	char	 dir[64];
	char	 sibling[64];
	int	 dirfd;
};

/* A file of these bytes, made here. */
static void
make_file(const char *path, const char *text)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/*
 * top/ (mkdtemp), top/dir/ holding the file "inside" (3 bytes), and
 * top/sibling (5 bytes), which no rule names; dirfd is dir's, O_PATH.
 */
static void
ll_env_make(struct ll_env *e)
{
	char	 path[96];

	memset(e, 0, sizeof(*e));
	snprintf(e->top, sizeof(e->top), "/tmp/dromos-test-ll.XXXXXX");
	assert_non_null(mkdtemp(e->top));
	snprintf(e->dir, sizeof(e->dir), "%s/dir", e->top);
	snprintf(e->sibling, sizeof(e->sibling), "%s/sibling", e->top);
	assert_int_equal(mkdir(e->dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/inside", e->dir);
	make_file(path, "in\n");
	make_file(e->sibling, "keep\n");
	e->dirfd = open(e->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(e->dirfd >= 0);
}

/* All of it, and the file made beneath dir, if any. */
static void
ll_env_remove(struct ll_env *e, const char *made)
{
	char	 path[96];

	close(e->dirfd);
	snprintf(path, sizeof(path), "%s/inside", e->dir);
	assert_int_equal(unlink(path), 0);
	if (made != NULL) {
		snprintf(path, sizeof(path), "%s/%s", e->dir, made);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(e->dir), 0);
	assert_int_equal(unlink(e->sibling), 0);
	assert_int_equal(rmdir(e->top), 0);
}

/* Each step's own exit code, so a failure names the step. */
static int
ll_child(void *arg, int outfd)
{
	struct ll_env	*e = arg;
	int		 fd;

	close(outfd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 10;
	if (policy_landlock_audit(e->dirfd) != 0)
		return 11;	/* 1: no Landlock in this kernel */
	/* The rotation's own call. */
	if ((fd = openat(e->dirfd, "next.log", POLICY_AUDIT_OPEN_FLAGS,
	    POLICY_AUDIT_OPEN_MODE)) == -1)
		return 20;
	if (write(fd, "x\n", 2) != 2 || close(fd) != 0)
		return 21;
	/* Its flags, but out of the directory: by "..", and absolute. */
	if (openat(e->dirfd, "../escape.log", POLICY_AUDIT_OPEN_FLAGS,
	    POLICY_AUDIT_OPEN_MODE) != -1 || errno != EACCES)
		return 30;
	if (open(e->sibling, O_WRONLY | O_APPEND | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 31;
	if (open("/tmp/dromos-test-landlock-never", POLICY_AUDIT_OPEN_FLAGS,
	    POLICY_AUDIT_OPEN_MODE) != -1 || errno != EACCES)
		return 32;
	/* Nothing is read by path, not even in the directory. */
	if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 40;
	if (openat(e->dirfd, "next.log", O_RDONLY | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 41;
	/* Nor removed or renamed there. */
	if (unlinkat(e->dirfd, "next.log", 0) != -1 || errno != EACCES)
		return 43;
	if (renameat(e->dirfd, "next.log", e->dirfd, "moved.log") != -1 ||
	    errno != EACCES)
		return 44;
	return 0;
}

static void
test_landlock_audit_dir(void **state)
{
	struct ll_env	 e;
	char		 buf[64], path[96];
	struct stat	 sb;
	int		 status;

	(void)state;
	ll_env_make(&e);
	status = child_run(ll_child, &e, NULL, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("landlock child: %s (11: Landlock unavailable)",
		    child_status(status, buf, sizeof(buf)));
	/* What the child made, and what it could not touch. */
	snprintf(path, sizeof(path), "%s/next.log", e.dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 2);
	assert_int_equal(sb.st_mode & 07777, POLICY_AUDIT_OPEN_MODE);
	assert_int_equal(stat(e.sibling, &sb), 0);
	assert_int_equal(sb.st_size, 5);
	snprintf(path, sizeof(path), "%s/escape.log", e.top);
	assert_int_equal(access(path, F_OK), -1);
	ll_env_remove(&e, "next.log");
}

/* Read beneath one directory, and nothing else: the gateway's rules. */
static int
ll_read_child(void *arg, int outfd)
{
	struct ll_env			*e = arg;
	const struct policy_path	 p[2] = {
		{ e->dir, -1, POLICY_FS_READ },
		{ "/nonexistent-dromos-test", -1, POLICY_FS_READ },
	};
	char				 path[96], buf[8];
	int				 fd;

	close(outfd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 10;
	if (policy_landlock(p, 2) != 0)
		return 11;	/* a path that does not exist is left out */
	snprintf(path, sizeof(path), "%s/inside", e->dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    read(fd, buf, sizeof(buf)) != 3 || close(fd) != 0)
		return 20;
	/* Not written, not created, even where it may read. */
	if (open(path, O_WRONLY | O_APPEND | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 30;
	snprintf(path, sizeof(path), "%s/new", e->dir);
	if (open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) != -1 ||
	    errno != EACCES)
		return 31;
	/* Nothing else is read. */
	if (open(e->sibling, O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES)
		return 40;
	if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 41;
	return 0;
}

static void
test_landlock_read_only(void **state)
{
	struct ll_env	 e;
	char		 buf[64], path[96];
	int		 status;

	(void)state;
	ll_env_make(&e);
	status = child_run(ll_read_child, &e, NULL, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("landlock read child: %s",
		    child_status(status, buf, sizeof(buf)));
	snprintf(path, sizeof(path), "%s/new", e.dir);
	assert_int_equal(access(path, F_OK), -1);
	ll_env_remove(&e, NULL);
}

int
run_landlock_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_landlock_audit_dir),
		cmocka_unit_test(test_landlock_read_only),
	};

	return cmocka_run_group_tests_name("landlock", tests, NULL, NULL);
}
