/*
 * store.c: the broker's queries (store.h).
 *
 * Every statement is in the table below, prepared once per connection;
 * a function binds its parameters (text, or binary for bytea), runs one
 * statement and reads the answer.  Views are built as JSON by the server
 * (json_build_object), so each function only parses one text column.
 * JSON and arrays go in as JSON text: no value is ever spliced into SQL.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/jsonmem.h"
#include "common/log.h"
#include "unpriv/db.h"
#include "unpriv/store.h"

/* pg_advisory_xact_lock key: "DROMOS" 0x0002 (0x0001 is migrate.h's). */
#define KEYRING_LOCK_KEY	"4923084536131289090"

/* What a connection looks like from outside: no secret in it. */
#define CONN_VIEW \
	"json_build_object('connection', id, 'provider', provider," \
	" 'owner', owner, 'status', status," \
	" 'created_at', rfc3339(created_at)," \
	" 'updated_at', rfc3339(updated_at)," \
	" 'expires_at', rfc3339(expires_at), 'metadata', metadata," \
	" 'needs_reauth', needs_reauth, 'refresh', json_build_object(" \
	" 'attempts', refresh_attempts, 'last_error', last_error," \
	" 'last_refresh_at', rfc3339(last_refresh_at)," \
	" 'last_forced_at', rfc3339(last_forced_refresh_at)))"

/* A refresh lock per connection: the id hashed to an advisory key. */
#define REFRESH_LOCK \
	"SELECT pg_advisory_xact_lock(hashtextextended('dromos refresh ' ||" \
	" $1::text, 0))"

#define CLIENT_VIEW \
	"json_build_object('id', id, 'name', name, 'scopes', scopes," \
	" 'created_at', rfc3339(created_at)"

enum stmt {
	S_KEYRING_LOCK,
	S_KEYRING_GET,
	S_KEYRING_CREATE,
	S_KEYRING_PUT,
	S_PROVIDER_INSERT,
	S_PROVIDER_UPDATE,
	S_PROVIDER_GET,
	S_PROVIDER_SECRET,
	S_PROVIDER_LIST,
	S_PROVIDER_DELETE,
	S_CLIENT_INSERT,
	S_CLIENT_BY_ID,
	S_CLIENT_LIST,
	S_CLIENT_REVOKE,
	S_CONN_UPSERT,
	S_CONN_GET,
	S_CONN_LIST,
	S_CONN_DELETE,
	S_ACCESS_LOG,
	S_ACCESS_LOG_BATCH,
	S_ACCESS_LOG_PRUNE,
	S_ACCESS_LOG_OF,
	S_CSESSION_INSERT,
	S_CSESSION_GET,
	S_OSESSION_INSERT,
	S_OSESSION_TAKE,
	S_CONN_ERROR,
	S_REFRESH_LOCK,
	S_CONN_TOKENS,
	S_CONN_REFRESH_FAILED,
	S_REWRAP_CONN_BATCH,
	S_REWRAP_CONN_SWAP,
	S_REWRAP_PROV_BATCH,
	S_REWRAP_PROV_SWAP,
	S_KEY_COUNTS,
	S_COUNT
};

static const struct db_stmt stmts[S_COUNT] = {
	[S_KEYRING_LOCK] = { "keyring_lock", 0,
	    "SELECT pg_advisory_xact_lock(" KEYRING_LOCK_KEY ")" },
	[S_KEYRING_GET] = { "keyring_get", 0,
	    "SELECT blob, generation FROM keyring WHERE id = 1" },
	[S_KEYRING_CREATE] = { "keyring_create", 1,
	    "INSERT INTO keyring (id, blob) VALUES (1, $1::bytea)"
	    " ON CONFLICT (id) DO NOTHING RETURNING generation" },
	[S_KEYRING_PUT] = { "keyring_put", 2,
	    "UPDATE keyring SET blob = $1::bytea,"
	    " generation = generation + 1, updated_at = now()"
	    " WHERE id = 1 AND generation = $2::bigint RETURNING generation" },

	[S_PROVIDER_INSERT] = { "provider_insert", 4,
	    "INSERT INTO providers (id, auth_mode, config, client_secret)"
	    " VALUES ($1::text, $2::text, $3::json, $4::bytea)" },
	[S_PROVIDER_UPDATE] = { "provider_update", 4,
	    "UPDATE providers SET auth_mode = $2::text, config = $3::json,"
	    " client_secret = coalesce($4::bytea, client_secret),"
	    " updated_at = now() WHERE id = $1::text" },
	[S_PROVIDER_GET] = { "provider_get", 1,
	    "SELECT config::text, client_secret IS NOT NULL FROM providers"
	    " WHERE id = $1::text" },
	[S_PROVIDER_SECRET] = { "provider_secret", 1,
	    "SELECT client_secret FROM providers WHERE id = $1::text" },
	[S_PROVIDER_LIST] = { "provider_list", 0,
	    "SELECT coalesce(jsonb_agg(config::jsonb || jsonb_build_object("
	    "'has_client_secret', client_secret IS NOT NULL) ORDER BY id),"
	    " '[]')::text FROM providers" },
	[S_PROVIDER_DELETE] = { "provider_delete", 1,
	    "DELETE FROM providers WHERE id = $1::text" },

	/* The scopes arrive as a JSON array and keep their order. */
	[S_CLIENT_INSERT] = { "client_insert", 4,
	    "INSERT INTO clients (id, name, token_hash, scopes)"
	    " SELECT $1::text, $2::text, $3::bytea,"
	    " coalesce(array_agg(s ORDER BY n), '{}')"
	    " FROM jsonb_array_elements_text($4::jsonb)"
	    " WITH ORDINALITY AS t(s, n)"
	    " RETURNING " CLIENT_VIEW ")::text" },
	[S_CLIENT_BY_ID] = { "client_by_id", 1,
	    "SELECT token_hash, array_to_json(scopes)::text,"
	    " revoked_at IS NOT NULL FROM clients WHERE id = $1::text" },
	[S_CLIENT_LIST] = { "client_list", 0,
	    "SELECT coalesce(json_agg(" CLIENT_VIEW ","
	    " 'revoked_at', rfc3339(revoked_at)) ORDER BY name), '[]')::text"
	    " FROM clients" },
	[S_CLIENT_REVOKE] = { "client_revoke", 1,
	    "UPDATE clients SET revoked_at = coalesce(revoked_at, now())"
	    " WHERE name = $1::text" },

	/* One statement, so a replacement is atomic. */
	[S_CONN_UPSERT] = { "connection_upsert", 7,
	    "INSERT INTO connections (id, provider, owner, metadata, secrets,"
	    " key_version, expires_at) VALUES ($1::text, $2::text, $3::text,"
	    " $4::jsonb, $5::bytea, $6::integer, to_timestamp($7::bigint))"
	    " ON CONFLICT (id) DO UPDATE SET provider = excluded.provider,"
	    " owner = excluded.owner, metadata = excluded.metadata,"
	    " secrets = excluded.secrets, key_version = excluded.key_version,"
	    " expires_at = excluded.expires_at, status = 'active',"
	    " refresh_attempts = 0, last_error = NULL,"
	    " last_refresh_at = NULL, needs_reauth = false,"
	    " updated_at = now()"
	    " RETURNING " CONN_VIEW "::text" },
	[S_CONN_GET] = { "connection_get", 1,
	    "SELECT " CONN_VIEW "::text, secrets FROM connections"
	    " WHERE id = $1::text" },
	[S_CONN_LIST] = { "connection_list", 0,
	    "SELECT coalesce(json_agg(" CONN_VIEW " ORDER BY id), '[]')::text"
	    " FROM connections" },
	[S_CONN_DELETE] = { "connection_delete", 1,
	    "DELETE FROM connections WHERE id = $1::text" },

	[S_ACCESS_LOG] = { "access_log", 5,
	    "INSERT INTO access_log (client, connection, operation, outcome,"
	    " request_id) VALUES ($1::text, $2::text, $3::text, $4::text,"
	    " $5::text)" },

	/*
	 * Many rows in one statement: a column each, as binary arrays of
	 * equal length, the times in microseconds since the epoch.
	 */
	[S_ACCESS_LOG_BATCH] = { "access_log_batch", 6,
	    "INSERT INTO access_log (at, client, connection, operation,"
	    " outcome, request_id) SELECT"
	    " timestamptz 'epoch' + u.at * interval '1 microsecond',"
	    " u.client, u.connection, u.operation, u.outcome, u.request_id"
	    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
	    " $5::text[], $6::text[])"
	    " AS u(at, client, connection, operation, outcome, request_id)" },
	/*
	 * Rows older than $1 days, at most $2 of them: the BRIN index on
	 * `at` finds them, and a bounded delete holds its locks briefly.
	 */
	/*
	 * One connection's newest rows, newest first: a backward scan of
	 * the (connection, at) index.  Rows outlive their connection.
	 */
	[S_ACCESS_LOG_OF] = { "access_log_of", 2,
	    "SELECT coalesce(json_agg(json_build_object("
	    "'at', to_char(t.at AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	    " 'client', t.client, 'operation', t.operation,"
	    " 'outcome', t.outcome, 'request_id', t.request_id)"
	    " ORDER BY t.at DESC, t.id DESC), '[]')::text"
	    " FROM (SELECT id, at, client, operation, outcome, request_id"
	    " FROM access_log WHERE connection = $1::text"
	    " ORDER BY at DESC, id DESC LIMIT $2::int) t" },
	[S_ACCESS_LOG_PRUNE] = { "access_log_prune", 2,
	    "DELETE FROM access_log WHERE ctid = ANY (ARRAY("
	    "SELECT ctid FROM access_log"
	    " WHERE at < now() - $1::int * interval '1 day' LIMIT $2::int))" },

	/* Connect sessions: only the token's hash is kept. */
	[S_CSESSION_INSERT] = { "csession_insert", 8,
	    "INSERT INTO connect_sessions (id, token_hash, client, owner,"
	    " providers, connection, return_url, expires_at)"
	    " SELECT $1::text, $2::bytea, $3::text, $4::text,"
	    " CASE WHEN $5::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT"
	    " jsonb_array_elements_text($5::jsonb)) END, $6::text, $7::text,"
	    " now() + make_interval(secs => $8::integer)"
	    " RETURNING rfc3339(expires_at)" },
	[S_CSESSION_GET] = { "csession_get", 1,
	    "SELECT json_build_object('id', id, 'client', client, 'owner',"
	    " owner, 'providers', providers, 'connection', connection,"
	    " 'return_url', return_url, 'expires_at', rfc3339(expires_at))"
	    "::text FROM connect_sessions WHERE token_hash = $1::bytea"
	    " AND expires_at > now()" },

	/* OAuth state: one use, before it expires, then never again. */
	[S_OSESSION_INSERT] = { "osession_insert", 9,
	    "INSERT INTO oauth_sessions (state_hash, provider, connection,"
	    " connect_session, verifier, issuer, redirect_uri, return_url,"
	    " expires_at) VALUES ($1::bytea, $2::text, $3::text, $4::text,"
	    " $5::bytea, $6::text, $7::text, $8::text,"
	    " now() + make_interval(secs => $9::integer))" },
	[S_OSESSION_TAKE] = { "osession_take", 1,
	    "UPDATE oauth_sessions o SET used_at = now()"
	    " WHERE state_hash = $1::bytea AND used_at IS NULL"
	    " AND expires_at > now() RETURNING json_build_object("
	    "'provider', provider, 'connection', connection,"
	    " 'connect_session', connect_session, 'issuer', issuer,"
	    " 'redirect_uri', redirect_uri, 'return_url', return_url,"
	    " 'owner', (SELECT owner FROM connect_sessions c"
	    " WHERE c.id = o.connect_session))::text, verifier" },

	/* A consent that failed at the provider, recorded on the connection. */
	[S_CONN_ERROR] = { "connection_error", 4,
	    "INSERT INTO connections (id, provider, owner, status, last_error)"
	    " VALUES ($1::text, $2::text, $3::text, 'error', $4::text)"
	    " ON CONFLICT (id) DO UPDATE SET last_error = excluded.last_error,"
	    " status = CASE WHEN connections.secrets IS NULL THEN 'error'"
	    " ELSE connections.status END, updated_at = now()" },

	[S_REFRESH_LOCK] = { "refresh_lock", 1, REFRESH_LOCK },
	[S_CONN_TOKENS] = { "connection_tokens", 5,
	    "UPDATE connections SET secrets = $2::bytea,"
	    " key_version = $3::integer, expires_at = to_timestamp($4::bigint),"
	    " status = 'active', needs_reauth = false, refresh_attempts = 0,"
	    " last_error = NULL, last_refresh_at = now(), updated_at = now(),"
	    " last_forced_refresh_at = CASE WHEN $5::boolean THEN now()"
	    " ELSE last_forced_refresh_at END WHERE id = $1::text" },
	[S_CONN_REFRESH_FAILED] = { "connection_refresh_failed", 4,
	    "UPDATE connections SET refresh_attempts = refresh_attempts + 1,"
	    " last_error = $2::text, last_refresh_at = now(),"
	    " needs_reauth = needs_reauth OR $3::boolean,"
	    " status = CASE WHEN $3::boolean THEN 'needs_reauth'"
	    " ELSE status END, updated_at = now(),"
	    " last_forced_refresh_at = CASE WHEN $4::boolean THEN now()"
	    " ELSE last_forced_refresh_at END WHERE id = $1::text" },

	/*
	 * Re-sealing under the active key: rows sealed under an older
	 * version, in id order after a cursor; each replaced only if it is
	 * still what was read (a writer meanwhile used the active key).
	 * A provider's version is read from its sealed value's header.
	 */
	[S_REWRAP_CONN_BATCH] = { "rewrap_conn_batch", 3,
	    "SELECT id, secrets FROM connections WHERE secrets IS NOT NULL"
	    " AND key_version < $1::integer AND id > $2::text"
	    " ORDER BY id LIMIT $3::integer" },
	[S_REWRAP_CONN_SWAP] = { "rewrap_conn_swap", 4,
	    "UPDATE connections SET secrets = $3::bytea,"
	    " key_version = $4::integer WHERE id = $1::text"
	    " AND secrets = $2::bytea" },
	[S_REWRAP_PROV_BATCH] = { "rewrap_prov_batch", 3,
	    "SELECT id, client_secret FROM providers"
	    " WHERE client_secret IS NOT NULL AND ('x' || encode(substring("
	    "client_secret FROM 5 FOR 4), 'hex'))::bit(32)::integer"
	    " < $1::integer AND id > $2::text ORDER BY id LIMIT $3::integer" },
	[S_REWRAP_PROV_SWAP] = { "rewrap_prov_swap", 3,
	    "UPDATE providers SET client_secret = $3::bytea"
	    " WHERE id = $1::text AND client_secret = $2::bytea" },
	[S_KEY_COUNTS] = { "key_counts", 0,
	    "SELECT json_build_object('connections', coalesce((SELECT"
	    " json_object_agg(v, n ORDER BY v) FROM (SELECT key_version AS v,"
	    " count(*) AS n FROM connections WHERE key_version IS NOT NULL"
	    " GROUP BY 1) c), '{}'), 'provider_secrets', coalesce((SELECT"
	    " json_object_agg(v, n ORDER BY v) FROM (SELECT ('x' || encode("
	    "substring(client_secret FROM 5 FOR 4), 'hex'))::bit(32)::integer"
	    " AS v, count(*) AS n FROM providers WHERE client_secret IS NOT"
	    " NULL GROUP BY 1) p), '{}'))::text" },
};

struct store_tx {
	struct db_pool	*pool;
	struct db_conn	*c;
};

/* The parameters of one statement, and what they own. */
struct q {
	struct db_params p;
	char		 num[DB_PARAMS_MAX][24];
	char		*own[DB_PARAMS_MAX];
	int		 bad;		/* a parameter did not encode */
};

static void
q_init(struct q *q)
{
	memset(q, 0, sizeof(*q));
}

static void
q_free(struct q *q)
{
	int	 i;

	for (i = 0; i < DB_PARAMS_MAX; i++) {
		jsonmem_strfree(q->own[i]);
		q->own[i] = NULL;
	}
}

static int
q_add(struct q *q, const char *v, size_t len, int fmt)
{
	int	 i = q->p.n;

	if (i >= DB_PARAMS_MAX || len > INT_MAX) {
		q->bad = 1;
		return -1;
	}
	q->p.values[i] = v;
	q->p.lengths[i] = (int)len;
	q->p.formats[i] = fmt;
	q->p.n++;
	return i;
}

/* Text; NULL is SQL NULL. */
static void
q_text(struct q *q, const char *s)
{
	(void)q_add(q, s, 0, 0);
}

/* bytea, sent as binary; NULL is SQL NULL. */
static void
q_bytes(struct q *q, const uint8_t *b, size_t len)
{
	(void)q_add(q, b != NULL ? (const char *)b : NULL,
	    b != NULL ? len : 0, 1);
}

static void
q_int(struct q *q, long long v)
{
	int	 i;

	if ((i = q_add(q, NULL, 0, 0)) == -1)
		return;
	snprintf(q->num[i], sizeof(q->num[i]), "%lld", v);
	q->p.values[i] = q->num[i];
}

/* JSON text, owned by q; a NULL or unencodable value is an error. */
static void
q_json(struct q *q, const json_t *j)
{
	char	*s;
	int	 i;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		q->bad = 1;
		return;
	}
	if ((i = q_add(q, s, 0, 0)) == -1) {
		jsonmem_strfree(s);
		return;
	}
	q->own[i] = s;
}

const char *
store_strerror(int e)
{
	switch (e) {
	case STORE_OK:
		return "done";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_EXISTS:
		return "exists already";
	case STORE_CONFLICT:
		return "conflict";
	case STORE_INVALID:
		return "refused by the schema";
	case STORE_UNAVAIL:
		return "database unavailable";
	default:
		return "database error";
	}
}

static int
from_db(int rv)
{
	switch (rv) {
	case DB_OK:
		return STORE_OK;
	case DB_EUNAVAIL:
		return STORE_UNAVAIL;
	default:
		return STORE_ERR;
	}
}

/* What a refusal by the server means to the caller. */
static int
from_sqlstate(enum stmt s, const char *state)
{
	if (strcmp(state, "23505") == 0)	/* unique_violation */
		return STORE_EXISTS;
	if (strcmp(state, "23503") == 0)	/* foreign_key_violation */
		return STORE_CONFLICT;
	if (strcmp(state, "23514") == 0 ||	/* check_violation */
	    strcmp(state, "23502") == 0 ||	/* not_null_violation */
	    strncmp(state, "22", 2) == 0)	/* data exception */
		return STORE_INVALID;
	log_warnx("database: %s: SQLSTATE %s", stmts[s].name, state);
	return STORE_ERR;
}

/* Run s with q's parameters on c; frees q's values.  *res on success. */
static int
exec_conn(struct db_conn *c, enum stmt s, struct q *q, PGresult **res)
{
	char	 state[6];
	int	 rv;

	*res = NULL;
	if (q->bad) {
		log_warnx("database: %s: a parameter does not encode",
		    stmts[s].name);
		rv = STORE_ERR;
	} else if ((rv = db_exec(c, s, &q->p, res, state)) == DB_ESQL)
		rv = from_sqlstate(s, state);
	else
		rv = from_db(rv);
	q_free(q);
	return rv;
}

/* The same on a connection of the pool for this one statement. */
static int
exec_pool(struct db_pool *p, enum stmt s, struct q *q, PGresult **res)
{
	struct db_conn	*c;
	int		 rv;

	if ((c = db_acquire(p, 0)) == NULL) {
		q_free(q);
		*res = NULL;
		return STORE_UNAVAIL;
	}
	rv = exec_conn(c, s, q, res);
	db_release(p, c);
	return rv;
}

/* A command's rows: NOTFOUND when it touched none. */
static int
touched(PGresult *r)
{
	const char	*s = PQcmdTuples(r);
	int		 none = s[0] == '\0' || strcmp(s, "0") == 0;

	PQclear(r);
	return none ? STORE_NOTFOUND : STORE_OK;
}

static int
col_json(const PGresult *r, int row, int col, json_t **out)
{
	json_error_t	 err;

	*out = NULL;
	if (PQgetisnull(r, row, col) || (*out = json_loadb(PQgetvalue(r, row,
	    col), (size_t)PQgetlength(r, row, col), 0, &err)) == NULL) {
		log_warnx("database: a JSON result does not parse");
		return STORE_ERR;
	}
	return STORE_OK;
}

static int
col_bool(const PGresult *r, int row, int col)
{
	return strcmp(PQgetvalue(r, row, col), "t") == 0;
}

static int
col_int64(const PGresult *r, int row, int col, int64_t *v)
{
	const char	*s = PQgetvalue(r, row, col);
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (PQgetisnull(r, row, col) || errno != 0 || *s == '\0' ||
	    *end != '\0') {
		log_warnx("database: an integer result does not parse");
		return STORE_ERR;
	}
	*v = n;
	return STORE_OK;
}

/* A bytea column into buf; NULL gives length 0. */
static int
col_bytes(const PGresult *r, int row, int col, uint8_t *buf, size_t sz,
    size_t *len)
{
	*len = 0;
	if (PQgetisnull(r, row, col))
		return STORE_OK;
	if (db_bytea(r, row, col, buf, sz, len) == -1) {
		log_warnx("database: a bytea result is malformed or too long");
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Exactly one row, or NOTFOUND (and r is freed). */
static int
one_row(PGresult *r)
{
	if (PQntuples(r) == 1)
		return STORE_OK;
	PQclear(r);
	return STORE_NOTFOUND;
}

/*
 * A statement whose one row starts with a JSON value, put in *out (unless
 * out is NULL).  No row: none, which is NOTFOUND for a lookup and ERR for
 * a statement that always returns one (RETURNING, an aggregate).
 */
static int
row_json(struct db_pool *p, enum stmt s, struct q *q, json_t **out,
    int none)
{
	PGresult	*r;
	int		 rv;

	if (out != NULL)
		*out = NULL;
	if ((rv = exec_pool(p, s, q, &r)) != STORE_OK)
		return rv;
	if (one_row(r) != STORE_OK)
		return none;
	if (out != NULL)
		rv = col_json(r, 0, 0, out);
	PQclear(r);
	return rv;
}

/* A row of JSON (column 0) and a bytea (column 1); r is freed. */
static int
row_json_bytes(PGresult *r, json_t **out, uint8_t *buf, size_t sz,
    size_t *len)
{
	int	 rv = STORE_OK;

	if (buf != NULL && len != NULL)
		rv = col_bytes(r, 0, 1, buf, sz, len);
	if (rv == STORE_OK && out != NULL)
		rv = col_json(r, 0, 0, out);
	PQclear(r);
	if (rv != STORE_OK && len != NULL)
		*len = 0;
	return rv;
}

struct db_pool *
store_pool_new(const char *conninfo, unsigned int n)
{
	return db_pool_new(conninfo, n, stmts, S_COUNT);
}

int
store_tx_begin(struct db_pool *p, struct store_tx **txp)
{
	struct store_tx	*tx;
	int		 rv;

	*txp = NULL;
	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return STORE_ERR;
	tx->pool = p;
	if ((tx->c = db_acquire(p, 0)) == NULL) {
		free(tx);
		return STORE_UNAVAIL;
	}
	if ((rv = db_begin(tx->c)) != DB_OK) {
		db_release(p, tx->c);
		free(tx);
		return from_db(rv);
	}
	*txp = tx;
	return STORE_OK;
}

int
store_tx_commit(struct store_tx *tx)
{
	int	 rv;

	rv = from_db(db_commit(tx->c));
	db_release(tx->pool, tx->c);
	free(tx);
	return rv;
}

void
store_tx_rollback(struct store_tx *tx)
{
	if (tx == NULL)
		return;
	db_rollback(tx->c);
	db_release(tx->pool, tx->c);
	free(tx);
}

/* Keyring. */

static int
keyring_read(struct db_conn *c, uint8_t *blob, size_t sz, size_t *len,
    int64_t *gen)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*len = 0;
	*gen = 0;
	q_init(&q);
	if ((rv = exec_conn(c, S_KEYRING_GET, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	if ((rv = col_bytes(r, 0, 0, blob, sz, len)) == STORE_OK)
		rv = col_int64(r, 0, 1, gen);
	PQclear(r);
	return rv;
}

static int
keyring_write(struct db_conn *c, const uint8_t *blob, size_t len,
    int64_t expect, int64_t *gen)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*gen = 0;
	q_init(&q);
	q_bytes(&q, blob, len);
	if (expect != 0)
		q_int(&q, expect);
	rv = exec_conn(c, expect == 0 ? S_KEYRING_CREATE : S_KEYRING_PUT, &q,
	    &r);
	if (rv != STORE_OK)
		return rv;
	/* No row: someone else's keyring is there, or has moved on. */
	if (one_row(r) != STORE_OK)
		return expect == 0 ? STORE_EXISTS : STORE_CONFLICT;
	rv = col_int64(r, 0, 0, gen);
	PQclear(r);
	return rv;
}

int
store_keyring_get(struct db_pool *p, uint8_t *blob, size_t sz, size_t *len,
    int64_t *gen)
{
	struct db_conn	*c;
	int		 rv;

	*len = 0;
	*gen = 0;
	if ((c = db_acquire(p, 0)) == NULL)
		return STORE_UNAVAIL;
	rv = keyring_read(c, blob, sz, len, gen);
	db_release(p, c);
	return rv;
}

int
store_keyring_put(struct db_pool *p, const uint8_t *blob, size_t len,
    int64_t expect, int64_t *gen)
{
	struct db_conn	*c;
	int		 rv;

	*gen = 0;
	if ((c = db_acquire(p, 0)) == NULL)
		return STORE_UNAVAIL;
	rv = keyring_write(c, blob, len, expect, gen);
	db_release(p, c);
	return rv;
}

int
store_keyring_lock(struct store_tx *tx)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	if ((rv = exec_conn(tx->c, S_KEYRING_LOCK, &q, &r)) == STORE_OK)
		PQclear(r);
	return rv;
}

int
store_keyring_read(struct store_tx *tx, uint8_t *blob, size_t sz,
    size_t *len, int64_t *gen)
{
	return keyring_read(tx->c, blob, sz, len, gen);
}

int
store_keyring_create(struct store_tx *tx, const uint8_t *blob, size_t len,
    int64_t *gen)
{
	return keyring_write(tx->c, blob, len, 0, gen);
}

/* Providers. */

static int
provider_write(struct db_pool *p, enum stmt s, const char *id,
    const char *auth_mode, const json_t *config, const uint8_t *sealed,
    size_t sealedlen)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_text(&q, auth_mode);
	q_json(&q, config);
	q_bytes(&q, sealed, sealedlen);
	if ((rv = exec_pool(p, s, &q, &r)) != STORE_OK)
		return rv;
	return touched(r);
}

int
store_provider_insert(struct db_pool *p, const char *id,
    const char *auth_mode, const json_t *config, const uint8_t *sealed,
    size_t sealedlen)
{
	return provider_write(p, S_PROVIDER_INSERT, id, auth_mode, config,
	    sealed, sealedlen);
}

int
store_provider_update(struct db_pool *p, const char *id,
    const char *auth_mode, const json_t *config, const uint8_t *sealed,
    size_t sealedlen)
{
	return provider_write(p, S_PROVIDER_UPDATE, id, auth_mode, config,
	    sealed, sealedlen);
}

int
store_provider_get(struct db_pool *p, const char *id, json_t **config,
    int *has_secret)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*config = NULL;
	*has_secret = 0;
	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_pool(p, S_PROVIDER_GET, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	if ((rv = col_json(r, 0, 0, config)) == STORE_OK)
		*has_secret = col_bool(r, 0, 1);
	PQclear(r);
	return rv;
}

int
store_provider_secret(struct db_pool *p, const char *id, uint8_t *sealed,
    size_t sz, size_t *len)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*len = 0;
	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_pool(p, S_PROVIDER_SECRET, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	rv = col_bytes(r, 0, 0, sealed, sz, len);
	PQclear(r);
	return rv;
}

/* A statement without parameters whose one row is one JSON value. */
static int
json_query(struct db_pool *p, enum stmt s, json_t **out)
{
	struct q	 q;

	q_init(&q);
	/* An aggregate always has a row. */
	return row_json(p, s, &q, out, STORE_ERR);
}

int
store_provider_list(struct db_pool *p, json_t **configs)
{
	return json_query(p, S_PROVIDER_LIST, configs);
}

/* A statement of one text parameter that must touch a row. */
static int
by_key(struct db_pool *p, enum stmt s, const char *key)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, key);
	if ((rv = exec_pool(p, s, &q, &r)) != STORE_OK)
		return rv;
	return touched(r);
}

int
store_provider_delete(struct db_pool *p, const char *id)
{
	return by_key(p, S_PROVIDER_DELETE, id);
}

/* Clients. */

static json_t *
string_array(const char *const *v, size_t n)
{
	json_t	*a, *s;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((s = json_string(v[i])) == NULL ||
		    json_array_append_new(a, s) == -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int
store_client_insert(struct db_pool *p, const char *id, const char *name,
    const uint8_t hash[STORE_HASH_LEN], const char *const *scopes,
    size_t nscopes, json_t **view)
{
	struct q	 q;
	json_t		*a;

	a = string_array(scopes, nscopes);
	q_init(&q);
	q_text(&q, id);
	q_text(&q, name);
	q_bytes(&q, hash, STORE_HASH_LEN);
	q_json(&q, a);
	json_decref(a);
	return row_json(p, S_CLIENT_INSERT, &q, view, STORE_ERR);
}

int
store_client_by_id(struct db_pool *p, const char *id,
    uint8_t hash[STORE_HASH_LEN], json_t **scopes, int *revoked)
{
	struct q	 q;
	PGresult	*r;
	size_t		 len;
	int		 rv;

	memset(hash, 0, STORE_HASH_LEN);
	*scopes = NULL;
	*revoked = 0;
	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_pool(p, S_CLIENT_BY_ID, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	if ((rv = col_bytes(r, 0, 0, hash, STORE_HASH_LEN, &len)) ==
	    STORE_OK && len != STORE_HASH_LEN) {
		log_warnx("database: client %s: bad token hash", id);
		rv = STORE_ERR;
	}
	if (rv == STORE_OK && (rv = col_json(r, 0, 1, scopes)) == STORE_OK)
		*revoked = col_bool(r, 0, 2);
	PQclear(r);
	if (rv != STORE_OK)
		memset(hash, 0, STORE_HASH_LEN);
	return rv;
}

int
store_client_list(struct db_pool *p, json_t **clients)
{
	return json_query(p, S_CLIENT_LIST, clients);
}

int
store_client_revoke(struct db_pool *p, const char *name)
{
	return by_key(p, S_CLIENT_REVOKE, name);
}

/* Connections. */

int
store_connection_upsert(struct db_pool *p, const char *id,
    const char *provider, const char *owner, const json_t *metadata,
    const uint8_t *sealed, size_t sealedlen, uint32_t key_version,
    time_t expires_at, json_t **view)
{
	struct q	 q;

	q_init(&q);
	q_text(&q, id);
	q_text(&q, provider);
	q_text(&q, owner);
	if (metadata != NULL)
		q_json(&q, metadata);
	else
		q_text(&q, "{}");
	q_bytes(&q, sealed, sealedlen);
	if (sealed != NULL)
		q_int(&q, key_version);
	else
		q_text(&q, NULL);
	if (expires_at != 0)
		q_int(&q, (long long)expires_at);
	else
		q_text(&q, NULL);
	return row_json(p, S_CONN_UPSERT, &q, view, STORE_ERR);
}

int
store_connection_get(struct db_pool *p, const char *id, json_t **view,
    uint8_t *sealed, size_t sz, size_t *len)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	if (view != NULL)
		*view = NULL;
	if (len != NULL)
		*len = 0;
	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_pool(p, S_CONN_GET, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	return row_json_bytes(r, view, sealed, sz, len);
}

int
store_connection_list(struct db_pool *p, json_t **views)
{
	return json_query(p, S_CONN_LIST, views);
}

int
store_connection_delete(struct db_pool *p, const char *id)
{
	return by_key(p, S_CONN_DELETE, id);
}

int
store_access_log(struct db_pool *p, const char *client,
    const char *connection, const char *operation, const char *outcome,
    const char *request_id)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	if (operation == NULL || outcome == NULL)
		return STORE_INVALID;
	q_init(&q);
	q_text(&q, client);
	q_text(&q, connection);
	q_text(&q, operation);
	q_text(&q, outcome);
	q_text(&q, request_id);
	if ((rv = exec_pool(p, S_ACCESS_LOG, &q, &r)) == STORE_OK)
		PQclear(r);
	return rv;
}

/*
 * A one-dimensional array in PostgreSQL's binary format (array_send):
 * dimensions, flags, element type, then per dimension its size and lower
 * bound, then every element as a 32-bit length (-1: NULL) and its bytes,
 * all in network byte order.  Lengths, not quoting: nothing in a value
 * can be mistaken for structure.
 */
#define OID_INT8	20
#define OID_TEXT	25

struct pgarr {
	uint8_t		*buf;
	size_t		 len;
	size_t		 sz;
	int		 bad;
};

static void
arr_put(struct pgarr *a, const void *p, size_t n)
{
	uint8_t	*nb;
	size_t	 nsz;

	if (a->bad)
		return;
	if (n > a->sz - a->len) {
		nsz = a->sz ? a->sz : 4096;
		while (nsz - a->len < n && nsz <= (size_t)INT_MAX)
			nsz *= 2;
		if (nsz - a->len < n || nsz > (size_t)INT_MAX ||
		    (nb = realloc(a->buf, nsz)) == NULL) {
			a->bad = 1;
			return;
		}
		a->buf = nb;
		a->sz = nsz;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void
arr_u32(struct pgarr *a, uint32_t v)
{
	uint8_t	 b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		    (uint8_t)(v >> 8), (uint8_t)v };

	arr_put(a, b, sizeof(b));
}

static void
arr_begin(struct pgarr *a, uint32_t elemtype, size_t n)
{
	memset(a, 0, sizeof(*a));
	arr_u32(a, 1);			/* dimensions */
	arr_u32(a, 1);			/* flags: may hold NULLs */
	arr_u32(a, elemtype);
	arr_u32(a, (uint32_t)n);	/* size */
	arr_u32(a, 1);			/* lower bound */
}

static void
arr_text(struct pgarr *a, const char *s)
{
	size_t	 n;

	if (s == NULL) {
		arr_u32(a, UINT32_MAX);	/* -1 */
		return;
	}
	if ((n = strlen(s)) > (size_t)INT32_MAX) {
		a->bad = 1;
		return;
	}
	arr_u32(a, (uint32_t)n);
	arr_put(a, s, n);
}

static void
arr_int8(struct pgarr *a, int64_t v)
{
	uint64_t	 u = (uint64_t)v;

	arr_u32(a, 8);
	arr_u32(a, (uint32_t)(u >> 32));
	arr_u32(a, (uint32_t)u);
}

/* Text column k (0: client ... 4: request_id) of a row. */
static const char *
row_text(const struct store_access_row *r, size_t k)
{
	switch (k) {
	case 0:
		return r->client;
	case 1:
		return r->connection;
	case 2:
		return r->operation;
	case 3:
		return r->outcome;
	default:
		return r->request_id;
	}
}

#define ACCESS_TEXT_COLS	5

int
store_access_log_batch(struct db_pool *p, const struct store_access_row *rows,
    size_t n)
{
	struct pgarr	 a[1 + ACCESS_TEXT_COLS];
	struct q	 q;
	PGresult	*r;
	size_t		 i, k;
	int		 bad = 0, rv;

	if (n == 0)
		return STORE_OK;
	if (n > STORE_ACCESS_BATCH_MAX)
		return STORE_INVALID;
	for (i = 0; i < n; i++)
		if (rows[i].operation == NULL || rows[i].outcome == NULL)
			return STORE_INVALID;
	arr_begin(&a[0], OID_INT8, n);
	for (i = 0; i < n; i++)
		arr_int8(&a[0], rows[i].at_us);
	for (k = 0; k < ACCESS_TEXT_COLS; k++) {
		arr_begin(&a[k + 1], OID_TEXT, n);
		for (i = 0; i < n; i++)
			arr_text(&a[k + 1], row_text(&rows[i], k));
	}
	q_init(&q);
	for (k = 0; k < sizeof(a) / sizeof(a[0]); k++) {
		bad |= a[k].bad;
		q_bytes(&q, a[k].buf, a[k].len);
	}
	if (bad) {
		log_warnx("database: %s: out of memory", __func__);
		q_free(&q);
		rv = STORE_ERR;
	} else if ((rv = exec_pool(p, S_ACCESS_LOG_BATCH, &q, &r)) ==
	    STORE_OK)
		PQclear(r);
	for (k = 0; k < sizeof(a) / sizeof(a[0]); k++)
		free(a[k].buf);
	return rv;
}

int
store_access_log_of(struct db_pool *p, const char *connection, int limit,
    json_t **rows)
{
	struct q	 q;

	*rows = NULL;
	if (connection == NULL || limit <= 0)
		return STORE_INVALID;
	q_init(&q);
	q_text(&q, connection);
	q_int(&q, limit);
	return row_json(p, S_ACCESS_LOG_OF, &q, rows, STORE_ERR);
}

int
store_access_log_prune(struct db_pool *p, unsigned int days, long limit,
    long *deleted)
{
	struct q	 q;
	PGresult	*r;
	const char	*s;
	int		 rv;

	*deleted = 0;
	if (days == 0 || limit <= 0)
		return STORE_INVALID;
	q_init(&q);
	q_int(&q, days);
	q_int(&q, limit);
	if ((rv = exec_pool(p, S_ACCESS_LOG_PRUNE, &q, &r)) != STORE_OK)
		return rv;
	s = PQcmdTuples(r);
	*deleted = s[0] != '\0' ? strtol(s, NULL, 10) : 0;
	PQclear(r);
	return STORE_OK;
}

/* Connect sessions. */

int
store_csession_insert(struct db_pool *p, const char *id,
    const uint8_t hash[STORE_HASH_LEN], const char *client, const char *owner,
    const json_t *providers, const char *connection, const char *return_url,
    int ttl, char *expires_at, size_t expsz)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_bytes(&q, hash, STORE_HASH_LEN);
	q_text(&q, client);
	q_text(&q, owner);
	if (providers != NULL)
		q_json(&q, providers);
	else
		q_text(&q, NULL);
	q_text(&q, connection);
	q_text(&q, return_url);
	q_int(&q, ttl);
	if ((rv = exec_pool(p, S_CSESSION_INSERT, &q, &r)) != STORE_OK)
		return rv;
	if ((rv = one_row(r)) != STORE_OK)
		return STORE_ERR;
	snprintf(expires_at, expsz, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return STORE_OK;
}

int
store_csession_get(struct db_pool *p, const uint8_t hash[STORE_HASH_LEN],
    json_t **session)
{
	struct q	 q;

	q_init(&q);
	q_bytes(&q, hash, STORE_HASH_LEN);
	return row_json(p, S_CSESSION_GET, &q, session, STORE_NOTFOUND);
}

/* OAuth sessions. */

int
store_osession_insert(struct db_pool *p, const uint8_t hash[STORE_HASH_LEN],
    const char *provider, const char *connection, const char *csession,
    const uint8_t *verifier, size_t verifierlen, const char *issuer,
    const char *redirect_uri, const char *return_url, int ttl)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_bytes(&q, hash, STORE_HASH_LEN);
	q_text(&q, provider);
	q_text(&q, connection);
	q_text(&q, csession);
	q_bytes(&q, verifier, verifierlen);
	q_text(&q, issuer);
	q_text(&q, redirect_uri);
	q_text(&q, return_url);
	q_int(&q, ttl);
	if ((rv = exec_pool(p, S_OSESSION_INSERT, &q, &r)) == STORE_OK)
		PQclear(r);
	return rv;
}

int
store_osession_take(struct db_pool *p, const uint8_t hash[STORE_HASH_LEN],
    json_t **session, uint8_t *verifier, size_t sz, size_t *len)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*session = NULL;
	*len = 0;
	q_init(&q);
	q_bytes(&q, hash, STORE_HASH_LEN);
	if ((rv = exec_pool(p, S_OSESSION_TAKE, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	return row_json_bytes(r, session, verifier, sz, len);
}

int
store_connection_error(struct db_pool *p, const char *id,
    const char *provider, const char *owner, const char *error)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_text(&q, provider);
	q_text(&q, owner);
	q_text(&q, error);
	if ((rv = exec_pool(p, S_CONN_ERROR, &q, &r)) == STORE_OK)
		PQclear(r);
	return rv;
}

/* Refresh: everything below runs in one transaction holding the lock. */

int
store_refresh_lock(struct store_tx *tx, const char *id)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_conn(tx->c, S_REFRESH_LOCK, &q, &r)) == STORE_OK)
		PQclear(r);
	return rv;
}

int
store_tx_connection_get(struct store_tx *tx, const char *id, json_t **view,
    uint8_t *sealed, size_t sz, size_t *len)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	*view = NULL;
	*len = 0;
	q_init(&q);
	q_text(&q, id);
	if ((rv = exec_conn(tx->c, S_CONN_GET, &q, &r)) != STORE_OK ||
	    (rv = one_row(r)) != STORE_OK)
		return rv;
	return row_json_bytes(r, view, sealed, sz, len);
}

int
store_tx_connection_tokens(struct store_tx *tx, const char *id,
    const uint8_t *sealed, size_t len, uint32_t key_version,
    time_t expires_at, int forced)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_bytes(&q, sealed, len);
	q_int(&q, key_version);
	if (expires_at != 0)
		q_int(&q, (long long)expires_at);
	else
		q_text(&q, NULL);
	q_text(&q, forced ? "true" : "false");
	if ((rv = exec_conn(tx->c, S_CONN_TOKENS, &q, &r)) != STORE_OK)
		return rv;
	return touched(r);
}

int
store_tx_connection_refresh_failed(struct store_tx *tx, const char *id,
    const char *error, int needs_reauth, int forced)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_text(&q, error);
	q_text(&q, needs_reauth ? "true" : "false");
	q_text(&q, forced ? "true" : "false");
	if ((rv = exec_conn(tx->c, S_CONN_REFRESH_FAILED, &q, &r)) != STORE_OK)
		return rv;
	return touched(r);
}

/* Re-sealing. */

static const enum stmt rewrap_batch[] = {
	[STORE_SEALED_CONNECTION] = S_REWRAP_CONN_BATCH,
	[STORE_SEALED_CLIENT_SECRET] = S_REWRAP_PROV_BATCH,
};
static const enum stmt rewrap_swap[] = {
	[STORE_SEALED_CONNECTION] = S_REWRAP_CONN_SWAP,
	[STORE_SEALED_CLIENT_SECRET] = S_REWRAP_PROV_SWAP,
};

int
store_sealed_batch(struct db_pool *p, enum store_sealed_kind k,
    uint32_t below, const char *after, struct store_sealed *rows,
    size_t max, size_t *n)
{
	struct q	 q;
	PGresult	*r;
	const char	*id;
	int		 i, rv = STORE_OK;

	*n = 0;
	q_init(&q);
	q_int(&q, below);
	q_text(&q, after);
	q_int(&q, (long long)max);
	if ((rv = exec_pool(p, rewrap_batch[k], &q, &r)) != STORE_OK)
		return rv;
	for (i = 0; i < PQntuples(r) && (size_t)i < max; i++) {
		id = PQgetvalue(r, i, 0);
		if (strlen(id) >= sizeof(rows[i].id) || (rv = col_bytes(r, i,
		    1, rows[i].sealed, sizeof(rows[i].sealed),
		    &rows[i].len)) != STORE_OK) {
			rv = STORE_ERR;
			break;
		}
		memcpy(rows[i].id, id, strlen(id) + 1);
		(*n)++;
	}
	PQclear(r);
	return rv;
}

int
store_sealed_swap(struct db_pool *p, enum store_sealed_kind k,
    const char *id, const uint8_t *old, size_t oldlen, const uint8_t *sealed,
    size_t len, uint32_t version)
{
	struct q	 q;
	PGresult	*r;
	int		 rv;

	q_init(&q);
	q_text(&q, id);
	q_bytes(&q, old, oldlen);
	q_bytes(&q, sealed, len);
	if (k == STORE_SEALED_CONNECTION)	/* providers keep no column */
		q_int(&q, version);
	if ((rv = exec_pool(p, rewrap_swap[k], &q, &r)) != STORE_OK)
		return rv;
	return touched(r);
}

int
store_key_counts(struct db_pool *p, json_t **counts)
{
	return json_query(p, S_KEY_COUNTS, counts);
}
