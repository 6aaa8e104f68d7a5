/*
 * db.c: the broker's pool of PostgreSQL connections (db.h).
 *
 * One mutex guards the slots and the pool's backoff; connecting, preparing
 * and querying happen outside it, on a slot the calling thread owns.
 * libpq is thread-safe as long as one PGconn is used by one thread at a
 * time, which the busy flag guarantees.
 */
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "unpriv/db.h"
#include "unpriv/metrics.h"

#define BACKOFF_MIN	100		/* ms before the first retry */
#define BACKOFF_MAX	10000		/* ms, at most, between attempts */
#define ERRMSG_MAX	256

#define STR(x)		STR1(x)
#define STR1(x)		#x

/*
 * Appended to the conninfo's own options, so ours win: the code relies on
 * the output formats, and a statement must never hang a worker thread.
 */
#define SESSION_OPTIONS \
	"-c statement_timeout=" STR(DB_STATEMENT_TIMEOUT) \
	" -c idle_in_transaction_session_timeout=60000" \
	" -c DateStyle=ISO -c TimeZone=UTC -c bytea_output=hex"

struct db_conn {
	struct db_pool	*pool;
	PGconn		*pg;
	int		 busy;
	int		 broken;	/* close it at release */
};

struct db_pool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	const struct db_stmt	*stmts;
	size_t			 nstmts;
	char			**kw;		/* NULL-terminated */
	char			**val;
	size_t			 nkw;
	struct db_conn		*conns;
	unsigned int		 n;
	int64_t			 retry_at;	/* monotonic ms */
	int64_t			 backoff;	/* ms */
	int			 down;		/* the last attempt failed */
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
str_wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* libpq's message, on one line, for a log. */
static const char *
oneline(const char *msg, char *buf, size_t sz)
{
	size_t	 i;

	snprintf(buf, sz, "%s", msg != NULL ? msg : "");
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			buf[i] = ' ';
	while (i > 0 && buf[i - 1] == ' ')
		buf[--i] = '\0';
	return buf;
}

/* NOTICEs and WARNINGs go to our log, not to stderr. */
static void
notice(void *arg, const char *msg)
{
	char	 buf[ERRMSG_MAX];

	(void)arg;
	log_debug("database: %s", oneline(msg, buf, sizeof(buf)));
}

static int
param_add(struct db_pool *p, const char *k, const char *v)
{
	if ((p->kw[p->nkw] = strdup(k)) == NULL ||
	    (p->val[p->nkw] = strdup(v)) == NULL) {
		free(p->kw[p->nkw]);
		p->kw[p->nkw] = NULL;
		return -1;
	}
	p->nkw++;
	return 0;
}

/* The conninfo's own settings, then ours. */
static int
params_copy(struct db_pool *p, PQconninfoOption *opts, char **useropts,
    int *have_timeout)
{
	PQconninfoOption	*o;

	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL ||
		    strcmp(o->keyword, "application_name") == 0 ||
		    strcmp(o->keyword, "fallback_application_name") == 0 ||
		    strcmp(o->keyword, "client_encoding") == 0)
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			*useropts = o->val;
			continue;
		}
		if (strcmp(o->keyword, "connect_timeout") == 0)
			*have_timeout = 1;
		if (param_add(p, o->keyword, o->val) == -1)
			return -1;
	}
	return 0;
}

static int
params_build(struct db_pool *p, const char *conninfo)
{
	PQconninfoOption	*opts, *o;
	char			*err = NULL, *useropts = NULL, *options;
	size_t			 n = 0;
	int			 have_timeout = 0, rv = -1;

	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		/* The message may quote the conninfo, password and all. */
		if (err != NULL) {
			explicit_bzero(err, strlen(err));
			PQfreemem(err);
		}
		log_warnx("the database connection string does not parse");
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++)
		n++;
	/* Ours: application_name, client_encoding, connect_timeout, options. */
	if ((p->kw = calloc(n + 5, sizeof(*p->kw))) == NULL ||
	    (p->val = calloc(n + 5, sizeof(*p->val))) == NULL)
		goto done;
	if (params_copy(p, opts, &useropts, &have_timeout) == -1 ||
	    param_add(p, "application_name", DB_APPLICATION_NAME) == -1 ||
	    param_add(p, "client_encoding", "UTF8") == -1 ||
	    (!have_timeout && param_add(p, "connect_timeout",
	    STR(DB_CONNECT_TIMEOUT)) == -1))
		goto done;
	if (asprintf(&options, "%s%s%s", useropts != NULL ? useropts : "",
	    useropts != NULL ? " " : "", SESSION_OPTIONS) == -1)
		goto done;
	rv = param_add(p, "options", options);
	str_wipe_free(options);
 done:
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
	if (rv == -1)
		log_warnx("%s: out of memory", __func__);
	return rv;
}

struct db_pool *
db_pool_new(const char *conninfo, unsigned int n, const struct db_stmt *stmts,
    size_t nstmts)
{
	pthread_condattr_t	 ca;
	struct db_pool		*p;
	unsigned int		 i;

	if (n == 0)
		n = DB_POOL_DEFAULT;
	if (n > DB_POOL_MAX || conninfo == NULL ||
	    (stmts == NULL && nstmts > 0)) {
		log_warnx("%s: bad arguments", __func__);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->conns = calloc(n, sizeof(*p->conns))) == NULL) {
		free(p);
		log_warnx("%s: out of memory", __func__);
		return NULL;
	}
	p->n = n;
	p->stmts = stmts;
	p->nstmts = nstmts;
	p->backoff = BACKOFF_MIN;
	for (i = 0; i < n; i++)
		p->conns[i].pool = p;
	/* Timed waits on the monotonic clock: wall-clock jumps do not matter. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->cv, &ca) != 0 ||
	    pthread_mutex_init(&p->mtx, NULL) != 0)
		fatalx("%s: pthread initialisation", __func__);
	pthread_condattr_destroy(&ca);
	if (params_build(p, conninfo) == -1) {
		db_pool_free(p);
		return NULL;
	}
	return p;
}

void
db_pool_free(struct db_pool *p)
{
	size_t	 i;

	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->mtx);
	pthread_cond_destroy(&p->cv);
	for (i = 0; i < p->n; i++)
		if (p->conns[i].pg != NULL)
			PQfinish(p->conns[i].pg);
	for (i = 0; i < p->nkw; i++) {
		str_wipe_free(p->kw[i]);
		str_wipe_free(p->val[i]);
	}
	free(p->kw);
	free(p->val);
	free(p->conns);
	free(p);
}

/*
 * Is an idle connection still there?  A server that went away has left
 * EOF (often after a FATAL message) on the socket; an idle connection
 * otherwise has nothing to read.
 */
static int
conn_alive(PGconn *pg)
{
	struct pollfd	 pfd;

	if (PQstatus(pg) != CONNECTION_OK ||
	    PQtransactionStatus(pg) != PQTRANS_IDLE ||
	    (pfd.fd = PQsocket(pg)) < 0)
		return 0;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) <= 0)
		return 1;
	if (PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK)
		return 0;
	/* A stray notice: fine, unless more (the end) follows it. */
	return poll(&pfd, 1, 0) == 0;
}

/* A field of an error result, or dflt. */
static const char *
field(const PGresult *r, int f, const char *dflt)
{
	const char	*s = PQresultErrorField(r, f);

	return s != NULL ? s : dflt;
}

static int
prepare_all(struct db_pool *p, PGconn *pg)
{
	const struct db_stmt	*st;
	PGresult		*r;
	char			 buf[ERRMSG_MAX];
	size_t			 i;

	for (i = 0; i < p->nstmts; i++) {
		st = &p->stmts[i];
		r = PQprepare(pg, st->name, st->sql, st->nparams, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			/* Our own constant SQL: the message holds no input. */
			log_warnx("database: statement %s does not prepare: "
			    "%s (SQLSTATE %s)", st->name, oneline(field(r,
			    PG_DIAG_MESSAGE_PRIMARY, PQerrorMessage(pg)), buf,
			    sizeof(buf)), field(r, PG_DIAG_SQLSTATE, "-"));
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

static PGconn *
connect_one(struct db_pool *p)
{
	PGconn	*pg;
	char	 buf[ERRMSG_MAX];

	pg = PQconnectdbParams((const char *const *)p->kw,
	    (const char *const *)p->val, 0);
	if (pg == NULL) {
		log_warnx("database: out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		/* libpq names host, port and user here, never the password. */
		log_warnx("database: cannot connect: %s",
		    oneline(PQerrorMessage(pg), buf, sizeof(buf)));
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, notice, NULL);
	return pg;
}

/* Connect slot c, or fail at once while the pool is backing off. */
static int
conn_open(struct db_pool *p, struct db_conn *c)
{
	PGconn	*pg;
	int	 wasdown;

	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	pthread_mutex_lock(&p->mtx);
	if (now_ms() < p->retry_at) {
		pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	pthread_mutex_unlock(&p->mtx);

	if ((pg = connect_one(p)) != NULL && prepare_all(p, pg) == -1) {
		PQfinish(pg);
		pg = NULL;
	}

	pthread_mutex_lock(&p->mtx);
	wasdown = p->down;
	if (pg == NULL) {
		p->retry_at = now_ms() + p->backoff;
		p->backoff = p->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
		    p->backoff * 2;
		p->down = 1;
	} else {
		p->retry_at = 0;
		p->backoff = BACKOFF_MIN;
		p->down = 0;
	}
	pthread_mutex_unlock(&p->mtx);
	metrics_db(pg != NULL ? MX_DB_CONNECTED : MX_DB_CONNECT_FAILED);
	if (pg == NULL)
		return -1;
	if (wasdown)
		log_info("database: connected again");
	c->pg = pg;
	c->broken = 0;
	return 0;
}

/* A free slot, preferring one that is connected already.  Locked. */
static struct db_conn *
slot_free(struct db_pool *p)
{
	struct db_conn	*spare = NULL;
	unsigned int	 i;

	for (i = 0; i < p->n; i++) {
		if (p->conns[i].busy)
			continue;
		if (p->conns[i].pg != NULL)
			return &p->conns[i];
		if (spare == NULL)
			spare = &p->conns[i];
	}
	return spare;
}

static void
slot_put(struct db_pool *p, struct db_conn *c)
{
	pthread_mutex_lock(&p->mtx);
	c->busy = 0;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

struct db_conn *
db_acquire(struct db_pool *p, int timeout_ms)
{
	struct db_conn	*c;
	struct timespec	 dl;
	int		 rv = 0;

	if (timeout_ms <= 0)
		timeout_ms = DB_ACQUIRE_TIMEOUT;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&p->mtx);
	while ((c = slot_free(p)) == NULL && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&p->cv, &p->mtx, &dl);
	if (c != NULL)
		c->busy = 1;
	pthread_mutex_unlock(&p->mtx);
	if (c == NULL) {
		metrics_db(MX_DB_BUSY);
		log_warnx("database: every connection busy for %d ms",
		    timeout_ms);
		return NULL;
	}
	if (c->pg != NULL && !c->broken && conn_alive(c->pg))
		return c;
	if (conn_open(p, c) == 0)
		return c;
	slot_put(p, c);
	return NULL;
}

/*
 * Failures that say nothing about the statement: the caller may try again
 * later (503).  *reconnect is set when this connection is no longer of
 * use: its server is going away, or its prepared statements are gone or
 * stale (a migration by a newer broker changed a table under them).
 */
static int
transient(const char *state, int *reconnect)
{
	static const char *const gone[] = {
		"57P01", "57P02", "57P03",	/* shutdown, crash, starting */
		"26000",			/* no such prepared statement */
		"0A000",			/* cached plan changed type */
	};
	static const char *const retry[] = {
		"57014",			/* statement timeout, cancel */
		"40001", "40P01",		/* serialisation, deadlock */
		"55P03",			/* lock not available */
	};
	size_t	 i;

	*reconnect = 0;
	if (strncmp(state, "08", 2) == 0) {	/* connection exception */
		*reconnect = 1;
		return 1;
	}
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (strcmp(state, gone[i]) == 0) {
			*reconnect = 1;
			return 1;
		}
	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (strcmp(state, retry[i]) == 0)
			return 1;
	return strncmp(state, "53", 2) == 0;	/* insufficient resources */
}

/*
 * Sort out what came back.  Only the SQLSTATE and the constraint's name
 * are logged: the server's messages can quote the values of a row.
 */
static int
result(struct db_conn *c, const char *what, PGresult *r, PGresult **res,
    char sqlstate[6])
{
	const char	*state, *cons;
	char		 buf[ERRMSG_MAX];
	int		 reconnect;

	switch (PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		*res = r;
		return DB_OK;
	default:
		break;
	}
	if (r == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		log_warnx("database: %s: connection lost: %s", what,
		    oneline(PQerrorMessage(c->pg), buf, sizeof(buf)));
		c->broken = 1;
		PQclear(r);
		metrics_db(MX_DB_LOST);
		return DB_EUNAVAIL;
	}
	state = field(r, PG_DIAG_SQLSTATE, "XX000");
	if (transient(state, &reconnect)) {
		metrics_db(MX_DB_TRANSIENT);
		log_warnx("database: %s: SQLSTATE %s%s", what, state,
		    reconnect ? "; reconnecting" : "");
		c->broken |= reconnect;
		PQclear(r);
		return DB_EUNAVAIL;
	}
	cons = field(r, PG_DIAG_CONSTRAINT_NAME, NULL);
	log_debug("database: %s: SQLSTATE %s%s%s", what, state,
	    cons != NULL ? ", constraint " : "", cons != NULL ? cons : "");
	if (sqlstate != NULL)
		snprintf(sqlstate, 6, "%s", state);
	PQclear(r);
	metrics_db(MX_DB_SQL);
	return DB_ESQL;
}

int
db_exec(struct db_conn *c, size_t i, const struct db_params *prm,
    PGresult **res, char sqlstate[6])
{
	static const struct db_params	 none;
	const struct db_stmt		*st;
	PGresult			*r;

	*res = NULL;
	if (sqlstate != NULL)
		sqlstate[0] = '\0';
	if (prm == NULL)
		prm = &none;
	if (i >= c->pool->nstmts || prm->n < 0 || prm->n > DB_PARAMS_MAX ||
	    prm->n != c->pool->stmts[i].nparams) {
		log_warnx("%s: statement %zu: bad parameters", __func__, i);
		return DB_EINTERNAL;
	}
	st = &c->pool->stmts[i];
	if (c->pg == NULL || c->broken)
		return DB_EUNAVAIL;
	r = PQexecPrepared(c->pg, st->name, prm->n, prm->values, prm->lengths,
	    prm->formats, 0);
	return result(c, st->name, r, res, sqlstate);
}

/* Constant SQL text, no parameters, no rows wanted. */
static int
simple(struct db_conn *c, const char *sql)
{
	PGresult	*r, *res = NULL;
	int		 rv;

	if (c->pg == NULL || c->broken)
		return DB_EUNAVAIL;
	r = PQexecParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0);
	if ((rv = result(c, sql, r, &res, NULL)) == DB_OK)
		PQclear(res);
	return rv;
}

int
db_begin(struct db_conn *c)
{
	return simple(c, "BEGIN");
}

int
db_commit(struct db_conn *c)
{
	return simple(c, "COMMIT");
}

void
db_rollback(struct db_conn *c)
{
	/* A connection left in a transaction is of no further use. */
	if (simple(c, "ROLLBACK") != DB_OK)
		c->broken = 1;
}

void
db_release(struct db_pool *p, struct db_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg != NULL && !c->broken) {
		switch (PQtransactionStatus(c->pg)) {
		case PQTRANS_IDLE:
			break;
		case PQTRANS_INTRANS:
		case PQTRANS_INERROR:
			db_rollback(c);
			break;
		default:
			c->broken = 1;
			break;
		}
	}
	if (c->broken && c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->broken = 0;
	slot_put(p, c);
}

int
db_ping(struct db_pool *p)
{
	struct db_conn	*c;
	int		 rv;

	if ((c = db_acquire(p, 0)) == NULL)
		return DB_EUNAVAIL;
	rv = simple(c, "SELECT 1");
	db_release(p, c);
	return rv == DB_OK ? DB_OK : DB_EUNAVAIL;
}

PGconn *
db_connect_direct(struct db_pool *p)
{
	return connect_one(p);
}

static int
hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
db_bytea(const PGresult *r, int row, int col, uint8_t *buf, size_t sz,
    size_t *len)
{
	const unsigned char	*s;
	size_t			 n, i;
	int			 hi, lo;

	*len = 0;
	if (row >= PQntuples(r) || col >= PQnfields(r) ||
	    PQgetisnull(r, row, col) || PQfformat(r, col) != 0)
		return -1;
	s = (const unsigned char *)PQgetvalue(r, row, col);
	n = (size_t)PQgetlength(r, row, col);
	/* bytea_output=hex, which every session sets: \x then pairs. */
	if (n < 2 || s[0] != '\\' || s[1] != 'x' || n % 2 != 0 ||
	    (n - 2) / 2 > sz)
		return -1;
	for (i = 0; i < (n - 2) / 2; i++) {
		if ((hi = hexval(s[2 + 2 * i])) < 0 ||
		    (lo = hexval(s[3 + 2 * i])) < 0)
			return -1;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = i;
	return 0;
}
