/*
 * Every query the broker runs, as C functions over prepared statements
 * (db.h).  The tables are those of unpriv/sql/ (DESIGN §6).
 *
 * Each function returns 0 or a negative enum store_err, and leaves its
 * outputs zeroed/NULL on failure.  JSON results are new references the
 * caller json_decref()s.  Sealed values are opaque bytes here: vault.h
 * makes and opens them; nothing in this file sees a plaintext secret.
 *
 * Times in JSON views are RFC 3339 UTC strings ("2025-01-31T12:00:00Z"),
 * or null.  jsonb keeps objects in its own key order, not the order they
 * were stored in.
 */
#ifndef DROMOS_UNPRIV_STORE_H
#define DROMOS_UNPRIV_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#define STORE_HASH_LEN		32	/* SHA-256 of a client token */

enum store_err {
	STORE_OK = 0,
	STORE_NOTFOUND = -1,	/* no such row */
	STORE_EXISTS = -2,	/* a unique key is taken */
	STORE_CONFLICT = -3,	/* in use (a reference), or changed meanwhile */
	STORE_INVALID = -4,	/* a value the schema's checks refuse */
	STORE_UNAVAIL = -5,	/* the database cannot be reached now: 503 */
	STORE_ERR = -6,		/* anything else (logged): 500 */
};

struct db_pool;
struct store_tx;

/* A short description of a result, for logs. */
const char	*store_strerror(int);

/*
 * The broker's pool: db_pool_new() with every statement below, on n
 * connections (0: DB_POOL_DEFAULT).  NULL on failure (logged).
 * Apply migrations (migrate_apply) before the first query.
 */
struct db_pool	*store_pool_new(const char *conninfo, unsigned int n);

/*
 * A transaction on one connection of the pool, for the few operations
 * that need several statements to see one state.  commit and rollback
 * end it, free it and give the connection back.
 */
int		 store_tx_begin(struct db_pool *, struct store_tx **);
int		 store_tx_commit(struct store_tx *);
void		 store_tx_rollback(struct store_tx *);

/*
 * The keyring blob (sealed under the root key; only the keyholder opens
 * it).  Each write increments its generation, so that a broker only
 * replaces the keyring it last read or wrote:
 *	get	blob (room for sz >= KH_BLOB_MAX) and generation
 *	put	expect 0: store the first keyring (STORE_EXISTS if there is
 *		one); otherwise replace it if its generation is still expect
 *		(STORE_CONFLICT if another broker wrote meanwhile).
 *		*generation gets the new generation.
 * In a transaction, at start: lock (an advisory lock until the end of
 * the transaction, so brokers starting together take turns), read and
 * create are get and put(expect 0).
 */
int	 store_keyring_get(struct db_pool *, uint8_t *blob, size_t sz,
	    size_t *len, int64_t *generation);
int	 store_keyring_put(struct db_pool *, const uint8_t *blob, size_t len,
	    int64_t expect, int64_t *generation);
int	 store_keyring_lock(struct store_tx *);
int	 store_keyring_read(struct store_tx *, uint8_t *blob, size_t sz,
	    size_t *len, int64_t *generation);
int	 store_keyring_create(struct store_tx *, const uint8_t *blob,
	    size_t len, int64_t *generation);

/*
 * Providers.  config is the provider document without client_secret (its
 * "id" must equal id); the client secret is stored sealed, apart.
 *	insert	STORE_EXISTS if the id is taken; sealed may be NULL
 *	update	sealed NULL keeps the stored secret; STORE_NOTFOUND
 *	get	*config, and whether a secret is stored
 *	secret	the sealed secret into sealed (sz >= KH_SEALED_MAX); *len 0
 *		when the provider has none
 *	list	[config + {"has_client_secret": bool}, ...] by id
 *	delete	STORE_CONFLICT while connections use it
 */
int	 store_provider_insert(struct db_pool *, const char *id,
	    const char *auth_mode, const json_t *config,
	    const uint8_t *sealed, size_t sealedlen);
int	 store_provider_update(struct db_pool *, const char *id,
	    const char *auth_mode, const json_t *config,
	    const uint8_t *sealed, size_t sealedlen);
int	 store_provider_get(struct db_pool *, const char *id, json_t **config,
	    int *has_secret);
int	 store_provider_secret(struct db_pool *, const char *id,
	    uint8_t *sealed, size_t sz, size_t *len);
int	 store_provider_list(struct db_pool *, json_t **configs);
int	 store_provider_delete(struct db_pool *, const char *id);

/*
 * API clients.
 *	insert	STORE_EXISTS if the id or the name is taken; *view (may be
 *		NULL) gets {"id","name","scopes","created_at"}
 *	by_id	the token hash, scopes (a JSON array of strings), revoked
 *	list	[{"id","name","scopes","created_at","revoked_at"}, ...] by name
 *	revoke	by name; revoking twice is not an error; STORE_NOTFOUND
 */
int	 store_client_insert(struct db_pool *, const char *id,
	    const char *name, const uint8_t hash[STORE_HASH_LEN],
	    const char *const *scopes, size_t nscopes, json_t **view);
int	 store_client_by_id(struct db_pool *, const char *id,
	    uint8_t hash[STORE_HASH_LEN], json_t **scopes, int *revoked);
int	 store_client_list(struct db_pool *, json_t **clients);
int	 store_client_revoke(struct db_pool *, const char *name);

/*
 * Connections.  The view is {"connection","provider","owner","status",
 * "created_at","updated_at","expires_at","metadata"}: never a secret.
 *	upsert	create, or replace an existing one in the same statement:
 *		status active, refresh bookkeeping reset, created_at kept.
 *		sealed (NULL: none) is the credential sealed under
 *		key_version; expires_at 0 is none.  STORE_CONFLICT if the
 *		provider does not exist (anymore).  *view may be NULL.
 *	get	view and/or (either may be NULL) the sealed credential into
 *		sealed (sz >= KH_SEALED_MAX; *len 0 when there is none)
 *	list	[view, ...] by id
 *	delete	STORE_NOTFOUND
 */
int	 store_connection_upsert(struct db_pool *, const char *id,
	    const char *provider, const char *owner, const json_t *metadata,
	    const uint8_t *sealed, size_t sealedlen, uint32_t key_version,
	    time_t expires_at, json_t **view);
int	 store_connection_get(struct db_pool *, const char *id, json_t **view,
	    uint8_t *sealed, size_t sz, size_t *len);
int	 store_connection_list(struct db_pool *, json_t **views);
int	 store_connection_delete(struct db_pool *, const char *id);

/* One line of the access log; any but operation and outcome may be NULL. */
int	 store_access_log(struct db_pool *, const char *client,
	    const char *connection, const char *operation,
	    const char *outcome, const char *request_id);

/*
 * Up to STORE_ACCESS_BATCH_MAX lines in one statement, each with the time
 * it happened (at_us: microseconds since the epoch); all or none.
 */
#define STORE_ACCESS_BATCH_MAX	4096
struct store_access_row {
	int64_t		 at_us;
	const char	*client;
	const char	*connection;
	const char	*operation;
	const char	*outcome;
	const char	*request_id;
};
int	 store_access_log_batch(struct db_pool *,
	    const struct store_access_row *, size_t n);
/*
 * The newest limit rows of one connection (existing or not), newest
 * first: a JSON array of {at, client, operation, outcome, request_id}.
 */
int	 store_access_log_of(struct db_pool *, const char *connection,
	    int limit, json_t **rows);
/* Delete up to limit rows older than days days; *deleted says how many. */
int	 store_access_log_prune(struct db_pool *, unsigned int days,
	    long limit, long *deleted);

/*
 * Connect sessions (step 4): a client's short-lived grant for an end
 * user's browser.  Only the token's hash is stored.  providers is a JSON
 * array of provider ids or NULL (any); expires_at gets the RFC 3339 time.
 * _get finds an unexpired session by its token hash: {"id", "client",
 * "owner", "providers", "connection", "return_url", "expires_at"}.
 */
int	 store_csession_insert(struct db_pool *, const char *id,
	    const uint8_t hash[STORE_HASH_LEN], const char *client,
	    const char *owner, const json_t *providers, const char *connection,
	    const char *return_url, int ttl, char *expires_at, size_t expsz);
int	 store_csession_get(struct db_pool *, const uint8_t hash[STORE_HASH_LEN],
	    json_t **session);

/*
 * OAuth authorisations in flight.  _take marks the state used and returns
 * it only if it was unused and unexpired: a state works once.  *session:
 * {"provider", "connection", "connect_session", "issuer", "redirect_uri",
 * "return_url", "owner"}; verifier gets the sealed PKCE verifier.
 */
int	 store_osession_insert(struct db_pool *,
	    const uint8_t hash[STORE_HASH_LEN], const char *provider,
	    const char *connection, const char *csession,
	    const uint8_t *verifier, size_t verifierlen, const char *issuer,
	    const char *redirect_uri, const char *return_url, int ttl);
int	 store_osession_take(struct db_pool *,
	    const uint8_t hash[STORE_HASH_LEN], json_t **session,
	    uint8_t *verifier, size_t sz, size_t *len);

/* A consent the provider refused: recorded on the connection. */
int	 store_connection_error(struct db_pool *, const char *id,
	    const char *provider, const char *owner, const char *error);

/*
 * Refresh, single flight across brokers: in a transaction, take the
 * connection's advisory lock, re-read it, and write the outcome.
 */
int	 store_refresh_lock(struct store_tx *, const char *id);
int	 store_tx_connection_get(struct store_tx *, const char *id,
	    json_t **view, uint8_t *sealed, size_t sz, size_t *len);
int	 store_tx_connection_tokens(struct store_tx *, const char *id,
	    const uint8_t *sealed, size_t len, uint32_t key_version,
	    time_t expires_at, int forced);
int	 store_tx_connection_refresh_failed(struct store_tx *, const char *id,
	    const char *error, int needs_reauth, int forced);

/*
 * Re-sealing under the active key version (dromosctl key rewrap): up to
 * max rows of a kind whose value is sealed under a version below `below',
 * with ids after `after' ("" to start), in id order; and the swap of one
 * row's value, made only if it still holds `old' (else STORE_NOTFOUND: a
 * writer changed it meanwhile, with the active key).  store_key_counts:
 * {"connections": {"1": n, ...}, "provider_secrets": {...}}.
 */
#define STORE_ID_MAX		128
#define STORE_SEALED_MAX	(8192 + 36)	/* KH_SEALED_MAX */

enum store_sealed_kind {
	STORE_SEALED_CONNECTION,	/* connections.secrets */
	STORE_SEALED_CLIENT_SECRET,	/* providers.client_secret */
};

struct store_sealed {
	char	 id[STORE_ID_MAX + 1];
	uint8_t	 sealed[STORE_SEALED_MAX];
	size_t	 len;
};

int	 store_sealed_batch(struct db_pool *, enum store_sealed_kind,
	    uint32_t below, const char *after, struct store_sealed *rows,
	    size_t max, size_t *n);
int	 store_sealed_swap(struct db_pool *, enum store_sealed_kind,
	    const char *id, const uint8_t *old, size_t oldlen,
	    const uint8_t *sealed, size_t len, uint32_t version);
int	 store_key_counts(struct db_pool *, json_t **counts);

#endif /* DROMOS_UNPRIV_STORE_H */
