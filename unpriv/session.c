/*
 * session.c: connect sessions.  A client with connect:session makes one
 * for an end user; the user's browser then holds its token (drs_...) for a
 * short while and may do exactly what the session allows: list and
 * capture its providers, for its owner, and start their consent.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "common/log.h"
#include "unpriv/api.h"
#include "unpriv/auth.h"
#include "unpriv/broker.h"
#include "unpriv/http.h"
#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/session.h"
#include "unpriv/store.h"

#define SESSION_TTL		(30 * 60)	/* seconds */
#define SESSION_PROVIDERS_MAX	32
#define URL_MAX			1024

int
session_token_new(char *token, size_t sz, char id[SESSION_ID_LEN + 1],
    uint8_t hash[SESSION_HASH_LEN])
{
	uint8_t	 rnd[32], rid[SESSION_ID_LEN / 2];
	char	 b64[44];
	size_t	 i;

	if (sz < SESSION_TOKEN_LEN + 1 || RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    RAND_bytes(rid, sizeof(rid)) != 1)
		return -1;
	for (i = 0; i < sizeof(rid); i++)
		snprintf(id + 2 * i, 3, "%02x", rid[i]);
	sodium_bin2base64(b64, sizeof(b64), rnd, sizeof(rnd),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(token, sz, "drs_%s", b64);
	SHA256((const unsigned char *)token, SESSION_TOKEN_LEN, hash);
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(b64, sizeof(b64));
	return 0;
}

/* The shape of a session token, before any lookup. */
static int
session_token_ok(const char *t)
{
	size_t	 i;

	if (strlen(t) != SESSION_TOKEN_LEN || strncmp(t, "drs_", 4) != 0)
		return 0;
	for (i = 4; i < SESSION_TOKEN_LEN; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' &&
		    t[i] != '_')
			return 0;
	return 1;
}

int
session_lookup(struct http_req *r, const char *token, json_t **session,
    enum MHD_Result *answered)
{
	uint8_t	 hash[SESSION_HASH_LEN];
	int	 rv;

	*session = NULL;
	if (token == NULL || !session_token_ok(token)) {
		*answered = http_problem(r, MHD_HTTP_UNAUTHORIZED,
		    "invalid-session", "Invalid session",
		    "the connect session is unknown or has expired");
		return -1;
	}
	SHA256((const unsigned char *)token, SESSION_TOKEN_LEN, hash);
	if ((rv = store_csession_get(r->b->db, hash, session)) != 0) {
		*answered = rv == STORE_NOTFOUND ? http_problem(r,
		    MHD_HTTP_UNAUTHORIZED, "invalid-session",
		    "Invalid session", "the connect session is unknown or has "
		    "expired") : api_store_error(r, rv, "");
		return -1;
	}
	return 0;
}

const char *
session_bearer(struct http_req *r)
{
	const char	*h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer drs_", 11) != 0)
		return NULL;
	return h + 7;
}

int
session_allows_provider(const json_t *session, const char *provider)
{
	const json_t	*list = json_object_get(session, "providers");
	json_t		*v;
	size_t		 i;

	if (list == NULL || json_is_null(list))
		return 1;
	json_array_foreach(list, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), provider) == 0)
			return 1;
	return 0;
}

/* url equals e, or e ends in "/" and url starts with it. */
static int
url_matches(const char *url, const char *e, size_t n)
{
	if (n == 0)
		return 0;
	if (strlen(url) == n && strncmp(url, e, n) == 0)
		return 1;
	return e[n - 1] == '/' && strncmp(url, e, n) == 0;
}

/* On the deployment's list (dromos.conf "allow return url")? */
static int
deployment_allows(const char *returns, const char *url)
{
	const char	*p = returns, *nl;
	size_t		 n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (url_matches(url, p, n))
			return 1;
		p += n + (nl != NULL);
	}
	return 0;
}

/*
 * A return URL is allowed when the deployment (dromos.conf), the gateway
 * itself, or a provider's return_urls lists it exactly, or lists a prefix
 * ending in "/" that it starts with: an origin is always pinned, so
 * "https://app.example.evil" never matches "https://app.example/".
 */
int
session_return_url_ok(const json_t *provider, const char *public_url,
    const char *returns, const char *url)
{
	const json_t	*list;
	json_t		*v;
	const char	*e;
	size_t		 i, n;
	char		 own[KH_URL_MAX + 2];

	if (strlen(url) > URL_MAX)
		return 0;
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
			return 0;
	snprintf(own, sizeof(own), "%s/", public_url);
	if (strncmp(url, own, strlen(own)) == 0 ||
	    deployment_allows(returns, url))
		return 1;
	if (provider == NULL ||
	    (list = json_object_get(provider, "return_urls")) == NULL)
		return 0;
	json_array_foreach(list, i, v) {
		e = json_string_value(v);
		if (e == NULL)
			continue;
		n = strlen(e);
		if (strcmp(url, e) == 0 ||
		    (n > 0 && e[n - 1] == '/' && strncmp(url, e, n) == 0))
			return 1;
	}
	return 0;
}

/* Every provider named exists; the return URL is on one's allow-list. */
static int
check_providers(struct http_req *r, const json_t *list, const char *ret,
    enum MHD_Result *a)
{
	json_t		*v, *doc;
	const char	*id;
	char		 path[64];
	size_t		 i;
	int		 has, ret_ok = 0, rv;

	if (list != NULL && (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > SESSION_PROVIDERS_MAX)) {
		*a = api_invalid(r, "$.providers", "1-32 provider ids");
		return -1;
	}
	json_array_foreach(list, i, v) {
		snprintf(path, sizeof(path), "$.providers[%zu]", i);
		id = json_string_value(v);
		if (id == NULL || !provider_id_ok(id)) {
			*a = api_invalid(r, path, "not a provider id");
			return -1;
		}
		if ((rv = store_provider_get(r->b->db, id, &doc, &has)) != 0) {
			*a = rv == STORE_NOTFOUND ? api_invalid(r, path,
			    "no such provider") : api_store_error(r, rv, "");
			return -1;
		}
		if (ret != NULL && session_return_url_ok(doc, r->b->public_url,
		    r->b->returns, ret))
			ret_ok = 1;
		json_decref(doc);
	}
	if (ret != NULL && !ret_ok &&
	    !session_return_url_ok(NULL, r->b->public_url, r->b->returns,
	    ret)) {
		*a = api_invalid(r, "$.return_url", "not on an allow-list");
		return -1;
	}
	return 0;
}

/* POST /connect/sessions */
enum MHD_Result
route_session_new(struct http_req *r)
{
	enum MHD_Result	 a;
	const char	*owner, *conn, *ret;
	json_t		*providers, *out;
	char		 token[SESSION_TOKEN_LEN + 1], id[SESSION_ID_LEN + 1];
	char		 exp[64], url[KH_URL_MAX + 64 + SESSION_TOKEN_LEN];
	uint8_t		 hash[SESSION_HASH_LEN];
	int		 rv;

	owner = json_string_value(json_object_get(r->body, "owner"));
	conn = json_string_value(json_object_get(r->body, "connection"));
	ret = json_string_value(json_object_get(r->body, "return_url"));
	providers = json_object_get(r->body, "providers");
	if (owner == NULL || !api_owner_ok(owner))
		return api_invalid(r, "$.owner", "an owner (1-128 printable "
		    "characters) is required");
	if (json_object_get(r->body, "connection") != NULL &&
	    (conn == NULL || !payload_connection_ok(conn)))
		return api_invalid(r, "$.connection", "1-128 of [A-Za-z0-9._-]");
	if (json_object_get(r->body, "return_url") != NULL && ret == NULL)
		return api_invalid(r, "$.return_url", "a URL");
	if (json_object_size(r->body) > 4)
		return api_invalid(r, "$", "unknown fields");
	/* With a fixed connection, the scope must cover that id. */
	if (auth_require(r, OP_CONNECT_SESSION, conn, &a) == -1)
		return a;
	if (check_providers(r, providers, ret, &a) == -1)
		return a;
	if (session_token_new(token, sizeof(token), id, hash) == -1)
		return http_internal(r);
	rv = store_csession_insert(r->b->db, id, hash, r->client->id, owner,
	    providers, conn, ret, SESSION_TTL, exp, sizeof(exp));
	if (rv != 0) {
		explicit_bzero(token, sizeof(token));
		return api_store_error(r, rv, "");
	}
	snprintf(url, sizeof(url), "%s/v1/connect?session=%s",
	    r->b->public_url, token);
	out = json_pack("{s:s, s:s, s:s}", "session", token, "url", url,
	    "expires_at", exp);
	explicit_bzero(token, sizeof(token));
	explicit_bzero(url, sizeof(url));
	log_kv(LOGL_INFO, "connect session", "id", id, "client",
	    r->client->id, "request_id", r->request_id, NULL);
	return http_json(r, MHD_HTTP_CREATED, out);
}
