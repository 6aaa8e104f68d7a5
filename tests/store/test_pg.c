/*
 * The database layer against a real PostgreSQL: migrations (in one
 * transaction, under a lock, refusing a newer schema), every store
 * function, the keyring's storage and start-up race, reconnection after
 * the server drops a connection, and the pool's limits.
 *
 * DROMOS_TEST_PG is the conninfo of an empty database the tests may fill
 * (tests/e2e/test_store.py makes one); without it the group does not run.
 * The tests run in order and share that database.
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "tests/store/tests.h"
#include "tests/unpriv/fakekh.h"
#include "unpriv/accesslog.h"
#include "unpriv/db.h"
#include "unpriv/khclient.h"
#include "unpriv/migrate.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

#define FAKE_BLOB	"a sealed keyring blob"	/* what fakekh.c makes */

/* How many migrations this broker carries, as the database shows it. */
static const char *
nmig(void)
{
	static char	 buf[16];

	snprintf(buf, sizeof(buf), "%zu", migrate_count);
	return buf;
}

static const char	*dsn;
static PGconn		*admin;

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
group_setup(void **state)
{
	(void)state;
	if ((dsn = getenv("DROMOS_TEST_PG")) == NULL || *dsn == '\0') {
		dsn = NULL;
		return 0;
	}
	admin = PQconnectdb(dsn);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "DROMOS_TEST_PG: %s", PQerrorMessage(admin));
		return -1;
	}
	PQsetNoticeProcessor(admin, quiet, NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (admin != NULL)
		PQfinish(admin);
	return 0;
}

static void
need_pg(void)
{
	if (dsn == NULL)
		skip();
}

/* Run SQL as the test's own session; it must work. */
static void
sql(const char *q)
{
	PGresult	*r = PQexec(admin, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(admin));
	PQclear(r);
}

/* The first value of a query, as a string to free (NULL for NULL). */
static char *
sql1(const char *q)
{
	PGresult	*r = PQexec(admin, q);
	char		*v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
		fail_msg("%s: %s", q, PQerrorMessage(admin));
	if (!PQgetisnull(r, 0, 0))
		assert_non_null(v = strdup(PQgetvalue(r, 0, 0)));
	PQclear(r);
	return v;
}

static void
sql1_is(const char *q, const char *want)
{
	char	*v = sql1(q);

	if (want == NULL)
		assert_null(v);
	else {
		assert_non_null(v);
		assert_string_equal(v, want);
	}
	free(v);
}

static void
is_rfc3339(const json_t *j)
{
	regex_t	 re;

	assert_true(json_is_string(j));
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, json_string_value(j), 0, NULL, 0), 0);
	regfree(&re);
}

/* Something shaped like a sealed value: the schema checks for "DRM". */
static size_t
fake_sealed(uint8_t *b, uint8_t fill, size_t len)
{
	memset(b, fill, len);
	memcpy(b, "DRM\x01\x00\x00\x00\x02", 8);
	return len;
}

static int64_t
elapsed_ms(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Before any migration, the statements cannot prepare: no connection. */
static void
test_unmigrated(void **state)
{
	struct db_pool	*p;
	char		*log;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 1));
	logcap_start();
	assert_null(db_acquire(p, 1000));
	log = logcap_stop();
	assert_non_null(strstr(log, "does not prepare"));
	free(log);
	db_pool_free(p);
}

static void
test_migrate(void **state)
{
	struct db_pool	*p;
	PGconn		*pg;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 2));
	assert_int_equal(migrate_apply(p), 0);
	sql1_is("SELECT count(*) FROM schema_migrations", nmig());
	sql1_is("SELECT name FROM schema_migrations WHERE version = 1",
	    "init");
	sql1_is("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
	    " AND tablename IN ('keyring', 'providers', 'clients',"
	    " 'connections', 'oauth_sessions', 'connect_sessions',"
	    " 'access_log')", "7");
	/* Again: nothing to do. */
	assert_int_equal(migrate_apply(p), 0);
	sql1_is("SELECT count(*) FROM schema_migrations", nmig());

	/* Every session of the pool is set up the same way. */
	assert_non_null(pg = db_connect_direct(p));
	{
		static const char *const want[][2] = {
			{ "SHOW application_name", DB_APPLICATION_NAME },
			{ "SHOW statement_timeout", "5s" },
			{ "SHOW TimeZone", "UTC" },
			{ "SHOW bytea_output", "hex" },
			{ "SHOW client_encoding", "UTF8" },
		};
		PGresult	*r;
		size_t		 i;

		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			r = PQexec(pg, want[i][0]);
			assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
			assert_string_equal(PQgetvalue(r, 0, 0), want[i][1]);
			PQclear(r);
		}
	}
	PQfinish(pg);
	db_pool_free(p);
}

static void
test_migrate_newer_refused(void **state)
{
	struct db_pool	*p;
	char		*log, want[128];

	(void)state;
	need_pg();
	sql("INSERT INTO schema_migrations (version, name) "
	    "VALUES (999, 'future')");
	assert_non_null(p = store_pool_new(dsn, 1));
	logcap_start();
	assert_int_equal(migrate_apply(p), -1);
	log = logcap_stop();
	snprintf(want, sizeof(want), "database schema 999 is newer than this "
	    "broker (%s)", nmig());
	assert_non_null(strstr(log, want));
	free(log);
	db_pool_free(p);
	sql("DELETE FROM schema_migrations WHERE version = 999");
}

static void
test_migrate_unknown_refused(void **state)
{
	struct migration	 list[16];
	PGconn			*pg;
	char			*log;

	(void)state;
	need_pg();
	assert_true(migrate_count + 1 <= 16);
	memcpy(list, migrate_list, migrate_count * sizeof(list[0]));
	list[migrate_count] = (struct migration){ 903, "three", "SELECT 3", 8 };
	sql("INSERT INTO schema_migrations (version, name) "
	    "VALUES (902, 'mystery')");
	assert_non_null(pg = PQconnectdb(dsn));
	logcap_start();
	assert_int_equal(migrate_run(pg, list, migrate_count + 1), -1);
	log = logcap_stop();
	assert_non_null(strstr(log, "has migration 902, which this broker "
	    "does not know"));
	free(log);
	PQfinish(pg);
	sql("DELETE FROM schema_migrations WHERE version = 902");
}

/* A failing migration leaves nothing behind; a new one is applied. */
static void
test_migrate_atomic(void **state)
{
	static const char	 broken[] =
	    "CREATE TABLE t2 (x int); SELECT no_such_function();";
	static const char	 extra[] = "CREATE TABLE t3 (x int);\n";
	struct migration	 bad[16], good[16];
	PGconn			*pg;

	(void)state;
	need_pg();
	assert_true(migrate_count + 1 <= 16);
	memcpy(bad, migrate_list, migrate_count * sizeof(bad[0]));
	memcpy(good, migrate_list, migrate_count * sizeof(good[0]));
	bad[migrate_count] = (struct migration){ 902, "broken", broken,
	    sizeof(broken) - 1 };
	good[migrate_count] = (struct migration){ 902, "extra", extra,
	    sizeof(extra) - 1 };
	assert_non_null(pg = PQconnectdb(dsn));
	logcap_start();
	assert_int_equal(migrate_run(pg, bad, migrate_count + 1), -1);
	free(logcap_stop());
	sql1_is("SELECT to_regclass('t2')::text", NULL);
	sql1_is("SELECT count(*) FROM schema_migrations", nmig());

	assert_int_equal(migrate_run(pg, good, migrate_count + 1), 0);
	sql1_is("SELECT to_regclass('t3')::text", "t3");
	sql1_is("SELECT name FROM schema_migrations WHERE version = 902",
	    "extra");
	PQfinish(pg);
	sql("DROP TABLE t3");
	sql("DELETE FROM schema_migrations WHERE version = 902");
}

struct migrator {
	pthread_barrier_t	*bar;
	char			 conninfo[1024];
	int			 rv;
};

static void *
migrator(void *arg)
{
	struct migrator	*m = arg;
	PGconn		*pg = PQconnectdb(m->conninfo);

	pthread_barrier_wait(m->bar);
	m->rv = PQstatus(pg) == CONNECTION_OK ?
	    migrate_run(pg, migrate_list, migrate_count) : -2;
	PQfinish(pg);
	return NULL;
}

/* Brokers starting together: one applies, the others wait and agree. */
static void
test_migrate_concurrent(void **state)
{
	pthread_barrier_t	 bar;
	pthread_t		 t[3];
	struct migrator		 m[3];
	size_t			 i;

	(void)state;
	need_pg();
	sql("DROP SCHEMA IF EXISTS race CASCADE");
	sql("CREATE SCHEMA race");
	assert_int_equal(pthread_barrier_init(&bar, NULL, 3), 0);
	for (i = 0; i < 3; i++) {
		m[i].bar = &bar;
		snprintf(m[i].conninfo, sizeof(m[i].conninfo),
		    "%s options='-c search_path=race'", dsn);
		assert_int_equal(pthread_create(&t[i], NULL, migrator, &m[i]),
		    0);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(m[i].rv, 0);
	}
	pthread_barrier_destroy(&bar);
	sql1_is("SELECT count(*) FROM race.schema_migrations", nmig());
	sql1_is("SELECT to_regclass('race.connections')::text",
	    "race.connections");
	sql("DROP SCHEMA race CASCADE");
}

static void
test_providers(void **state)
{
	struct db_pool	*p;
	uint8_t		 s1[60], s2[60], out[KH_SEALED_MAX];
	size_t		 len;
	json_t		*cfg, *got, *list, *bad;
	int		 has;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 2));
	cfg = json_pack("{s:s, s:s, s:s, s:[s]}", "id", "gh", "auth_mode",
	    "oauth2", "display_name", "GitHub", "default_scopes", "repo");
	fake_sealed(s1, 0x11, sizeof(s1));
	fake_sealed(s2, 0x22, sizeof(s2));
	assert_int_equal(store_provider_insert(p, "gh", "oauth2", cfg, s1,
	    sizeof(s1)), STORE_OK);
	assert_int_equal(store_provider_insert(p, "gh", "oauth2", cfg, s1,
	    sizeof(s1)), STORE_EXISTS);
	assert_int_equal(store_provider_get(p, "gh", &got, &has), STORE_OK);
	assert_true(json_equal(cfg, got));
	assert_int_equal(has, 1);
	json_decref(got);
	assert_int_equal(store_provider_secret(p, "gh", out, sizeof(out),
	    &len), STORE_OK);
	assert_int_equal(len, sizeof(s1));
	assert_memory_equal(out, s1, len);

	/* Update without a secret keeps it; with one replaces it. */
	json_object_set_new(cfg, "display_name", json_string("GitHub 2"));
	assert_int_equal(store_provider_update(p, "gh", "oauth2", cfg, NULL,
	    0), STORE_OK);
	assert_int_equal(store_provider_secret(p, "gh", out, sizeof(out),
	    &len), STORE_OK);
	assert_memory_equal(out, s1, sizeof(s1));
	assert_int_equal(store_provider_update(p, "gh", "oauth2", cfg, s2,
	    sizeof(s2)), STORE_OK);
	assert_int_equal(store_provider_secret(p, "gh", out, sizeof(out),
	    &len), STORE_OK);
	assert_memory_equal(out, s2, sizeof(s2));
	assert_int_equal(store_provider_get(p, "gh", &got, &has), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(got,
	    "display_name")), "GitHub 2");
	json_decref(got);
	assert_int_equal(store_provider_update(p, "nope", "oauth2", cfg, NULL,
	    0), STORE_NOTFOUND);
	/* A buffer too small for the stored secret is an error. */
	assert_int_equal(store_provider_secret(p, "gh", out, 10, &len),
	    STORE_ERR);
	assert_int_equal(len, 0);

	/* One without a secret. */
	bad = json_pack("{s:s, s:s}", "id", "openai", "auth_mode", "api_key");
	assert_int_equal(store_provider_insert(p, "openai", "api_key", bad,
	    NULL, 0), STORE_OK);
	assert_int_equal(store_provider_get(p, "openai", &got, &has),
	    STORE_OK);
	assert_int_equal(has, 0);
	json_decref(got);
	assert_int_equal(store_provider_secret(p, "openai", out, sizeof(out),
	    &len), STORE_OK);
	assert_int_equal(len, 0);
	json_decref(bad);

	assert_int_equal(store_provider_list(p, &list), STORE_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "id")), "gh");
	assert_true(json_is_true(json_object_get(json_array_get(list, 0),
	    "has_client_secret")));
	assert_true(json_is_false(json_object_get(json_array_get(list, 1),
	    "has_client_secret")));
	json_decref(list);

	/* What the schema refuses. */
	bad = json_pack("{s:s, s:s}", "id", "x", "client_secret", "plain");
	assert_int_equal(store_provider_insert(p, "x", "oauth2", bad, NULL,
	    0), STORE_INVALID);
	json_decref(bad);
	bad = json_pack("{s:s}", "id", "other");
	assert_int_equal(store_provider_insert(p, "x", "oauth2", bad, NULL,
	    0), STORE_INVALID);
	json_decref(bad);
	bad = json_pack("{s:s}", "id", "Bad!");
	assert_int_equal(store_provider_insert(p, "Bad!", "oauth2", bad, NULL,
	    0), STORE_INVALID);
	json_decref(bad);
	bad = json_pack("{s:s}", "id", "y");
	assert_int_equal(store_provider_insert(p, "y", "oauth2", bad,
	    (const uint8_t *)"plaintext secret", 16), STORE_INVALID);
	assert_int_equal(store_provider_insert(p, "y", NULL, bad, NULL, 0),
	    STORE_INVALID);
	json_decref(bad);
	assert_int_equal(store_provider_insert(p, "z", "oauth2", NULL, NULL,
	    0), STORE_ERR);

	assert_int_equal(store_provider_get(p, "nope", &got, &has),
	    STORE_NOTFOUND);
	assert_null(got);
	assert_int_equal(store_provider_delete(p, "openai"), STORE_OK);
	assert_int_equal(store_provider_delete(p, "openai"), STORE_NOTFOUND);
	json_decref(cfg);
	db_pool_free(p);
}

static void
test_clients(void **state)
{
	static const char *const scopes[] = {
		"token:read:acme-*", "connections:write", "admin",
	};
	struct db_pool	*p;
	uint8_t		 h[STORE_HASH_LEN], got[STORE_HASH_LEN];
	json_t		*view, *sc, *list;
	int		 revoked;
	size_t		 i;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 2));
	for (i = 0; i < sizeof(h); i++)
		h[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(store_client_insert(p, "0123456789ab", "svc", h,
	    scopes, 3, &view), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(view, "id")),
	    "0123456789ab");
	assert_string_equal(json_string_value(json_object_get(view, "name")),
	    "svc");
	assert_int_equal(json_array_size(json_object_get(view, "scopes")), 3);
	is_rfc3339(json_object_get(view, "created_at"));
	json_decref(view);

	assert_int_equal(store_client_by_id(p, "0123456789ab", got, &sc,
	    &revoked), STORE_OK);
	assert_memory_equal(got, h, sizeof(h));
	assert_int_equal(revoked, 0);
	assert_int_equal(json_array_size(sc), 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(json_string_value(json_array_get(sc, i)),
		    scopes[i]);
	json_decref(sc);

	assert_int_equal(store_client_insert(p, "0123456789ac", "svc", h,
	    scopes, 1, NULL), STORE_EXISTS);
	assert_int_equal(store_client_insert(p, "0123456789ab", "svc2", h,
	    scopes, 1, NULL), STORE_EXISTS);
	assert_int_equal(store_client_insert(p, "x", "bad name", h, scopes, 1,
	    NULL), STORE_INVALID);
	assert_int_equal(store_client_insert(p, "bbbbbbbbbbbb", "none", h,
	    NULL, 0, NULL), STORE_OK);

	assert_int_equal(store_client_revoke(p, "svc"), STORE_OK);
	assert_int_equal(store_client_revoke(p, "svc"), STORE_OK);
	assert_int_equal(store_client_revoke(p, "nobody"), STORE_NOTFOUND);
	assert_int_equal(store_client_by_id(p, "0123456789ab", got, &sc,
	    &revoked), STORE_OK);
	assert_int_equal(revoked, 1);
	json_decref(sc);
	memset(got, 0xff, sizeof(got));
	assert_int_equal(store_client_by_id(p, "ffffffffffff", got, &sc,
	    &revoked), STORE_NOTFOUND);
	assert_int_equal(got[0], 0);
	assert_null(sc);

	assert_int_equal(store_client_list(p, &list), STORE_OK);
	assert_int_equal(json_array_size(list), 2);
	/* By name: "none" before "svc". */
	assert_true(json_is_null(json_object_get(json_array_get(list, 0),
	    "revoked_at")));
	assert_int_equal(json_array_size(json_object_get(json_array_get(list,
	    0), "scopes")), 0);
	is_rfc3339(json_object_get(json_array_get(list, 1), "revoked_at"));
	json_decref(list);
	db_pool_free(p);
}

static void
test_connections(void **state)
{
	struct db_pool	*p;
	uint8_t		 s1[50], s2[70], out[KH_SEALED_MAX];
	size_t		 len;
	json_t		*meta, *view, *list;
	char		*created;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 2));
	meta = json_pack("{s:s}", "region", "eu-west-1");
	fake_sealed(s1, 0x33, sizeof(s1));
	fake_sealed(s2, 0x44, sizeof(s2));
	assert_int_equal(store_connection_upsert(p, "acme-gh", "gh", "acme",
	    meta, s1, sizeof(s1), 2, 0, &view), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(view,
	    "connection")), "acme-gh");
	assert_string_equal(json_string_value(json_object_get(view,
	    "provider")), "gh");
	assert_string_equal(json_string_value(json_object_get(view, "owner")),
	    "acme");
	assert_string_equal(json_string_value(json_object_get(view,
	    "status")), "active");
	assert_true(json_equal(json_object_get(view, "metadata"), meta));
	assert_true(json_is_null(json_object_get(view, "expires_at")));
	is_rfc3339(json_object_get(view, "created_at"));
	is_rfc3339(json_object_get(view, "updated_at"));
	/* The view of API.md: 8 fields, needs_reauth and refresh. */
	assert_int_equal(json_object_size(view), 10);
	json_decref(view);

	assert_int_equal(store_connection_get(p, "acme-gh", &view, out,
	    sizeof(out), &len), STORE_OK);
	assert_int_equal(len, sizeof(s1));
	assert_memory_equal(out, s1, len);
	json_decref(view);

	/* Replacing resets the refresh bookkeeping, keeps created_at. */
	sql("UPDATE connections SET refresh_attempts = 3, needs_reauth = true,"
	    " last_error = 'invalid_grant', status = 'needs_reauth',"
	    " last_refresh_at = now(), created_at = '2020-01-02T03:04:05Z'"
	    " WHERE id = 'acme-gh'");
	assert_int_equal(store_connection_upsert(p, "acme-gh", "gh", "acme2",
	    NULL, s2, sizeof(s2), 3, (time_t)2000000000, &view), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(view,
	    "status")), "active");
	assert_string_equal(json_string_value(json_object_get(view,
	    "expires_at")), "2033-05-18T03:33:20Z");
	assert_string_equal(json_string_value(json_object_get(view,
	    "created_at")), "2020-01-02T03:04:05Z");
	assert_int_equal(json_object_size(json_object_get(view, "metadata")),
	    0);
	json_decref(view);
	created = sql1("SELECT concat_ws(',', refresh_attempts, needs_reauth,"
	    " coalesce(last_error, '-'), coalesce(last_refresh_at::text, '-'),"
	    " key_version, owner) FROM connections WHERE id = 'acme-gh'");
	assert_string_equal(created, "0,f,-,-,3,acme2");
	free(created);
	assert_int_equal(store_connection_get(p, "acme-gh", NULL, out,
	    sizeof(out), &len), STORE_OK);
	assert_int_equal(len, sizeof(s2));
	assert_memory_equal(out, s2, len);
	assert_int_equal(store_connection_get(p, "acme-gh", &view, NULL, 0,
	    NULL), STORE_OK);
	json_decref(view);

	/* No credential at all. */
	assert_int_equal(store_connection_upsert(p, "acme.b_2", "gh", "acme",
	    NULL, NULL, 0, 0, 0, NULL), STORE_OK);
	assert_int_equal(store_connection_get(p, "acme.b_2", NULL, out,
	    sizeof(out), &len), STORE_OK);
	assert_int_equal(len, 0);

	/* Refused: a bad id, an unknown provider, a plaintext, an array. */
	assert_int_equal(store_connection_upsert(p, "bad id", "gh", "acme",
	    NULL, s1, sizeof(s1), 2, 0, NULL), STORE_INVALID);
	assert_int_equal(store_connection_upsert(p, "c", "nope", "acme", NULL,
	    s1, sizeof(s1), 2, 0, NULL), STORE_CONFLICT);
	assert_int_equal(store_connection_upsert(p, "c", "gh", "acme", NULL,
	    (const uint8_t *)"secret", 6, 2, 0, NULL), STORE_INVALID);
	list = json_array();
	assert_int_equal(store_connection_upsert(p, "c", "gh", "acme", list,
	    s1, sizeof(s1), 2, 0, NULL), STORE_INVALID);
	json_decref(list);
	assert_int_equal(store_connection_upsert(p, "c", "gh", "", NULL,
	    s1, sizeof(s1), 2, 0, NULL), STORE_INVALID);

	/* A provider in use cannot go. */
	assert_int_equal(store_provider_delete(p, "gh"), STORE_CONFLICT);

	assert_int_equal(store_connection_list(p, &list), STORE_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(list, 0), "connection")), "acme-gh");
	json_decref(list);

	assert_int_equal(store_connection_delete(p, "acme.b_2"), STORE_OK);
	assert_int_equal(store_connection_delete(p, "acme.b_2"),
	    STORE_NOTFOUND);
	assert_int_equal(store_connection_get(p, "acme.b_2", &view, out,
	    sizeof(out), &len), STORE_NOTFOUND);
	assert_null(view);
	json_decref(meta);
	db_pool_free(p);
}

static void
test_access_log(void **state)
{
	struct db_pool	*p;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 1));
	assert_int_equal(store_access_log(p, "0123456789ab", "acme-gh",
	    "token", "ok", "req-1"), STORE_OK);
	assert_int_equal(store_access_log(p, NULL, NULL, "providers",
	    "denied", NULL), STORE_OK);
	assert_int_equal(store_access_log(p, NULL, NULL, NULL, "ok", NULL),
	    STORE_INVALID);
	sql1_is("SELECT string_agg(concat_ws('/', client, connection,"
	    " operation, outcome, request_id), ' ' ORDER BY id)"
	    " FROM access_log", "0123456789ab/acme-gh/token/ok/req-1 "
	    "providers/denied");
	db_pool_free(p);
}

/* Many rows in one statement: NULLs, awkward text and the times kept. */
static void
test_access_log_batch(void **state)
{
	struct store_access_row	 rows[3];
	struct db_pool		*p;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 1));
	memset(rows, 0, sizeof(rows));
	rows[0] = (struct store_access_row){ 1700000000123456LL,
	    "0123456789ab", "acme-gh", "batch", "ok", "req-1" };
	rows[1] = (struct store_access_row){ 0, NULL, NULL, "batch",
	    "a \"quoted\", {braced} \\ NULL", NULL };
	rows[2] = (struct store_access_row){ -1, "", "", "batch", "", "" };
	assert_int_equal(store_access_log_batch(p, rows, 0), STORE_OK);
	assert_int_equal(store_access_log_batch(p, rows, 3), STORE_OK);
	sql1_is("SELECT string_agg(concat_ws('|', extract(epoch FROM at),"
	    " coalesce(client, '-'), coalesce(connection, '-'), outcome,"
	    " coalesce(request_id, '-')), ' / ' ORDER BY id)"
	    " FROM access_log WHERE operation = 'batch'",
	    "1700000000.123456|0123456789ab|acme-gh|ok|req-1 / "
	    "0.000000|-|-|a \"quoted\", {braced} \\ NULL|- / "
	    "-0.000001||||");
	/* All or none: a row without an operation refuses the batch. */
	rows[1].operation = NULL;
	assert_int_equal(store_access_log_batch(p, rows, 3), STORE_INVALID);
	assert_int_equal(store_access_log_batch(p, rows,
	    STORE_ACCESS_BATCH_MAX + 1), STORE_INVALID);
	sql1_is("SELECT count(*) FROM access_log WHERE operation = 'batch'",
	    "3");
	db_pool_free(p);
}

/*
 * Lines through the queue are in the table within the flush interval, and
 * whatever is queued at the stop is written then.
 */
static void
test_accesslog_queue(void **state)
{
	struct accesslog	*al;
	struct db_pool		*p;
	char			*n;
	int			 i;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 2));
	assert_non_null(al = accesslog_start(p, 0));
	accesslog_add(al, "0123456789ab", "acme-gh", "queued", "ok", "req-q1");
	accesslog_add(al, NULL, NULL, "queued", "does not open", NULL);
	for (i = 0; i < 100; i++) {
		n = sql1("SELECT count(*) FROM access_log"
		    " WHERE operation = 'queued'");
		if (strcmp(n, "2") == 0) {
			free(n);
			break;
		}
		free(n);
		usleep(10 * 1000);
	}
	assert_true(i < 100);
	for (i = 0; i < 3000; i++)
		accesslog_add(al, "0123456789ab", "acme-gh", "queued", "ok",
		    "req-bulk");
	accesslog_stop(al);
	sql1_is("SELECT count(*) FROM access_log WHERE operation = 'queued'",
	    "3002");
	sql1_is("SELECT concat_ws('/', client, connection, outcome,"
	    " request_id) FROM access_log WHERE request_id = 'req-q1'",
	    "0123456789ab/acme-gh/ok/req-q1");
	sql1_is("SELECT count(*) FROM access_log WHERE operation = 'queued'"
	    " AND client IS NULL AND connection IS NULL"
	    " AND request_id IS NULL AND outcome = 'does not open'", "1");
	/* The time each line was queued, not when it was written. */
	sql1_is("SELECT count(*) FROM access_log WHERE operation = 'queued'"
	    " AND at BETWEEN now() - interval '1 minute' AND now()", "3002");
	db_pool_free(p);
}

/* Rows older than N days go, in bounded deletes; younger ones stay. */
static void
test_accesslog_prune(void **state)
{
	struct accesslog	*al;
	struct db_pool		*p;
	long			 n;
	char			*c;
	int			 i;

	(void)state;
	need_pg();
	/* Only ours are old: earlier tests' rows dated 1970 and 2023 go. */
	sql("DELETE FROM access_log WHERE at < now() - interval '1 day'"
	    " OR operation LIKE 'prune-%'");
	sql("INSERT INTO access_log (at, operation, outcome)"
	    " SELECT now() - interval '3 days', 'prune-old', 'ok'"
	    " FROM generate_series(1, 25)");
	sql("INSERT INTO access_log (at, operation, outcome)"
	    " SELECT now() - interval '1 day' + interval '1 minute',"
	    " 'prune-young', 'ok' FROM generate_series(1, 4)");
	assert_non_null(p = store_pool_new(dsn, 1));
	assert_int_equal(store_access_log_prune(p, 0, 10, &n), STORE_INVALID);
	assert_int_equal(store_access_log_prune(p, 2, 0, &n), STORE_INVALID);
	/* At most the limit at a time. */
	assert_int_equal(store_access_log_prune(p, 2, 10, &n), STORE_OK);
	assert_int_equal(n, 10);
	sql1_is("SELECT count(*) FROM access_log WHERE operation = 'prune-old'",
	    "15");
	/* The writer deletes the rest at its start, and not the young. */
	assert_non_null(al = accesslog_start(p, 2));
	for (i = 0; i < 200; i++) {
		c = sql1("SELECT count(*) FROM access_log"
		    " WHERE operation = 'prune-old'");
		if (strcmp(c, "0") == 0) {
			free(c);
			break;
		}
		free(c);
		usleep(10 * 1000);
	}
	assert_true(i < 200);
	accesslog_stop(al);
	sql1_is("SELECT count(*) FROM access_log WHERE operation = "
	    "'prune-young'", "4");
	/* Nothing old left: nothing deleted. */
	assert_int_equal(store_access_log_prune(p, 1, 10, &n), STORE_OK);
	assert_int_equal(n, 0);
	sql1_is("SELECT count(*) FROM access_log WHERE operation = "
	    "'prune-young'", "4");
	db_pool_free(p);
}

static void
test_keyring_storage(void **state)
{
	struct db_pool	*p;
	uint8_t		 blob[KH_BLOB_MAX];
	size_t		 len;
	int64_t		 gen;

	(void)state;
	need_pg();
	sql("DELETE FROM keyring");
	assert_non_null(p = store_pool_new(dsn, 1));
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_NOTFOUND);
	assert_int_equal(store_keyring_put(p, (const uint8_t *)"one", 3, 0,
	    &gen), STORE_OK);
	assert_int_equal(gen, 1);
	assert_int_equal(store_keyring_put(p, (const uint8_t *)"two", 3, 0,
	    &gen), STORE_EXISTS);
	assert_int_equal(store_keyring_put(p, (const uint8_t *)"two", 3, 1,
	    &gen), STORE_OK);
	assert_int_equal(gen, 2);
	/* Somebody else's generation 1 is gone: refused. */
	assert_int_equal(store_keyring_put(p, (const uint8_t *)"old", 3, 1,
	    &gen), STORE_CONFLICT);
	assert_int_equal(gen, 0);
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_OK);
	assert_int_equal(gen, 2);
	assert_int_equal(len, 3);
	assert_memory_equal(blob, "two", 3);
	assert_int_equal(store_keyring_get(p, blob, 2, &len, &gen),
	    STORE_ERR);
	sql("DELETE FROM keyring");
	db_pool_free(p);
}

/* A broker: fake keyholder, client, pool, vault. */
struct broker_fx {
	struct fakekh	 fk;
	struct khclient	*kh;
	struct db_pool	*p;
	struct vault	*v;
	pthread_barrier_t *bar;
	int		 rv;
};

static void
bfx_start(struct broker_fx *b, int keyring, unsigned int n)
{
	memset(b, 0, sizeof(*b));
	fakekh_start(&b->fk, FK_NORMAL, keyring);
	assert_non_null(b->kh = kh_client_new(b->fk.brokerfd, 2000, NULL,
	    NULL));
	assert_non_null(b->p = store_pool_new(dsn, n));
	assert_non_null(b->v = vault_new(b->kh, b->p));
}

static void
bfx_stop(struct broker_fx *b)
{
	vault_free(b->v);
	db_pool_free(b->p);
	kh_client_free(b->kh);
	fakekh_stop(&b->fk);
	assert_int_equal(b->fk.nbad, 0);
}

static void *
start_vault(void *arg)
{
	struct broker_fx	*b = arg;

	pthread_barrier_wait(b->bar);
	b->rv = vault_keyring_start(b->v);
	return NULL;
}

/* Three brokers start against an empty database: one keyring. */
static void
test_keyring_start_race(void **state)
{
	pthread_barrier_t	 bar;
	pthread_t		 t[3];
	struct broker_fx	 b[3];
	size_t			 i, inits = 0, loads = 0;

	(void)state;
	need_pg();
	sql("DELETE FROM keyring");
	assert_int_equal(pthread_barrier_init(&bar, NULL, 3), 0);
	for (i = 0; i < 3; i++) {
		bfx_start(&b[i], 0, 1);
		b[i].bar = &bar;
		assert_int_equal(pthread_create(&t[i], NULL, start_vault,
		    &b[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(b[i].rv, VAULT_OK);
	}
	pthread_barrier_destroy(&bar);
	for (i = 0; i < 3; i++) {
		bfx_stop(&b[i]);
		assert_true(b[i].fk.have_keyring);
		if (b[i].fk.lasttype == KH_KEYRING_INIT)
			inits++;
		else if (b[i].fk.lasttype == KH_KEYRING_LOAD)
			loads++;
	}
	assert_int_equal(inits, 1);
	assert_int_equal(loads, 2);
	sql1_is("SELECT count(*) || ':' || min(generation) || ':' ||"
	    " min(encode(blob, 'escape')) FROM keyring",
	    "1:1:" FAKE_BLOB "\\000");
}

static void
test_keyring_start_cases(void **state)
{
	struct broker_fx	 b;
	char			*log;

	(void)state;
	need_pg();
	/* A keyholder that holds one already: used as it is. */
	bfx_start(&b, 1, 1);
	assert_int_equal(vault_keyring_start(b.v), VAULT_OK);
	bfx_stop(&b);
	assert_int_equal(b.fk.lasttype, KH_KEYRING_LOAD);

	/* A stored keyring the keyholder cannot open: do not start. */
	sql("UPDATE keyring SET blob = '\\x00'");
	bfx_start(&b, 0, 1);
	logcap_start();
	assert_int_not_equal(vault_keyring_start(b.v), VAULT_OK);
	log = logcap_stop();
	assert_non_null(strstr(log, "another root key"));
	free(log);
	bfx_stop(&b);
	assert_false(b.fk.have_keyring);
	sql("DELETE FROM keyring");

	/* No database: do not start either. */
	memset(&b, 0, sizeof(b));
	fakekh_start(&b.fk, FK_NORMAL, 0);
	assert_non_null(b.kh = kh_client_new(b.fk.brokerfd, 2000, NULL,
	    NULL));
	assert_non_null(b.p = store_pool_new("host=/nonexistent/x", 1));
	assert_non_null(b.v = vault_new(b.kh, b.p));
	logcap_start();
	assert_int_equal(vault_keyring_start(b.v), VAULT_EUNAVAIL);
	free(logcap_stop());
	bfx_stop(&b);
	assert_int_equal(b.fk.nreq, 0);
}

/* Rotation stores the keyring; a failed store stops sealing until it works. */
static void
test_keyring_save(void **state)
{
	struct broker_fx	 b;
	struct vault_ad		 a;
	uint8_t			 out[VAULT_SEALED_MAX];
	size_t			 len;
	uint32_t		 version;
	char			*log;

	(void)state;
	need_pg();
	sql("DELETE FROM keyring");
	bfx_start(&b, 0, 2);
	assert_int_equal(vault_keyring_start(b.v), VAULT_OK);
	sql1_is("SELECT generation FROM keyring", "1");
	assert_int_equal(vault_key_rotate(b.v, &version), VAULT_OK);
	assert_int_equal(version, 2);		/* what fakekh says */
	sql1_is("SELECT generation FROM keyring", "2");
	assert_int_equal(vault_unsaved(b.v), 0);

	/* The store fails (the schema refuses it): no value leaves. */
	assert_int_equal(vault_ad_credential(&a, "c"), 0);
	sql("ALTER TABLE keyring ADD CONSTRAINT t CHECK (generation < 3)");
	logcap_start();
	assert_int_equal(vault_key_rotate(b.v, NULL), VAULT_EUNAVAIL);
	assert_int_equal(vault_unsaved(b.v), 1);
	assert_int_equal(vault_seal(b.v, &a, "x", 1, out, sizeof(out), &len),
	    VAULT_EUNAVAIL);
	assert_int_equal(len, 0);
	log = logcap_stop();
	assert_non_null(strstr(log, "cannot store the keyring"));
	free(log);
	/* Until it works again: the next seal stores it first. */
	sql("ALTER TABLE keyring DROP CONSTRAINT t");
	assert_int_equal(vault_seal(b.v, &a, "x", 1, out, sizeof(out), &len),
	    VAULT_OK);
	assert_int_equal(vault_unsaved(b.v), 0);
	sql1_is("SELECT generation FROM keyring", "3");

	/* Another broker stored its keyring meanwhile: never overwrite it. */
	sql("UPDATE keyring SET generation = 10, blob = '\\x0102'");
	logcap_start();
	assert_int_equal(vault_key_rotate(b.v, NULL), VAULT_EUNAVAIL);
	log = logcap_stop();
	assert_non_null(strstr(log, "another broker replaced"));
	free(log);
	assert_int_equal(vault_unsaved(b.v), 1);
	assert_int_equal(kh_client_dead(b.kh), ESTALE);
	sql1_is("SELECT generation || ':' || encode(blob, 'hex') FROM keyring",
	    "10:0102");
	assert_int_equal(vault_seal(b.v, &a, "x", 1, out, sizeof(out), &len),
	    VAULT_EUNAVAIL);
	bfx_stop(&b);
	sql("DELETE FROM keyring");
}

static void
test_transactions(void **state)
{
	struct db_pool	*p;
	struct store_tx	*tx;
	struct db_conn	*c;
	uint8_t		 blob[KH_BLOB_MAX];
	size_t		 len;
	int64_t		 gen;

	(void)state;
	need_pg();
	sql("DELETE FROM keyring");
	assert_non_null(p = store_pool_new(dsn, 1));
	/* Rolled back: nothing stored, the lock released. */
	assert_int_equal(store_tx_begin(p, &tx), STORE_OK);
	assert_int_equal(store_keyring_lock(tx), STORE_OK);
	assert_int_equal(store_keyring_create(tx, (const uint8_t *)"k", 1,
	    &gen), STORE_OK);
	store_tx_rollback(tx);
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_NOTFOUND);
	sql1_is("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
	    "0");
	/* Committed. */
	assert_int_equal(store_tx_begin(p, &tx), STORE_OK);
	assert_int_equal(store_keyring_lock(tx), STORE_OK);
	assert_int_equal(store_keyring_read(tx, blob, sizeof(blob), &len,
	    &gen), STORE_NOTFOUND);
	assert_int_equal(store_keyring_create(tx, (const uint8_t *)"k", 1,
	    &gen), STORE_OK);
	assert_int_equal(store_tx_commit(tx), STORE_OK);
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_OK);
	/* A transaction left open is rolled back when released. */
	assert_non_null(c = db_acquire(p, 0));
	assert_int_equal(db_begin(c), DB_OK);
	db_release(p, c);
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_OK);
	sql("DELETE FROM keyring");
	db_pool_free(p);
}

/* The server drops every connection of ours: the next call reconnects. */
static void
test_reconnect(void **state)
{
	struct db_pool	*p;
	char		*n;
	int		 round;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 1));
	for (round = 0; round < 3; round++) {
		assert_int_equal(store_access_log(p, NULL, NULL, "probe", "ok",
		    NULL), STORE_OK);
		n = sql1("SELECT count(pg_terminate_backend(pid))"
		    " FROM pg_stat_activity WHERE application_name = '"
		    DB_APPLICATION_NAME "' AND pid <> pg_backend_pid()");
		/* Ours, and perhaps closed ones not yet gone. */
		assert_string_not_equal(n, "0");
		free(n);
		usleep(100 * 1000);
		/* Seen as gone before use, not as a failed request. */
		assert_int_equal(store_access_log(p, NULL, NULL, "probe", "ok",
		    NULL), STORE_OK);
		assert_int_equal(db_ping(p), DB_OK);
	}
	db_pool_free(p);
}

static void
test_pool_busy(void **state)
{
	struct db_pool	*p;
	struct db_conn	*c, *c2;
	struct timespec	 t0;
	int64_t		 ms;

	(void)state;
	need_pg();
	assert_non_null(p = store_pool_new(dsn, 1));
	assert_non_null(c = db_acquire(p, 0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	logcap_start();
	assert_null(db_acquire(p, 300));
	free(logcap_stop());
	ms = elapsed_ms(&t0);
	assert_true(ms >= 250 && ms < 3000);
	db_release(p, c);
	assert_non_null(c2 = db_acquire(p, 300));
	db_release(p, c2);
	db_pool_free(p);
}

/* A statement that runs too long is cut off and reported as transient. */
static void
test_statement_timeout(void **state)
{
	struct db_pool	*p;
	uint8_t		 blob[16];
	size_t		 len;
	int64_t		 gen;
	PGresult	*r;

	(void)state;
	need_pg();
	sql("DELETE FROM keyring");
	sql("INSERT INTO keyring (id, blob) VALUES (1, '\\x01')");
	assert_non_null(p = store_pool_new(dsn, 1));
	/* Hold the row, so that an update waits for us. */
	sql("BEGIN");
	sql("SELECT * FROM keyring FOR UPDATE");
	logcap_start();
	assert_int_equal(store_keyring_put(p, (const uint8_t *)"x", 1, 1,
	    &gen), STORE_UNAVAIL);
	free(logcap_stop());
	sql("ROLLBACK");
	/* The connection is still good. */
	assert_int_equal(store_keyring_get(p, blob, sizeof(blob), &len, &gen),
	    STORE_OK);
	r = PQexec(admin, "DELETE FROM keyring");
	PQclear(r);
	db_pool_free(p);
}

int
run_pg_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmigrated),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_migrate_newer_refused),
		cmocka_unit_test(test_migrate_unknown_refused),
		cmocka_unit_test(test_migrate_atomic),
		cmocka_unit_test(test_migrate_concurrent),
		cmocka_unit_test(test_providers),
		cmocka_unit_test(test_clients),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_access_log),
		cmocka_unit_test(test_access_log_batch),
		cmocka_unit_test(test_accesslog_queue),
		cmocka_unit_test(test_accesslog_prune),
		cmocka_unit_test(test_keyring_storage),
		cmocka_unit_test(test_keyring_start_race),
		cmocka_unit_test(test_keyring_start_cases),
		cmocka_unit_test(test_keyring_save),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_pool_busy),
		cmocka_unit_test(test_statement_timeout),
	};

	/*
	 * Not even listed as skipped without a database: the unit-test pass
	 * of scripts/check has none, and tests/e2e/test_store.py runs them.
	 */
	if (getenv("DROMOS_TEST_PG") == NULL) {
		printf("pg: DROMOS_TEST_PG is not set; tests/e2e/test_store.py "
		    "runs these\n");
		return 0;
	}
	return cmocka_run_group_tests_name("pg", tests, group_setup,
	    group_teardown);
}
