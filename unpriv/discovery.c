/*
 * Authorization server metadata and its cache (discovery.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "unpriv/discovery.h"
#include "unpriv/oauth.h"
#include "unpriv/outbound.h"

#define WK_AS		"/.well-known/oauth-authorization-server"
#define WK_OIDC		"/.well-known/openid-configuration"

/* ---- well-known URLs ---- */

/* Where the path of an absolute http(s) URL starts (its end if none). */
static const char *
path_of(const char *url)
{
	const char	*p;

	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return NULL;
	return p + strcspn(p, "/?#");
}

int
discovery_urls(const char *issuer, char rfc8414[OAUTH_URL_SIZE],
    char oidc[OAUTH_URL_SIZE])
{
	const char	*path;
	size_t		 hostlen, pathlen;
	int		 n;

	if ((path = path_of(issuer)) == NULL || strpbrk(issuer, "?#") != NULL)
		return -1;
	hostlen = (size_t)(path - issuer);
	pathlen = strlen(path);
	/* Any terminating "/" is removed first (RFC 8414 §3.1). */
	while (pathlen > 0 && path[pathlen - 1] == '/')
		pathlen--;
	if (hostlen > OAUTH_URL_SIZE || pathlen > OAUTH_URL_SIZE)
		return -1;
	n = snprintf(rfc8414, OAUTH_URL_SIZE, "%.*s%s%.*s", (int)hostlen,
	    issuer, WK_AS, (int)pathlen, path);
	if (n < 0 || n >= OAUTH_URL_SIZE)
		return -1;
	n = snprintf(oidc, OAUTH_URL_SIZE, "%.*s%s", (int)(hostlen + pathlen),
	    issuer, WK_OIDC);
	if (n < 0 || n >= OAUTH_URL_SIZE)
		return -1;
	return 0;
}

/*
 * The issuer a discovery URL implies, into iss; 0 when it has neither
 * well-known form (nothing is implied).
 */
static int
implied_issuer(const char *durl, char iss[OAUTH_URL_SIZE])
{
	const char	*path;
	size_t		 len = strlen(durl), hostlen, wl;

	if ((path = path_of(durl)) == NULL || strpbrk(durl, "?#") != NULL ||
	    len >= OAUTH_URL_SIZE)
		return 0;
	hostlen = (size_t)(path - durl);
	wl = strlen(WK_OIDC);
	if (len - hostlen >= wl && strcmp(durl + len - wl, WK_OIDC) == 0) {
		memcpy(iss, durl, len - wl);
		iss[len - wl] = '\0';
		return 1;
	}
	wl = strlen(WK_AS);
	if (strncmp(path, WK_AS, wl) == 0 &&
	    (path[wl] == '\0' || path[wl] == '/')) {
		memcpy(iss, durl, hostlen);
		memcpy(iss + hostlen, path + wl, len - hostlen - wl + 1);
		return 1;
	}
	return 0;
}

/* ---- the document ---- */

static int
dfail(char *why, size_t whysz, const char *what)
{
	snprintf(why, whysz, "metadata: %s", what);
	return -1;
}

/* An optional endpoint member into dst; -1 when malformed. */
static int
endpoint(const json_t *doc, const char *name, char dst[OAUTH_URL_SIZE])
{
	const json_t	*v = json_object_get(doc, name);
	char		 why[128];

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= OAUTH_URL_SIZE ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    outbound_url_ok(json_string_value(v), why, sizeof(why)) == -1)
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
has_s256(const json_t *methods)
{
	const json_t	*m;
	size_t		 i;

	json_array_foreach(methods, i, m)
		if (json_is_string(m) && strcmp(json_string_value(m),
		    "S256") == 0)
			return 1;
	return 0;
}

static int
parse_doc(const json_t *doc, const char *expected,
    struct oauth_endpoints *ep, char *why, size_t whysz)
{
	const json_t	*v;
	char		 uwhy[128];

	if (!json_is_object(doc))
		return dfail(why, whysz, "not a JSON object");
	v = json_object_get(doc, "issuer");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= OAUTH_URL_SIZE ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return dfail(why, whysz, "issuer is missing or malformed");
	if (expected != NULL && strcmp(json_string_value(v), expected) != 0)
		return dfail(why, whysz, "issuer is not the provider's issuer");
	if (strpbrk(json_string_value(v), "?#") != NULL ||
	    outbound_url_ok(json_string_value(v), uwhy, sizeof(uwhy)) == -1)
		return dfail(why, whysz, "issuer is not an https URL without "
		    "query");
	memcpy(ep->issuer, json_string_value(v), json_string_length(v) + 1);
	if (endpoint(doc, "authorization_endpoint", ep->authorization) == -1)
		return dfail(why, whysz, "authorization_endpoint is malformed");
	if (endpoint(doc, "token_endpoint", ep->token) == -1)
		return dfail(why, whysz, "token_endpoint is malformed");
	if (endpoint(doc, "revocation_endpoint", ep->revocation) == -1)
		return dfail(why, whysz, "revocation_endpoint is malformed");
	v = json_object_get(doc, "authorization_response_iss_parameter_"
	    "supported");
	if (v != NULL && !json_is_boolean(v))
		return dfail(why, whysz, "authorization_response_iss_"
		    "parameter_supported is not a boolean");
	ep->iss_required = json_is_true(v);
	v = json_object_get(doc, "code_challenge_methods_supported");
	if (v != NULL && !json_is_array(v))
		return dfail(why, whysz, "code_challenge_methods_supported is "
		    "not an array");
	if (v != NULL && !has_s256(v))
		return dfail(why, whysz, "the server does not support PKCE "
		    "S256");
	return 0;
}

int
discovery_parse(const char *body, size_t len, const char *content_type,
    const char *expected, struct oauth_endpoints *ep, char *why,
    size_t whysz)
{
	json_t	*doc;
	int	 rc;

	memset(ep, 0, sizeof(*ep));
	if (content_type != NULL && !oauth_is_json_type(content_type))
		return dfail(why, whysz, "not application/json");
	if (body == NULL || (doc = json_loadb(body, len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return dfail(why, whysz, "not JSON (or a member is repeated)");
	rc = parse_doc(doc, expected, ep, why, whysz);
	json_decref(doc);
	if (rc == -1)
		memset(ep, 0, sizeof(*ep));
	return rc;
}

/* ---- fetching ---- */

/*
 * GET url and parse it.  1 when the document is not there (a status
 * other than 200, or not JSON: the next location may be tried), 0 when
 * it was read, -1 on any other failure.
 */
static int
fetch_one(const char *url, const char *expected, struct oauth_endpoints *ep,
    char *why, size_t whysz)
{
	struct outbound_resp	 r;
	int			 rc;

	if (outbound_get(url, &r) == -1) {
		snprintf(why, whysz, "metadata: %s", r.why);
		outbound_resp_free(&r);
		return -1;
	}
	if (r.status != 200 || !oauth_is_json_type(r.content_type)) {
		snprintf(why, whysz, "metadata: %s answered %ld%s", url,
		    r.status, r.status == 200 ? " without JSON" : "");
		outbound_resp_free(&r);
		return 1;
	}
	rc = discovery_parse(r.body, r.len, NULL, expected, ep, why, whysz);
	outbound_resp_free(&r);
	return rc;
}

/*
 * The issuer a discovery URL implies may differ from the document's by a
 * terminating '/' (issuers such as "https://tenant.example/" are common,
 * and the well-known URL cannot show it).
 */
static int
implied_match(const char *implied, const char *issuer)
{
	size_t	 n = strlen(implied);

	return strncmp(issuer, implied, n) == 0 &&
	    (issuer[n] == '\0' || (issuer[n] == '/' && issuer[n + 1] == '\0'));
}

static int
fetch(const char *issuer, const char *durl, struct oauth_endpoints *ep,
    char *why, size_t whysz)
{
	char	 as[OAUTH_URL_SIZE], oidc[OAUTH_URL_SIZE];
	char	 implied[OAUTH_URL_SIZE];
	int	 rc;

	if (durl[0] != '\0' && issuer[0] != '\0')
		return fetch_one(durl, issuer, ep, why, whysz) == 0 ? 0 : -1;
	if (durl[0] != '\0') {
		if (fetch_one(durl, NULL, ep, why, whysz) != 0)
			return -1;
		if (implied_issuer(durl, implied) &&
		    !implied_match(implied, ep->issuer))
			return dfail(why, whysz, "issuer is not the one the "
			    "discovery URL names");
		return 0;
	}
	if (discovery_urls(issuer, as, oidc) == -1)
		return dfail(why, whysz, "the issuer is not a URL to discover");
	if ((rc = fetch_one(as, issuer, ep, why, whysz)) == 1)
		rc = fetch_one(oidc, issuer, ep, why, whysz);
	return rc == 0 ? 0 : -1;
}

/* ---- the cache ---- */

struct dentry {
	char			 id[65];
	char			 issuer[OAUTH_URL_SIZE];	/* the key: */
	char			 durl[OAUTH_URL_SIZE];		/* config */
	struct oauth_endpoints	 ep;
	int			 ok;
	char			 why[160];
	time_t			 expires;			/* monotonic */
};

static pthread_mutex_t	 cache_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct dentry	*cache[DISCOVERY_CACHE_MAX];
static int		 ttl_ok = DISCOVERY_TTL;
static int		 ttl_fail = DISCOVERY_FAIL_TTL;

static time_t
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void
discovery_set_ttl(int ttl, int fail_ttl)
{
	pthread_mutex_lock(&cache_mtx);
	ttl_ok = ttl;
	ttl_fail = fail_ttl;
	pthread_mutex_unlock(&cache_mtx);
}

void
discovery_flush(void)
{
	size_t	 i;

	pthread_mutex_lock(&cache_mtx);
	for (i = 0; i < DISCOVERY_CACHE_MAX; i++) {
		free(cache[i]);
		cache[i] = NULL;
	}
	pthread_mutex_unlock(&cache_mtx);
}

/* A live entry for this configuration, copied out; 0 if none. */
static int
cache_get(const struct dentry *key, struct dentry *out)
{
	const struct dentry	*e;
	size_t			 i;
	int			 found = 0;

	pthread_mutex_lock(&cache_mtx);
	for (i = 0; i < DISCOVERY_CACHE_MAX && !found; i++) {
		if ((e = cache[i]) == NULL || strcmp(e->id, key->id) != 0 ||
		    strcmp(e->issuer, key->issuer) != 0 ||
		    strcmp(e->durl, key->durl) != 0 || e->expires <= now())
			continue;
		*out = *e;
		found = 1;
	}
	pthread_mutex_unlock(&cache_mtx);
	return found;
}

/*
 * Store e, with its expiry set now, over the provider's old entry, a free
 * slot, or the entry that expires first.
 */
static void
cache_put(struct dentry *e)
{
	struct dentry	*slot;
	size_t		 i, pick = 0;

	pthread_mutex_lock(&cache_mtx);
	e->expires = now() + (e->ok ? ttl_ok : ttl_fail);
	for (i = 0; i < DISCOVERY_CACHE_MAX; i++) {
		if (cache[i] == NULL || strcmp(cache[i]->id, e->id) == 0) {
			pick = i;
			break;
		}
		if (cache[i]->expires < cache[pick]->expires)
			pick = i;
	}
	if ((slot = cache[pick]) == NULL)
		slot = malloc(sizeof(*slot));
	if (slot != NULL) {
		*slot = *e;
		cache[pick] = slot;
	}
	pthread_mutex_unlock(&cache_mtx);
}

/* The discovered endpoints of a provider, from the cache or the network. */
static int
discovered(const char *id, const char *issuer, const char *durl,
    struct oauth_endpoints *ep, char *why, size_t whysz)
{
	struct dentry	*e;
	int		 rc;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return dfail(why, whysz, "out of memory");
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->issuer, sizeof(e->issuer), "%s", issuer);
	snprintf(e->durl, sizeof(e->durl), "%s", durl);
	if (!cache_get(e, e)) {
		e->ok = fetch(issuer, durl, &e->ep, e->why,
		    sizeof(e->why)) == 0;
		cache_put(e);
	}
	if ((rc = e->ok ? 0 : -1) == 0)
		*ep = e->ep;
	else
		snprintf(why, whysz, "%s", e->why);
	free(e);
	return rc;
}

int
discovery_resolve(const json_t *provider, struct oauth_endpoints *ep,
    char *why, size_t whysz)
{
	struct oauth_endpoints	*st;
	const char		*id, *durl;
	int			 rc = 0;

	id = json_string_value(json_object_get(provider, "id"));
	durl = json_string_value(json_object_get(provider, "discovery_url"));
	if ((st = malloc(sizeof(*st))) == NULL)
		return dfail(why, whysz, "out of memory");
	if (id == NULL || oauth_endpoints_static(provider, st) == -1) {
		free(st);
		return dfail(why, whysz, "not an oauth2 provider");
	}
	*ep = *st;
	if (st->issuer[0] != '\0' || durl != NULL) {
		rc = discovered(id, st->issuer, durl != NULL ? durl : "", ep,
		    why, whysz);
		/* What the provider document names wins. */
		if (rc == 0 && st->authorization[0] != '\0')
			memcpy(ep->authorization, st->authorization,
			    sizeof(st->authorization));
		if (rc == 0 && st->token[0] != '\0')
			memcpy(ep->token, st->token, sizeof(st->token));
		if (rc == 0 && st->revocation[0] != '\0')
			memcpy(ep->revocation, st->revocation,
			    sizeof(st->revocation));
	}
	free(st);
	if (rc == 0 && (ep->authorization[0] == '\0' || ep->token[0] == '\0'))
		rc = dfail(why, whysz, "no authorization or token endpoint");
	return rc;
}
