/*
 * auth.c: API client tokens and scopes.  The gateway stays stateless; the
 * broker decides who a caller is and what it may do.
 */
#include <sys/types.h>

#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "common/log.h"
#include "unpriv/auth.h"
#include "unpriv/broker.h"
#include "unpriv/cache.h"
#include "unpriv/metrics.h"
#include "unpriv/http.h"
#include "unpriv/store.h"

#define CLIENT_SLOTS	1024

/*
 * The client cache: keyed by the SHA-256 of a whole token (never the
 * token), so a hit means the presented token hashes to what the database
 * stored for a client, exactly what the constant-time comparison below
 * establishes on a miss.  Only tokens that matched are cached, revoked
 * ones included; an unknown token always asks the database.
 */
struct client_val {
	struct client	 c;
	int		 revoked;
};

static const struct cache_ops client_ops = {
	.valsz = sizeof(struct client_val),
};

/*
 * SHA-256 of a token, 0 or -1.  SHA256() looks the digest up among
 * OpenSSL's providers on every call; a request needs one, so it is looked
 * up once.
 */
static EVP_MD		*sha256;
static pthread_once_t	 sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
token_hash(const char *token, uint8_t hash[AUTH_HASH_LEN])
{
	unsigned int	 n = 0;

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256 == NULL || EVP_Digest(token, AUTH_TOKEN_LEN, hash, &n,
	    sha256, NULL) != 1 || n != AUTH_HASH_LEN) {
		log_warnx("%s: SHA-256 failed", __func__);
		return -1;
	}
	return 0;
}

static const struct {
	const char	*name;
	enum auth_op	 op;
} ops[] = {
	{ "token:read",		OP_TOKEN_READ },
	{ "token:refresh",	OP_TOKEN_REFRESH },
	{ "connections:write",	OP_CONNECTIONS_WRITE },
	{ "connect:session",	OP_CONNECT_SESSION },
	{ "admin",		OP_ADMIN },
};

int
auth_scope_parse(const char *s, struct scope *sc)
{
	const char	*pat;
	size_t		 i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = strlen(ops[i].name);
		if (strncmp(s, ops[i].name, n) != 0)
			continue;
		if (s[n] == '\0')
			pat = "*";
		else if (s[n] == ':' && ops[i].op != OP_ADMIN)
			pat = s + n + 1;
		else
			continue;
		/* The glob is over connection ids, so only their characters. */
		for (n = 0; pat[n] != '\0'; n++)
			if (!isalnum((unsigned char)pat[n]) &&
			    strchr("._-*?[]!", pat[n]) == NULL)
				return -1;
		if (n == 0 || n > AUTH_PATTERN_MAX)
			return -1;
		sc->op = ops[i].op;
		memcpy(sc->pattern, pat, n + 1);
		return 0;
	}
	return -1;
}

int
auth_token_new(char id[AUTH_ID_LEN + 1], char *token, size_t tokensz,
    uint8_t hash[AUTH_HASH_LEN])
{
	uint8_t	 rid[AUTH_ID_LEN / 2], secret[32];
	char	 b64[AUTH_SECRET_LEN + 1];
	size_t	 i;
	int	 rv;

	if (tokensz < AUTH_TOKEN_LEN + 1 ||
	    RAND_bytes(rid, sizeof(rid)) != 1 ||
	    RAND_bytes(secret, sizeof(secret)) != 1)
		return -1;
	for (i = 0; i < sizeof(rid); i++)
		snprintf(id + 2 * i, 3, "%02x", rid[i]);
	sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(token, tokensz, "dro_%s_%s", id, b64);
	if ((rv = token_hash(token, hash)) == -1)
		explicit_bzero(token, tokensz);
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(b64, sizeof(b64));
	return rv;
}

int
auth_token_id(const char *t, char id[AUTH_ID_LEN + 1])
{
	size_t	 i;

	if (strlen(t) != AUTH_TOKEN_LEN || strncmp(t, "dro_", 4) != 0 ||
	    t[4 + AUTH_ID_LEN] != '_')
		return -1;
	for (i = 0; i < AUTH_ID_LEN; i++)
		if (!isxdigit((unsigned char)t[4 + i]) ||
		    isupper((unsigned char)t[4 + i]))
			return -1;
	for (i = 4 + AUTH_ID_LEN + 1; i < AUTH_TOKEN_LEN; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' &&
		    t[i] != '_')
			return -1;
	memcpy(id, t + 4, AUTH_ID_LEN);
	id[AUTH_ID_LEN] = '\0';
	return 0;
}

int
auth_allows(const struct client *c, enum auth_op op, const char *conn)
{
	size_t	 i;

	for (i = 0; i < c->nscopes; i++) {
		if (c->scopes[i].op == OP_ADMIN)
			return 1;
		if (c->scopes[i].op != op)
			continue;
		if (conn == NULL || fnmatch(c->scopes[i].pattern, conn, 0) == 0)
			return 1;
	}
	return 0;
}

static enum MHD_Result
unauthenticated(struct http_req *r)
{
	return http_problem(r, MHD_HTTP_UNAUTHORIZED, "unauthenticated",
	    "Unauthenticated", "a valid client token is required");
}

static int
load_scopes(struct client *c, json_t *arr)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(arr, i, v) {
		if (c->nscopes == AUTH_SCOPES_MAX || !json_is_string(v) ||
		    auth_scope_parse(json_string_value(v),
		    &c->scopes[c->nscopes]) == -1)
			return -1;
		c->nscopes++;
	}
	return 0;
}

struct cache *
auth_cache_new(void)
{
	struct cache	*c;

	c = cache_new(&client_ops, CLIENT_SLOTS, CACHE_TTL_MS);
	cache_count_as(c, MX_CACHE_CLIENTS);
	return c;
}

/* The cached client of a token hash, if any: 1 with *cv, or 0. */
static int
client_cached(struct http_req *r, const uint8_t got[AUTH_HASH_LEN],
    const char *id, struct client_val *cv)
{
	if (!cache_get(r->b->clients, got, AUTH_HASH_LEN, cv))
		return 0;
	/* The id is part of what was hashed; belt and braces. */
	return strcmp(cv->c.id, id) == 0;
}

/* Install a copy of the client on the request.  0, or -1 once answered. */
static int
client_set(struct http_req *r, const struct client *from,
    enum MHD_Result *answered)
{
	struct client	*c;

	if ((c = malloc(sizeof(*c))) == NULL) {
		*answered = http_internal(r);
		return -1;
	}
	memcpy(c, from, sizeof(*c));
	r->client = c;
	return 0;
}

int
auth_client(struct http_req *r, enum MHD_Result *answered)
{
	const char		*h = http_header(r,
				    MHD_HTTP_HEADER_AUTHORIZATION);
	struct client_val	 cv;
	json_t			*scopes = NULL;
	uint8_t			 want[AUTH_HASH_LEN], got[AUTH_HASH_LEN];
	char			 id[AUTH_ID_LEN + 1];
	uint64_t		 gen;
	int			 revoked = 0, rv;

	if (r->client != NULL)
		return 0;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 ||
	    auth_token_id(h + 7, id) == -1) {
		*answered = unauthenticated(r);
		return -1;
	}
	if (token_hash(h + 7, got) == -1) {
		*answered = http_internal(r);
		return -1;
	}
	if (client_cached(r, got, id, &cv)) {
		if (cv.revoked) {
			*answered = unauthenticated(r);
			return -1;
		}
		return client_set(r, &cv.c, answered);
	}
	gen = cache_gen(r->b->clients);
	rv = store_client_by_id(r->b->db, id, want, &scopes, &revoked);
	if (rv == STORE_UNAVAIL) {
		*answered = http_unavailable(r, "the database is unavailable");
		return -1;
	}
	/* Compare even for an unknown id, so both cost the same. */
	if (rv != 0)
		memset(want, 0xff, sizeof(want));
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0 || rv != 0) {
		json_decref(scopes);
		*answered = unauthenticated(r);
		return -1;
	}
	memset(&cv, 0, sizeof(cv));
	cv.revoked = revoked;
	if (load_scopes(&cv.c, scopes) == -1) {
		json_decref(scopes);
		log_warnx("client %s: unusable scopes", id);
		*answered = http_internal(r);
		return -1;
	}
	json_decref(scopes);
	memcpy(cv.c.id, id, sizeof(cv.c.id));
	cache_put(r->b->clients, got, AUTH_HASH_LEN, &cv, gen);
	if (revoked) {
		*answered = unauthenticated(r);
		return -1;
	}
	return client_set(r, &cv.c, answered);
}

int
auth_require(struct http_req *r, enum auth_op op, const char *conn,
    enum MHD_Result *answered)
{
	if (auth_client(r, answered) == -1)
		return -1;
	if (auth_allows(r->client, op, conn))
		return 0;
	*answered = http_problem(r, MHD_HTTP_FORBIDDEN, "forbidden",
	    "Forbidden", "the client's scopes do not cover this request");
	return -1;
}
