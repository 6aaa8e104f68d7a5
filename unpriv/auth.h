/*
 * API clients: bearer tokens and scopes.
 *
 * A token is "dro_" ID "_" SECRET: ID is 12 hex digits, the public lookup
 * key; SECRET is 32 random bytes in unpadded base64url (43 characters).
 * Only SHA-256 of the whole token is stored; a presented token is hashed
 * and compared with the stored hash in constant time.
 *
 * A scope is OPERATION[:PATTERN]; PATTERN is an fnmatch(3) glob over
 * connection ids, "*" when omitted; "admin" covers everything.
 */
#ifndef DROMOS_UNPRIV_AUTH_H
#define DROMOS_UNPRIV_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#define AUTH_ID_LEN		12
#define AUTH_SECRET_LEN		43
#define AUTH_TOKEN_LEN		(4 + AUTH_ID_LEN + 1 + AUTH_SECRET_LEN)
#define AUTH_HASH_LEN		32
#define AUTH_SCOPES_MAX		32
#define AUTH_PATTERN_MAX	128
#define AUTH_NAME_MAX		64

enum auth_op {
	OP_TOKEN_READ,
	OP_TOKEN_REFRESH,
	OP_CONNECTIONS_WRITE,
	OP_CONNECT_SESSION,
	OP_ADMIN,
};

struct scope {
	enum auth_op	 op;
	char		 pattern[AUTH_PATTERN_MAX + 1];
};

struct client {
	char		 id[AUTH_ID_LEN + 1];
	struct scope	 scopes[AUTH_SCOPES_MAX];
	size_t		 nscopes;
};

struct cache;
struct http_req;

/* The client cache for struct broker (NULL on ENOMEM). */
struct cache	*auth_cache_new(void);

/* Parse one scope string; -1 if it is not one. */
int	 auth_scope_parse(const char *, struct scope *);

/*
 * A new token for a client: id and token (AUTH_TOKEN_LEN + 1 bytes) and
 * the hash to store.  The caller wipes the token once shown.
 */
int	 auth_token_new(char id[AUTH_ID_LEN + 1], char *token, size_t tokensz,
	    uint8_t hash[AUTH_HASH_LEN]);

/* Split a presented token into its id, checking its shape.  0 or -1. */
int	 auth_token_id(const char *token, char id[AUTH_ID_LEN + 1]);

/* Does the client's scope allow op on connection (NULL: on any)? */
int	 auth_allows(const struct client *, enum auth_op, const char *conn);

/*
 * Authenticate the request's bearer token.  0 with r->client set, or -1
 * after answering 401 (or 503 when the database is down).  What the
 * database says of a token is cached for CACHE_TTL_MS (cache.h) in
 * r->b->clients: a revocation made through this broker clears it at
 * once, one made through another broker takes effect here within that
 * time.
 */
int	 auth_client(struct http_req *, enum MHD_Result *answered);

/*
 * auth_client, then the scope check for op on conn: 0, or -1 after
 * answering 401/403.
 */
int	 auth_require(struct http_req *, enum auth_op, const char *conn,
	    enum MHD_Result *answered);

#endif /* DROMOS_UNPRIV_AUTH_H */
