/*
 * Unit tests for common/log.c: JSON shape, escaping, redaction, levels,
 * batches of lines.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* Capture what the logger writes through a pipe. */
static char	 captured[8192];

static void
capture_begin(int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	log_setfd(fds[1]);
}

static const char *
capture_end(int fds[2])
{
	ssize_t	 n;

	log_setfd(STDERR_FILENO);
	close(fds[1]);
	n = read(fds[0], captured, sizeof(captured) - 1);
	close(fds[0]);
	assert_true(n >= 0);
	captured[n] = '\0';
	return captured;
}

static void
test_json_line(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(0, 0);
	log_procinit("dromosd");
	capture_begin(fds);
	log_info("started %d", 42);
	out = capture_end(fds);
	assert_non_null(strstr(out, "{\"ts\":\""));
	assert_non_null(strstr(out, "\"level\":\"info\""));
	assert_non_null(strstr(out, "\"proc\":\"dromosd\""));
	assert_non_null(strstr(out, "\"msg\":\"started 42\"}\n"));
	/* Exactly one line. */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void
test_escaping(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(0, 0);
	capture_begin(fds);
	log_warnx("a\"b\\c\nd\x01" "e");
	out = capture_end(fds);
	assert_non_null(strstr(out, "\"msg\":\"a\\\"b\\\\c\\nd\\u0001e\""));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void
test_debug_level(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(0, 0);
	capture_begin(fds);
	log_debug("hidden");
	log_setverbose(1);
	log_debug("shown");
	log_setverbose(0);
	out = capture_end(fds);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "shown"));
}

static void
test_kv_redacts_secrets(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(0, 0);
	capture_begin(fds);
	log_kv(LOGL_INFO, "request", "path", "/v1/token", "client_secret",
	    "s3cr3t-value", "Authorization", "Bearer dro_abc", "code",
	    "authcode123", "status_code", "200", NULL);
	out = capture_end(fds);
	assert_non_null(strstr(out, "\"path\":\"/v1/token\""));
	assert_non_null(strstr(out, "\"status_code\":\"200\""));
	assert_null(strstr(out, "s3cr3t-value"));
	assert_null(strstr(out, "dro_abc"));
	assert_null(strstr(out, "authcode123"));
	assert_non_null(strstr(out, "\"client_secret\":\"[redacted]\""));
}

/* Bytes waiting in the pipe. */
static int
pending(int fd)
{
	int	 n = -1;

	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

static void
test_batch(void **state)
{
	struct log_batch	 b;
	int			 fds[2], i, lines = 0;
	char			 num[16];
	const char		*out, *p, *nl;

	(void)state;
	log_init(0, 0);
	memset(&b, 0, sizeof(b));
	capture_begin(fds);
	log_kv_batch(&b, LOGL_INFO, "request", "n", "first", "Authorization",
	    "Bearer dro_abc", "a_field_name_much_longer_than_sixty_four_"
	    "characters_ending_in_Password", "hunter2", NULL);
	/* Kept, not written; a debug line is not kept at all. */
	assert_true(b.len > 0);
	assert_int_equal(pending(fds[0]), 0);
	i = (int)b.len;
	log_kv_batch(&b, LOGL_DEBUG, "chatter", NULL);
	assert_int_equal((int)b.len, i);
	/* More than a batch holds: whole lines are written as it fills. */
	for (i = 0; i < 40; i++) {
		snprintf(num, sizeof(num), "%d", i);
		log_kv_batch(&b, LOGL_INFO, "request", "n", num, "route",
		    "/v1/token/{connection}", "status", "200", NULL);
	}
	assert_true(pending(fds[0]) > 0);
	assert_true(b.len > 0 && b.len <= sizeof(b.buf));
	log_batch_flush(&b);
	assert_int_equal((int)b.len, 0);
	log_batch_flush(&b);		/* nothing: nothing written */
	out = capture_end(fds);
	for (p = out; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		assert_memory_equal(p, "{\"ts\":\"", 7);
		assert_int_equal(nl[-1], '}');
		lines++;
	}
	assert_int_equal(*p, '\0');
	assert_int_equal(lines, 41);
	assert_non_null(strstr(out, "\"n\":\"first\""));
	assert_non_null(strstr(out, "\"n\":\"39\",\"route\""));
	assert_null(strstr(out, "dro_abc"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "chatter"));
}

static void
test_text_mode(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(1, 0);
	log_procinit("broker");
	capture_begin(fds);
	log_warnx("disk %s", "full");
	out = capture_end(fds);
	assert_string_equal(out, "broker: warn: disk full\n");
	log_init(0, 0);
}

static void
test_warn_errno(void **state)
{
	int		 fds[2];
	const char	*out;

	(void)state;
	log_init(0, 0);
	capture_begin(fds);
	errno = ENOENT;
	log_warn("open %s", "x");
	out = capture_end(fds);
	assert_non_null(strstr(out, "open x: No such file or directory"));
}

static void
test_redact_and_truncate(void **state)
{
	char	 buf[32], small[8];
	char	 big[5000];

	(void)state;
	assert_string_equal(log_redact(buf, sizeof(buf), 32),
	    "[redacted 32 bytes]");
	log_json_escape(small, sizeof(small), "abcdefghijkl");
	assert_true(strlen(small) < sizeof(small));
	assert_non_null(strstr(small, "..."));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_json_escape(buf, sizeof(buf), big);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_true(log_key_is_secret("X-Api-Key"));
	assert_true(log_key_is_secret("refresh_token"));
	assert_false(log_key_is_secret("connection"));
}

static int
count_lines(const char *s, const char *needle)
{
	int	 n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* A burst of three, then one every 50 ms with a count of the rest. */
static void
test_throttle(void **state)
{
	static struct log_throttle	 t = LOG_THROTTLE_INITIALIZER(50, 3);
	struct timespec			 ts = { 0, 60 * 1000000L };
	int				 fds[2], i;
	const char			*out;

	(void)state;
	log_init(0, 0);
	capture_begin(fds);
	for (i = 0; i < 10; i++)
		log_warnx_throttled(&t, "refused %d", i);
	out = capture_end(fds);
	assert_int_equal(count_lines(out, "\n"), 3);
	assert_non_null(strstr(out, "\"msg\":\"refused 2\""));
	assert_null(strstr(out, "refused 3"));

	nanosleep(&ts, NULL);
	capture_begin(fds);
	log_warnx_throttled(&t, "refused %d", 10);
	log_warnx_throttled(&t, "refused %d", 11);
	out = capture_end(fds);
	/* One token came back: one line, which counts the seven left out. */
	assert_int_equal(count_lines(out, "\n"), 1);
	assert_non_null(strstr(out, "\"msg\":\"refused 10 (and 7 more like it "
	    "since the last warning)\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_debug_level),
		cmocka_unit_test(test_kv_redacts_secrets),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_warn_errno),
		cmocka_unit_test(test_redact_and_truncate),
		cmocka_unit_test(test_throttle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
