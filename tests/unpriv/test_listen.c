/* Unit tests for unpriv/listen.c: modes, stale sockets, refusals. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

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

#include "tests/unpriv/tests.h"
#include "unpriv/listen.h"

static char	 dir[64];
static char	 path[100];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/dromos-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/broker.sock", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	return rmdir(dir);
}

static int
connects(const char *p)
{
	struct sockaddr_un	 sun;
	int			 fd, rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rv == 0;
}

static void
test_fresh(void **state)
{
	struct stat	 st;
	int		 fd, fl;

	(void)state;
	fd = listen_unix(path, 0660, (uid_t)-1, (gid_t)-1);
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(connects(path));

	/* While it listens, nobody else may take the path over. */
	assert_int_equal(listen_unix(path, 0660, (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_true(connects(path));

	/* Once closed, the socket left behind is stale and replaced. */
	close(fd);
	assert_false(connects(path));
	fd = listen_unix(path, 0600, (uid_t)-1, (gid_t)-1);
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(connects(path));
	close(fd);
}

/* Our own ids are always allowed as owner: the chown path runs. */
static void
test_owner(void **state)
{
	struct stat	 st;
	int		 fd;

	(void)state;
	fd = listen_unix(path, 0660, getuid(), getgid());
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(st.st_gid, getgid());
	close(fd);
}

static void
test_not_a_socket(void **state)
{
	struct stat	 st;
	int		 fd;

	(void)state;
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(listen_unix(path, 0660, (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	unlink(path);

	/* Nor is a symbolic link followed or replaced. */
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(listen_unix(path, 0660, (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(path);
}

static void
test_bad_path(void **state)
{
	char	 longp[200];

	(void)state;
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(listen_unix(longp, 0660, (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(listen_unix("", 0660, (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(listen_unix("/nonexistent-dir/x.sock", 0660,
	    (uid_t)-1, (gid_t)-1), -1);
	assert_int_equal(errno, ENOENT);
}

/* TCP: non-blocking, close-on-exec, reusable, IPv6 only for "[::]". */
static void
test_tcp(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			 addr[64];
	int			 fd, fd2, on = 0, c;

	(void)state;
	assert_int_equal(listen_tcp("localhost:8444", 16), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(listen_tcp("127.0.0.1", 16), -1);

	/* A free port: ask the kernel, then listen there ourselves. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));

	fd = listen_tcp(addr, 16);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	len = sizeof(on);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, &len),
	    0);
	assert_int_equal(on, 1);
	/* It accepts. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(c);
	/* The port is taken while it listens. */
	assert_int_equal(listen_tcp(addr, 16), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(fd);

	/* "[::]" is IPv6 only. */
	snprintf(addr, sizeof(addr), "[::1]:%u", ntohs(sin.sin_port));
	if ((fd2 = listen_tcp(addr, 16)) != -1) {
		len = sizeof(on);
		assert_int_equal(getsockopt(fd2, IPPROTO_IPV6, IPV6_V6ONLY,
		    &on, &len), 0);
		assert_int_equal(on, 1);
		close(fd2);
	} else
		assert_int_equal(errno, EADDRNOTAVAIL);	/* no IPv6 here */
}

int
run_listen_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_path, setup,
		    teardown),
		cmocka_unit_test(test_tcp),
	};

	return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
