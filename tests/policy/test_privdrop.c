/*
 * Unit tests of policy/privdrop.c: process hardening, capabilities, the
 * user drop.  Each runs in a forked child that reports /proc/self/status
 * and what it measured; the parent checks.  The capability and user tests
 * need root: otherwise they are reported as skipped, not passed.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "policy/policy.h"
#include "tests/policy/tests.h"

#define TEST_USER	"_dromos"
#define NOBODY		65534
#define ZERO_CAPS	"0000000000000000"

/* Append /proc/self/status to what the child reports. */
static int
dump_status(int outfd)
{
	char	 buf[4096];
	ssize_t	 n;
	int	 fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return 90;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(outfd, buf, (size_t)n) != n)
			return 91;
	close(fd);
	return n == 0 ? 0 : 92;
}

/* Report the ids, the groups, and whether root can be had back. */
static int
dump_ids(int outfd)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, groups[8];
	int	 ng;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return 93;
	ng = getgroups(8, groups);
	dprintf(outfd, "uids=%u,%u,%u\ngids=%u,%u,%u\nngroups=%d\n"
	    "group0=%u\n", (unsigned int)ru, (unsigned int)eu,
	    (unsigned int)su, (unsigned int)rg, (unsigned int)eg,
	    (unsigned int)sg, ng, ng > 0 ? (unsigned int)groups[0] : 0u);
	dprintf(outfd, "setuid0=%d\n", setuid(0));
	return 0;
}

/* "key:\tvalue\n" is in a /proc/self/status dump. */
static void
assert_status(const char *out, const char *key, const char *value)
{
	char	 want[128];

	snprintf(want, sizeof(want), "\n%s:\t%s\n", key, value);
	if (strstr(out, want) == NULL)
		fail_msg("want %s:\t%s in\n%s", key, value, out);
}

static void
assert_line(const char *out, const char *line)
{
	char	 want[128];

	snprintf(want, sizeof(want), "%s\n", line);
	if (strstr(out, want) == NULL)
		fail_msg("want \"%s\" in\n%s", line, out);
}

static void
assert_exit(int status, int code, const char *what)
{
	char	 buf[64];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		fail_msg("%s: want exit %d, got %s", what, code,
		    child_status(status, buf, sizeof(buf)));
}

static void
require_root(void)
{
	if (geteuid() != 0) {
		print_message("not root: this test needs root, skipped\n");
		skip();
	}
}

/* Children that are expected to die in fatalx() keep quiet. */
static void
quiet(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1)
		log_setfd(fd);
}

static int
harden_child(void *arg, int outfd)
{
	struct rlimit	 rl;

	(void)arg;
	policy_harden_process();
	if (getrlimit(RLIMIT_CORE, &rl) == -1)
		return 10;
	dprintf(outfd, "dumpable=%d\ncore=%llu/%llu\n",
	    prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL),
	    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	return dump_status(outfd);
}

static void
test_harden(void **state)
{
	char	 out[8192];

	(void)state;
	assert_exit(child_run(harden_child, NULL, out, sizeof(out)), 0,
	    "policy_harden_process");
	assert_status(out, "NoNewPrivs", "1");
	assert_line(out, "dumpable=0");
	assert_line(out, "core=0/0");
}

static int
caps_child(void *arg, int outfd)
{
	(void)arg;
	policy_caps_clear();
	return dump_status(outfd);
}

static void
assert_no_caps(const char *out)
{
	assert_status(out, "CapInh", ZERO_CAPS);
	assert_status(out, "CapPrm", ZERO_CAPS);
	assert_status(out, "CapEff", ZERO_CAPS);
	assert_status(out, "CapBnd", ZERO_CAPS);
	assert_status(out, "CapAmb", ZERO_CAPS);
}

static void
test_caps_clear(void **state)
{
	char	 out[8192];

	(void)state;
	require_root();
	assert_exit(child_run(caps_child, NULL, out, sizeof(out)), 0,
	    "policy_caps_clear");
	assert_no_caps(out);
}

/* Not root: nothing to drop in the bounding set, and no failure. */
static int
caps_nonroot_child(void *arg, int outfd)
{
	(void)arg;
	if (geteuid() == 0 && setresuid(NOBODY, NOBODY, NOBODY) == -1)
		return 10;
	quiet();
	policy_caps_clear();
	return dump_status(outfd);
}

static void
test_caps_clear_not_root(void **state)
{
	char	 out[8192];

	(void)state;
	assert_exit(child_run(caps_nonroot_child, NULL, out, sizeof(out)), 0,
	    "policy_caps_clear as non-root");
	assert_status(out, "CapEff", ZERO_CAPS);
	assert_status(out, "CapPrm", ZERO_CAPS);
}

static int
drop_child(void *arg, int outfd)
{
	int	 rc;

	policy_drop_user(arg);
	if ((rc = dump_ids(outfd)) != 0)
		return rc;
	return dump_status(outfd);
}

static void
test_drop_user(void **state)
{
	struct passwd	*pw;
	char		 out[8192], line[64];
	unsigned int	 uid, gid;

	(void)state;
	require_root();
	if ((pw = getpwnam(TEST_USER)) == NULL)
		fail_msg("no user %s: run scripts/install-deps as root",
		    TEST_USER);
	uid = (unsigned int)pw->pw_uid;
	gid = (unsigned int)pw->pw_gid;
	assert_exit(child_run(drop_child, TEST_USER, out, sizeof(out)), 0,
	    "policy_drop_user");
	snprintf(line, sizeof(line), "uids=%u,%u,%u", uid, uid, uid);
	assert_line(out, line);
	snprintf(line, sizeof(line), "gids=%u,%u,%u", gid, gid, gid);
	assert_line(out, line);
	assert_line(out, "ngroups=1");
	snprintf(line, sizeof(line), "group0=%u", gid);
	assert_line(out, line);
	assert_line(out, "setuid0=-1");
	/* The bounding set went before the uid did, the rest with it. */
	assert_no_caps(out);
}

static int
drop_quiet_child(void *arg, int outfd)
{
	(void)outfd;
	quiet();
	policy_drop_user(arg);
	return 0;
}

static void
test_drop_user_refused(void **state)
{
	(void)state;
	require_root();
	assert_exit(child_run(drop_quiet_child, "_dromos_no_such_user", NULL,
	    0), 1, "policy_drop_user of an unknown user");
	assert_exit(child_run(drop_quiet_child, "root", NULL, 0), 1,
	    "policy_drop_user to root");
}

/* Not root: the drop is skipped and logged, the ids stay. */
static int
drop_nonroot_child(void *arg, int outfd)
{
	(void)arg;
	if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
	    setresgid(NOBODY, NOBODY, NOBODY) == -1 ||
	    setresuid(NOBODY, NOBODY, NOBODY) == -1))
		return 10;
	quiet();
	policy_drop_user(TEST_USER);
	return dump_ids(outfd);
}

static void
test_drop_user_not_root(void **state)
{
	char		 out[1024], line[64];
	unsigned int	 uid;

	(void)state;
	uid = geteuid() == 0 ? NOBODY : (unsigned int)geteuid();
	assert_exit(child_run(drop_nonroot_child, NULL, out, sizeof(out)), 0,
	    "policy_drop_user as non-root");
	snprintf(line, sizeof(line), "uids=%u,%u,%u", uid, uid, uid);
	assert_line(out, line);
	assert_line(out, "setuid0=-1");
}

/* The whole sequence of policy.h, then the broker's filter. */
static int
sequence_child(void *arg, int outfd)
{
	(void)arg;
	policy_drop_user(TEST_USER);
	policy_caps_clear();
	policy_harden_process();
	/* prctl(PR_GET_DUMPABLE) is not in the broker's list: ask first. */
	dprintf(outfd, "dumpable=%d\n",
	    prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL));
	if (policy_seccomp_load(POLICY_BROKER, NULL) == -1)
		return 20;
	/* Read-only files and writes are in it. */
	return dump_status(outfd);
}

static void
test_sequence(void **state)
{
	char	 out[8192];

	(void)state;
	require_root();
	assert_exit(child_run(sequence_child, NULL, out, sizeof(out)), 0,
	    "drop, clear, harden, seccomp");
	assert_line(out, "dumpable=0");
	assert_status(out, "NoNewPrivs", "1");
	assert_status(out, "Seccomp", "2");
	assert_no_caps(out);
}

int
run_privdrop_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harden),
		cmocka_unit_test(test_caps_clear),
		cmocka_unit_test(test_caps_clear_not_root),
		cmocka_unit_test(test_drop_user),
		cmocka_unit_test(test_drop_user_refused),
		cmocka_unit_test(test_drop_user_not_root),
		cmocka_unit_test(test_sequence),
	};

	return cmocka_run_group_tests_name("policy/privdrop", tests, NULL,
	    NULL);
}
