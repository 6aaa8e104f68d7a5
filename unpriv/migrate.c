/*
 * migrate.c: applying the embedded migrations (migrate.h).
 *
 * The one place where the broker executes SQL text directly: the texts are
 * constants compiled in from unpriv/sql/, never input.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "unpriv/db.h"
#include "unpriv/migrate.h"

#define ERRMSG_MAX	256

/*
 * Migrations may take a while on a big table, and a second broker waits
 * for the first one's lock: neither is bounded by the 5 s of ordinary
 * statements, but neither may wait forever.
 */
static const char *const prologue[] = {
	"SET LOCAL statement_timeout = '15min'",
	"SET LOCAL lock_timeout = '5min'",
	"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY CHECK (version > 0),"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
};

int
migrate_check(const struct migration *m, size_t n)
{
	size_t	 i;

	if (n == 0) {
		log_warnx("migrations: none compiled in");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (m[i].version <= 0 || m[i].name == NULL ||
		    m[i].name[0] == '\0' || m[i].sql == NULL ||
		    strlen(m[i].sql) != m[i].len || m[i].len == 0) {
			log_warnx("migrations: entry %zu is malformed", i);
			return -1;
		}
		if (i > 0 && m[i].version <= m[i - 1].version) {
			log_warnx("migrations: version %d after %d", m[i].version,
			    m[i - 1].version);
			return -1;
		}
	}
	return 0;
}

/* NOTICEs ("already exists, skipping") go to our log, not to stderr. */
static void
notice(void *arg, const char *msg)
{
	char	 buf[ERRMSG_MAX];
	size_t	 n;

	(void)arg;
	snprintf(buf, sizeof(buf), "%s", msg);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	log_debug("database: %s", buf);
}

/* The primary message and SQLSTATE of a failed result, on one line. */
static void
log_failure(const char *what, const PGresult *r, PGconn *pg)
{
	const char	*msg, *state;
	char		 buf[ERRMSG_MAX];
	size_t		 i;

	if (r == NULL || (msg = PQresultErrorField(r,
	    PG_DIAG_MESSAGE_PRIMARY)) == NULL)
		msg = PQerrorMessage(pg);
	if (r == NULL || (state = PQresultErrorField(r,
	    PG_DIAG_SQLSTATE)) == NULL)
		state = "-";
	snprintf(buf, sizeof(buf), "%s", msg);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	log_warnx("migrations: %s: %s (SQLSTATE %s)", what, buf, state);
}

/* Run constant SQL (one or more statements); 0 or -1 (logged). */
static int
run(PGconn *pg, const char *what, const char *sql)
{
	PGresult	*r;
	int		 ok;

	r = PQexec(pg, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		log_failure(what, r, pg);
	PQclear(r);
	return ok ? 0 : -1;
}

static const struct migration *
find(const struct migration *m, size_t n, int version)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (m[i].version == version)
			return &m[i];
	return NULL;
}

/*
 * What the database has applied, checked against what we know: applied[i]
 * is set for each entry of m that is recorded.  0 or -1 (logged).
 */
static int
recorded(PGconn *pg, const struct migration *m, size_t n, char *applied)
{
	const struct migration	*k;
	PGresult		*r;
	const char		*s, *name;
	char			*end;
	long			 v;
	int			 i, rv = 0;

	r = PQexec(pg, "SELECT version, name FROM schema_migrations "
	    "ORDER BY version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_failure("reading schema_migrations", r, pg);
		PQclear(r);
		return -1;
	}
	for (i = 0; i < PQntuples(r) && rv == 0; i++) {
		s = PQgetvalue(r, i, 0);
		name = PQgetvalue(r, i, 1);
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0 || *s == '\0' || *end != '\0' || v <= 0 ||
		    v > INT_MAX) {
			log_warnx("migrations: schema_migrations holds a bad "
			    "version");
			rv = -1;
		} else if (v > m[n - 1].version) {
			log_warnx("database schema %ld is newer than this "
			    "broker (%d)", v, m[n - 1].version);
			rv = -1;
		} else if ((k = find(m, n, (int)v)) == NULL) {
			log_warnx("database has migration %ld, which this "
			    "broker does not know", v);
			rv = -1;
		} else {
			if (strcmp(k->name, name) != 0)
				log_warnx("migrations: %03d is \"%s\" here but "
				    "was applied as another name", k->version,
				    k->name);
			applied[k - m] = 1;
		}
	}
	PQclear(r);
	return rv;
}

static int
apply_one(PGconn *pg, const struct migration *m)
{
	const char	*vals[2];
	char		 what[96], ver[16];
	PGresult	*r;
	int		 ok;

	snprintf(what, sizeof(what), "%03d_%s", m->version, m->name);
	if (run(pg, what, m->sql) == -1)
		return -1;
	snprintf(ver, sizeof(ver), "%d", m->version);
	vals[0] = ver;
	vals[1] = m->name;
	r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) "
	    "VALUES ($1::integer, $2::text)", 2, NULL, vals, NULL, NULL, 0);
	if (!(ok = PQresultStatus(r) == PGRES_COMMAND_OK))
		log_failure("recording a migration", r, pg);
	PQclear(r);
	if (ok)
		log_info("database: applied migration %s", what);
	return ok ? 0 : -1;
}

static int
run_locked(PGconn *pg, const struct migration *m, size_t n)
{
	char	*applied;
	size_t	 i;
	int	 rv = 0, count = 0;

	for (i = 0; i < sizeof(prologue) / sizeof(prologue[0]); i++)
		if (run(pg, "preparing", prologue[i]) == -1)
			return -1;
	if ((applied = calloc(n, 1)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return -1;
	}
	if (recorded(pg, m, n, applied) == -1)
		rv = -1;
	for (i = 0; i < n && rv == 0; i++)
		if (!applied[i]) {
			rv = apply_one(pg, &m[i]);
			count++;
		}
	free(applied);
	if (rv == 0 && count == 0)
		log_debug("database: schema %d is current", m[n - 1].version);
	return rv;
}

int
migrate_run(PGconn *pg, const struct migration *m, size_t n)
{
	if (migrate_check(m, n) == -1)
		return -1;
	PQsetNoticeProcessor(pg, notice, NULL);
	if (run(pg, "BEGIN", "BEGIN") == -1)
		return -1;
	if (run_locked(pg, m, n) == -1) {
		(void)run(pg, "ROLLBACK", "ROLLBACK");
		return -1;
	}
	return run(pg, "COMMIT", "COMMIT");
}

int
migrate_apply(struct db_pool *pool)
{
	PGconn	*pg;
	int	 rv;

	if ((pg = db_connect_direct(pool)) == NULL)
		return -1;
	rv = migrate_run(pg, migrate_list, migrate_count);
	PQfinish(pg);
	return rv;
}
