/*
 * A small pool of PostgreSQL connections (libpq) shared by the broker's
 * threads.
 *
 * Connections are made lazily, on the first db_acquire() that finds a
 * slot without one, and every statement of the pool's table is prepared
 * on each connection right after it is made: the broker only ever runs
 * prepared statements with parameters, never SQL text built from input.
 * (Migrations, transaction control and the ping run constant SQL text.)
 *
 * A connection that fails at the connection level (the server went away,
 * was restarted, or terminated the backend) is closed and made again by a
 * later db_acquire(); while the database cannot be reached, attempts are
 * spaced out with exponential backoff shared by the whole pool, and
 * callers get DB_EUNAVAIL at once, which the HTTP layer answers with 503.
 *
 * Every session is set up the same way: application_name dromos-broker,
 * a connect_timeout (unless the conninfo has one), statement_timeout,
 * UTC, ISO dates, hex bytea output, UTF-8.  The conninfo may hold a
 * password: it is never logged, and it is wiped when the pool is freed.
 *
 * Not usable through a pooler in transaction mode (pgbouncer): prepared
 * statements belong to a session.
 */
#ifndef DROMOS_UNPRIV_DB_H
#define DROMOS_UNPRIV_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#define DB_POOL_DEFAULT		4
#define DB_POOL_MAX		64
#define DB_PARAMS_MAX		12	/* parameters of one statement */
#define DB_CONNECT_TIMEOUT	5	/* seconds, unless the conninfo says */
#define DB_STATEMENT_TIMEOUT	5000	/* ms, for every statement */
#define DB_ACQUIRE_TIMEOUT	5000	/* ms: db_acquire()'s default wait */
#define DB_APPLICATION_NAME	"dromos-broker"

enum db_err {
	DB_OK = 0,
	DB_EUNAVAIL = -1,	/* no connection, or a transient failure */
	DB_ESQL = -2,		/* the server refused: see the SQLSTATE */
	DB_EINTERNAL = -3,	/* bad arguments, out of memory */
};

/* One statement, prepared on every connection of a pool as name. */
struct db_stmt {
	const char	*name;
	int		 nparams;
	const char	*sql;
};

/*
 * The parameters of one execution.  values[i] NULL is SQL NULL;
 * formats[i] 0 is a text value (NUL-terminated, lengths[i] ignored),
 * 1 is lengths[i] bytes in binary format (bytea: the bytes themselves).
 */
struct db_params {
	int		 n;
	const char	*values[DB_PARAMS_MAX];
	int		 lengths[DB_PARAMS_MAX];
	int		 formats[DB_PARAMS_MAX];
};

struct db_pool;
struct db_conn;

/*
 * A pool of n (1..DB_POOL_MAX; 0: DB_POOL_DEFAULT) connections to the
 * database conninfo names (key=value or URI form), preparing stmts[] on
 * each.  The table must outlive the pool.  Nothing is connected yet.
 * NULL if conninfo does not parse (the reason is logged, the conninfo
 * never is) or on a failure to allocate.
 */
struct db_pool	*db_pool_new(const char *conninfo, unsigned int n,
		    const struct db_stmt *stmts, size_t nstmts);
/* Close every connection and wipe the connection parameters. */
void		 db_pool_free(struct db_pool *);

/*
 * A connection for the calling thread alone, until db_release().  Waits
 * up to timeout_ms (<= 0: DB_ACQUIRE_TIMEOUT) for a free slot; connects
 * it if needed.  NULL when none is free in time or the database cannot be
 * reached (DB_EUNAVAIL, for the caller to answer 503).
 */
struct db_conn	*db_acquire(struct db_pool *, int timeout_ms);
/* Give it back; a transaction still open is rolled back. */
void		 db_release(struct db_pool *, struct db_conn *);

/*
 * Execute statement number stmt of the pool's table.  DB_OK with *res
 * (PQclear it) for a command or rows; DB_ESQL with the five-character
 * SQLSTATE in sqlstate (may be NULL) when the server refused it for a
 * reason of its own (a constraint, say); DB_EUNAVAIL when the connection
 * failed or the failure is transient (timeout, shutdown, serialisation),
 * after which the connection is closed and made again later.
 */
int		 db_exec(struct db_conn *, size_t stmt, const struct db_params *,
		    PGresult **res, char sqlstate[6]);

/* A transaction on one connection (constant SQL).  DB_OK or an error. */
int		 db_begin(struct db_conn *);
int		 db_commit(struct db_conn *);
void		 db_rollback(struct db_conn *);

/* Can a query be run?  DB_OK or DB_EUNAVAIL; for readiness probes. */
int		 db_ping(struct db_pool *);

/*
 * A connection outside the pool, with the pool's settings and nothing
 * prepared: for migrations, which run before the statements can prepare.
 * NULL (logged) on failure.  PQfinish() it.
 */
PGconn		*db_connect_direct(struct db_pool *);

/*
 * Result helpers.  db_bytea copies a bytea column in hex text output into
 * buf: 0, or -1 if it is NULL, malformed or longer than sz.
 */
int		 db_bytea(const PGresult *, int row, int col, uint8_t *buf,
		    size_t sz, size_t *len);

#endif /* DROMOS_UNPRIV_DB_H */
