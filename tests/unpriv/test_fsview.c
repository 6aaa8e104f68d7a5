/*
 * Unit tests for unpriv/fsview.c, the broker's Landlock view: the paths it
 * lists for a connection string and a CRL, and, in a forked child with the
 * ruleset in force, that those are readable and nothing else is.
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
#include "tests/unpriv/tests.h"
#include "unpriv/fsview.h"

/*
 * A tree for the tests, beneath top (mkdtemp):
 *	pw/pgpass  ssl/client.crt  ssl/root.crt -> ../real/root.crt
 *	real/root.crt  crl/list.crl  crldir/  home/.pgpass  home/other
 *	outside
 */
struct tree {
	char	 top[48];
};

static const char *const tree_dirs[] = {
	"pw", "ssl", "real", "crl", "crldir", "home",
};
static const char *const tree_files[] = {
	"pw/pgpass", "ssl/client.crt", "real/root.crt", "crl/list.crl",
	"home/.pgpass", "home/other", "outside",
};

static void
tree_path(const struct tree *t, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", t->top, name);
}

static void
tree_make(struct tree *t)
{
	char	 p[128], q[128];
	size_t	 i;
	int	 fd;

	snprintf(t->top, sizeof(t->top), "/tmp/dromos-test-fsview.XXXXXX");
	assert_non_null(mkdtemp(t->top));
	for (i = 0; i < sizeof(tree_dirs) / sizeof(tree_dirs[0]); i++) {
		tree_path(t, tree_dirs[i], p, sizeof(p));
		assert_int_equal(mkdir(p, 0700), 0);
	}
	for (i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++) {
		tree_path(t, tree_files[i], p, sizeof(p));
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x\n", 2), 2);
		close(fd);
	}
	tree_path(t, "ssl/root.crt", p, sizeof(p));
	tree_path(t, "real/root.crt", q, sizeof(q));
	assert_int_equal(symlink(q, p), 0);
}

static void
tree_remove(struct tree *t)
{
	char	 p[128];
	size_t	 i;

	tree_path(t, "ssl/root.crt", p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	for (i = 0; i < sizeof(tree_files) / sizeof(tree_files[0]); i++) {
		tree_path(t, tree_files[i], p, sizeof(p));
		assert_int_equal(unlink(p), 0);
	}
	for (i = 0; i < sizeof(tree_dirs) / sizeof(tree_dirs[0]); i++) {
		tree_path(t, tree_dirs[i], p, sizeof(p));
		assert_int_equal(rmdir(p), 0);
	}
	assert_int_equal(rmdir(t->top), 0);
}

static int
listed(const struct fsview *v, const char *path)
{
	size_t	 i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->p[i].path, path) == 0)
			return 1;
	return 0;
}

static void
assert_listed(const struct fsview *v, const struct tree *t,
    const char *name, int want)
{
	char	 p[128];

	tree_path(t, name, p, sizeof(p));
	if (listed(v, p) != want)
		fail_msg("%s is%s listed", p, want ? " not" : "");
}

/* Nothing named: the fixed paths and libpq's defaults in the home. */
static void
test_fsview_defaults(void **state)
{
	struct fsview	 v;
	size_t		 i;

	(void)state;
	assert_int_equal(fsview_make(&v, "host=/tmp dbname=x", NULL,
	    "/nonexistent-home"), 0);
	assert_true(listed(&v, "/etc"));
	assert_true(listed(&v, "/usr/share/ca-certificates"));
	assert_true(listed(&v, "/usr/share/zoneinfo"));
	assert_true(listed(&v, "/nonexistent-home/.pgpass"));
	assert_true(listed(&v, "/nonexistent-home/.postgresql"));
	assert_true(listed(&v, "/nonexistent-home/.pg_service.conf"));
	assert_false(listed(&v, "/nonexistent-home"));
	assert_false(listed(&v, "/tmp"));	/* a socket's directory */
	for (i = 0; i < v.n; i++)
		assert_int_equal(v.p[i].access, POLICY_FS_READ);
	fsview_free(&v);

	/* No home: only the fixed paths. */
	assert_int_equal(fsview_make(&v, "", "", NULL), 0);
	for (i = 0; i < v.n; i++)
		assert_null(strstr(v.p[i].path, ".pg"));
	fsview_free(&v);
}

/* Named files: their directories, and where a link leads. */
static void
test_fsview_named(void **state)
{
	struct tree	 t;
	struct fsview	 v;
	char		 dsn[1024], crl[128];

	(void)state;
	tree_make(&t);
	snprintf(dsn, sizeof(dsn), "host=/tmp dbname=x password=hunter2 "
	    "passfile=%s/pw/pgpass sslcert=%s/ssl/client.crt "
	    "sslkey='%s/ssl/client.key' sslrootcert=%s/ssl/root.crt "
	    "sslcrl=%s/crl/list.crl sslcrldir=%s/crldir",
	    t.top, t.top, t.top, t.top, t.top, t.top);
	tree_path(&t, "crl/list.crl", crl, sizeof(crl));
	assert_int_equal(fsview_make(&v, dsn, crl, "/nonexistent-home"), 0);
	assert_listed(&v, &t, "pw", 1);
	assert_listed(&v, &t, "ssl", 1);
	assert_listed(&v, &t, "real", 1);
	assert_listed(&v, &t, "crl", 1);
	assert_listed(&v, &t, "crldir", 1);
	assert_listed(&v, &t, "home", 0);
	assert_false(listed(&v, t.top));
	/* Every file is named: none of libpq's defaults is read. */
	assert_false(listed(&v, "/nonexistent-home/.pgpass"));
	assert_false(listed(&v, "/nonexistent-home/.postgresql"));
	assert_true(listed(&v, "/nonexistent-home/.pg_service.conf"));
	fsview_free(&v);
	tree_remove(&t);

	/* "system" (OpenSSL's store) is no file. */
	assert_int_equal(fsview_make(&v, "sslrootcert=system", NULL, NULL),
	    0);
	assert_false(listed(&v, "."));
	fsview_free(&v);
}

static void
test_fsview_bad_string(void **state)
{
	struct fsview	 v;

	(void)state;
	assert_int_equal(fsview_make(&v, "host='unterminated password=x",
	    NULL, NULL), -1);
	assert_int_equal(fsview_make(&v, "nosuchkeyword=1", NULL, NULL), -1);
}

/* In a child: 0, or the number of the check that failed. */
static int
enforced(const struct tree *t)
{
	struct fsview	 v;
	char		 dsn[256], p[128], home[128];
	int		 fd, rv;

	/* passfile unnamed, so that libpq's default ~/.pgpass counts. */
	snprintf(dsn, sizeof(dsn), "host=/tmp sslrootcert=%s/pw/pgpass",
	    t->top);
	tree_path(t, "crl/list.crl", p, sizeof(p));
	tree_path(t, "home", home, sizeof(home));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    fsview_make(&v, dsn, p, home) != 0)
		return 10;
	rv = policy_landlock(v.p, v.n);
	fsview_free(&v);
	if (rv != 0)
		return 11;	/* 1: no Landlock in this kernel */
	/* Readable. */
	{
		const char *const yes[] = { "pw/pgpass", "crl/list.crl",
		    "home/.pgpass" };
		size_t i;

		if ((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)) == -1)
			return 20;
		close(fd);
		for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			tree_path(t, yes[i], p, sizeof(p));
			if ((fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
				return 21 + (int)i;
			close(fd);
		}
	}
	/* Not readable: beside the home's file, out of the view, /proc. */
	tree_path(t, "home/other", p, sizeof(p));
	if (open(p, O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES)
		return 30;
	tree_path(t, "outside", p, sizeof(p));
	if (open(p, O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES)
		return 31;
	tree_path(t, "ssl/client.crt", p, sizeof(p));
	if (open(p, O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES)
		return 32;
	if (open("/proc/self/environ", O_RDONLY | O_CLOEXEC) != -1 ||
	    errno != EACCES)
		return 33;
	/* Nothing written, even where reading is allowed. */
	tree_path(t, "pw/pgpass", p, sizeof(p));
	if (open(p, O_WRONLY | O_CLOEXEC) != -1 || errno != EACCES)
		return 40;
	tree_path(t, "pw/new", p, sizeof(p));
	if (open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) != -1 ||
	    errno != EACCES)
		return 41;
	return 0;
}

static void
test_fsview_enforced(void **state)
{
	struct tree	 t;
	pid_t		 pid;
	int		 status;

	(void)state;
	tree_make(&t);
	if ((pid = fork()) == 0)
		_exit(enforced(&t));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("landlock child: status %#x (exit 11: Landlock "
		    "unavailable)", status);
	tree_remove(&t);
}

int
run_fsview_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsview_defaults),
		cmocka_unit_test(test_fsview_named),
		cmocka_unit_test(test_fsview_bad_string),
		cmocka_unit_test(test_fsview_enforced),
	};

	return cmocka_run_group_tests_name("fsview", tests, NULL, NULL);
}
