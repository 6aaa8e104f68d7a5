/*
 * unpriv/db.c and store.c without a server: connection strings that do
 * not parse, a database that cannot be reached (DB_EUNAVAIL, then
 * backoff), passwords kept out of the log, and decoding bytea output.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "tests/store/tests.h"
#include "unpriv/accesslog.h"
#include "unpriv/db.h"
#include "unpriv/store.h"

#define PASSWORD	"hunter2-Pa55word"
#define UNREACHABLE	"host=/nonexistent/dromos-test user=u dbname=d " \
			"password=" PASSWORD

static size_t
count(const char *hay, const char *needle)
{
	size_t	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

static void
test_conninfo_refused(void **state)
{
	static const char *const bad[] = {
		"password=" PASSWORD " dbname",		/* no '=' */
		"nosuchoption=1 password=" PASSWORD,
		"password='" PASSWORD,			/* unterminated */
		"postgresql://u:" PASSWORD "@h/d?nosuch=1",
	};
	char	*log;
	size_t	 i;

	(void)state;
	logcap_start();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(store_pool_new(bad[i], 2));
	assert_null(store_pool_new("dbname=x", DB_POOL_MAX + 1));
	log = logcap_stop();
	assert_int_equal(count(log, "does not parse"), 4);
	assert_null(strstr(log, PASSWORD));
	free(log);
}

static void
test_unreachable(void **state)
{
	struct db_pool	*p;
	json_t		*j = (json_t *)1;
	uint8_t		 hash[STORE_HASH_LEN];
	int		 has = 7, revoked = 7;
	char		*log;

	(void)state;
	logcap_start();
	assert_non_null(p = store_pool_new(UNREACHABLE, 0));
	assert_null(db_acquire(p, 100));
	/* Within the backoff: refused without another attempt. */
	assert_int_equal(store_provider_get(p, "x", &j, &has), STORE_UNAVAIL);
	assert_null(j);
	assert_int_equal(has, 0);
	memset(hash, 0xff, sizeof(hash));
	assert_int_equal(store_client_by_id(p, "x", hash, &j, &revoked),
	    STORE_UNAVAIL);
	assert_int_equal(revoked, 0);
	assert_int_equal(hash[0], 0);
	assert_int_equal(db_ping(p), DB_EUNAVAIL);
	assert_int_equal(store_access_log(p, NULL, NULL, "op", "ok", NULL),
	    STORE_UNAVAIL);
	assert_null(db_connect_direct(p));
	db_pool_free(p);
	log = logcap_stop();
	/* The pool tried once; the direct connection once. */
	assert_int_equal(count(log, "cannot connect"), 2);
	assert_null(strstr(log, PASSWORD));
	free(log);
}

static int64_t
since_ms(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * The access-log queue with no database behind it: a request never
 * waits, the queue keeps its bound by dropping the oldest lines (counted
 * and logged), and stopping does not hang.
 */
static void
test_accesslog_unreachable(void **state)
{
	struct accesslog	*al;
	struct db_pool		*p;
	struct timespec		 t0;
	char			*log;
	int			 i;

	(void)state;
	logcap_start();
	assert_non_null(p = store_pool_new(UNREACHABLE, 0));
	assert_non_null(al = accesslog_start(p, 0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < ACCESSLOG_QUEUE + 100; i++)
		accesslog_add(al, "0123456789ab", "acme-gh", "token", "ok",
		    "req");
	assert_true(since_ms(&t0) < 2000);
	/* Every line beyond the bound, once a write in progress failed. */
	while (accesslog_dropped(al) < 100 && since_ms(&t0) < 5000)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	assert_int_equal(accesslog_dropped(al), 100);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	accesslog_stop(al);
	assert_true(since_ms(&t0) < 3000);
	db_pool_free(p);
	log = logcap_stop();
	assert_non_null(strstr(log, "lines dropped"));
	assert_non_null(strstr(log, "not written at shutdown"));
	free(log);
}

/* A result with one text column, built without a server. */
static PGresult *
one_value(const char *v)
{
	PGresAttDesc	 att;
	PGresult	*r;

	memset(&att, 0, sizeof(att));
	att.name = (char *)(uintptr_t)"b";
	att.typid = 17;		/* bytea */
	att.typlen = -1;
	att.atttypmod = -1;
	assert_non_null(r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK));
	assert_true(PQsetResultAttrs(r, 1, &att));
	if (v != NULL)
		assert_true(PQsetvalue(r, 0, 0, (char *)(uintptr_t)v,
		    (int)strlen(v)));
	else
		assert_true(PQsetvalue(r, 0, 0, NULL, -1));
	return r;
}

static int
bytea(const char *v, uint8_t *buf, size_t sz, size_t *len)
{
	PGresult	*r = one_value(v);
	int		 rv;

	rv = db_bytea(r, 0, 0, buf, sz, len);
	PQclear(r);
	return rv;
}

static void
test_bytea(void **state)
{
	uint8_t	 b[4];
	size_t	 len = 9;

	(void)state;
	assert_int_equal(bytea("\\x00ff7Aa0", b, sizeof(b), &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(b, "\x00\xff\x7a\xa0", 4);
	assert_int_equal(bytea("\\x", b, sizeof(b), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(bytea("\\x0011223344", b, sizeof(b), &len), -1);
	assert_int_equal(len, 0);
	assert_int_equal(bytea("\\x001", b, sizeof(b), &len), -1);
	assert_int_equal(bytea("\\x0g", b, sizeof(b), &len), -1);
	assert_int_equal(bytea("0011", b, sizeof(b), &len), -1);
	assert_int_equal(bytea("\\000", b, sizeof(b), &len), -1);
	assert_int_equal(bytea(NULL, b, sizeof(b), &len), -1);
	assert_int_equal(bytea("", b, sizeof(b), &len), -1);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(store_strerror(STORE_UNAVAIL),
	    "database unavailable");
	assert_string_equal(store_strerror(STORE_CONFLICT), "conflict");
	assert_string_equal(store_strerror(-99), "database error");
}

int
run_db_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conninfo_refused),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_accesslog_unreachable),
		cmocka_unit_test(test_bytea),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
