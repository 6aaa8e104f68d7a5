/*
 * consent.c: the OAuth 2.0 authorization-code flow with PKCE, as RFC 9700
 * asks of a client that talks to many authorization servers.
 *
 * Start: a connect session's browser asks to connect a provider; the
 * broker keeps a one-time state (only its hash), a sealed PKCE verifier,
 * the expected issuer and the redirect URI, then sends the browser to the
 * provider.  Callback: the state is taken (it works once, for ten
 * minutes), the provider in the path must be the one it was made for
 * (one redirect URI per provider: the mix-up defence), iss is checked
 * (RFC 9207), and the code is exchanged with the verifier.
 */
#include <sys/types.h>
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/log.h"
#include "unpriv/api.h"
#include "unpriv/broker.h"
#include "unpriv/cache.h"
#include "unpriv/consent.h"
#include "unpriv/discovery.h"
#include "unpriv/http.h"
#include "unpriv/oauth.h"
#include "unpriv/provider.h"
#include "unpriv/refresh.h"
#include "unpriv/session.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

#define STATE_TTL	600		/* seconds a state may come back */
#define SECRET_MAX	1024
#define PAGE_MAX	4096
#define REDIRECT_MAX	(KH_URL_MAX + 64 + 64)

/* The title of the one page that is not about a failure. */
#define PAGE_DONE	"Connected"

/* A small page for the end user; text is escaped here. */
static enum MHD_Result
page(struct http_req *r, unsigned int status, const char *title,
    const char *text)
{
	char	 html[PAGE_MAX], esc[1024];
	size_t	 i, o = 0;

	for (i = 0; text[i] != '\0' && o + 8 < sizeof(esc); i++) {
		switch (text[i]) {
		case '<':
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "&lt;");
			break;
		case '>':
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "&gt;");
			break;
		case '&':
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "&amp;");
			break;
		case '"':
			o += (size_t)snprintf(esc + o, sizeof(esc) - o,
			    "&quot;");
			break;
		default:
			esc[o++] = (unsigned char)text[i] < 0x20 ? '?' :
			    text[i];
		}
	}
	esc[o] = '\0';
	/*
	 * The connect page's stylesheet, relative to /v1/auth/callback/{p}
	 * so that it also holds under a public URL with a path.
	 */
	snprintf(html, sizeof(html), "<!doctype html>\n<html lang=\"en\">"
	    "<head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">"
	    "<meta name=\"referrer\" content=\"no-referrer\">"
	    "<title>%s</title>"
	    "<link rel=\"stylesheet\" href=\"../../connect/connect.css\">"
	    "</head>\n<body><main><h1>%s</h1><p class=\"%s\">%s</p></main>"
	    "</body></html>\n", title, title, strcmp(title, PAGE_DONE) == 0 ?
	    "lead" : "alert", esc);
	return http_html(r, status, html);
}

static void
redirect_uri(struct http_req *r, const char *provider, char *out, size_t sz)
{
	snprintf(out, sz, "%s/v1/auth/callback/%s", r->b->public_url,
	    provider);
}

/* The provider a consent is for, which must be OAuth and ready. */
static int
oauth_provider(struct http_req *r, const char *id, json_t **doc,
    enum MHD_Result *a)
{
	const char	*mode;
	char		 why[256];
	int		 has, rv;

	*doc = NULL;
	if (!provider_id_ok(id)) {
		*a = http_not_found(r, "no such provider");
		return -1;
	}
	if ((rv = store_provider_get(r->b->db, id, doc, &has)) != 0) {
		*a = api_store_error(r, rv, "no such provider");
		return -1;
	}
	mode = json_string_value(json_object_get(*doc, "auth_mode"));
	if (mode == NULL || strcmp(mode, "oauth2") != 0)
		*a = http_problem(r, MHD_HTTP_CONFLICT, "not-oauth",
		    "Not an OAuth provider", "this provider is connected "
		    "through its form");
	else if (!provider_ready(*doc, has, why, sizeof(why)))
		*a = http_problem(r, MHD_HTTP_CONFLICT, "provider-not-ready",
		    "Provider not ready", why);
	else
		return 0;
	json_decref(*doc);
	*doc = NULL;
	return -1;
}

/* Keep the state and the sealed verifier; only the state's hash. */
static int
remember(struct http_req *r, const json_t *session, const char *prov,
    const struct oauth_endpoints *ep, const uint8_t hash[OAUTH_HASH_LEN],
    const char *verifier, const char *redirect)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	int		 rv;

	if (vault_ad_pkce(&ad, hash) == -1 || (rv = vault_seal_str(
	    r->b->vault, &ad, verifier, sealed, sizeof(sealed), &len)) != 0)
		return VAULT_EINVAL;
	rv = store_osession_insert(r->b->db, hash, prov,
	    json_string_value(json_object_get(session, "connection")),
	    json_string_value(json_object_get(session, "id")), sealed, len,
	    ep->issuer[0] != '\0' ? ep->issuer : NULL, redirect,
	    json_string_value(json_object_get(session, "return_url")),
	    STATE_TTL);
	explicit_bzero(sealed, sizeof(sealed));
	return rv;
}

/*
 * Both starts: the browser navigating to GET /auth/start?session=&provider=
 * is sent on with a 302; the connect page's script, which keeps the
 * session out of URLs, POSTs {"provider"} with the session as its bearer
 * token and is told where to go.
 */
static enum MHD_Result	start(struct http_req *, const char *, const char *,
			    int);

enum MHD_Result
route_auth_start(struct http_req *r)
{
	return start(r, http_query(r, "session"), http_query(r, "provider"),
	    0);
}

enum MHD_Result
route_auth_start_post(struct http_req *r)
{
	return start(r, session_bearer(r), json_string_value(json_object_get(
	    r->body, "provider")), 1);
}

static enum MHD_Result
start(struct http_req *r, const char *token, const char *prov, int json)
{
	struct oauth_endpoints	 ep;
	enum MHD_Result		 a;
	json_t			*session = NULL, *doc = NULL;
	char			 state[OAUTH_B64_32_SIZE];
	char			 verifier[OAUTH_B64_32_SIZE];
	char			 challenge[OAUTH_B64_32_SIZE];
	char			 redirect[REDIRECT_MAX], why[256], *url = NULL;
	uint8_t			 hash[OAUTH_HASH_LEN];
	int			 rv;

	if (session_lookup(r, token, &session, &a) == -1)
		return a;
	if (prov == NULL || !session_allows_provider(session, prov)) {
		json_decref(session);
		return http_problem(r, MHD_HTTP_FORBIDDEN, "forbidden",
		    "Forbidden", "the connect session does not cover this "
		    "provider");
	}
	if (oauth_provider(r, prov, &doc, &a) == -1)
		goto out;
	if (discovery_resolve(doc, &ep, why, sizeof(why)) != 0) {
		log_kv(LOGL_WARN, "consent: discovery failed", "provider",
		    prov, "why", why, NULL);
		a = http_problem(r, MHD_HTTP_BAD_GATEWAY, "discovery-failed",
		    "Provider unreachable", "the provider's metadata could "
		    "not be read");
		goto out;
	}
	redirect_uri(r, prov, redirect, sizeof(redirect));
	if (oauth_state_new(state, hash) == -1 ||
	    oauth_pkce_new(verifier, challenge) == -1) {
		a = http_internal(r);
		goto out;
	}
	if ((rv = remember(r, session, prov, &ep, hash, verifier,
	    redirect)) != 0) {
		a = rv == STORE_UNAVAIL ? http_unavailable(r, "the database "
		    "is unavailable") : api_vault_error(r, rv);
		goto out;
	}
	if (oauth_authorize_url(doc, &ep, redirect, state, challenge,
	    &url) == -1) {
		a = http_problem(r, MHD_HTTP_CONFLICT, "provider-not-ready",
		    "Provider not ready", "no authorization URL can be made "
		    "for this provider");
		goto out;
	}
	log_kv(LOGL_INFO, "consent started", "provider", prov, "session",
	    json_string_value(json_object_get(session, "id")), NULL);
	a = json ? http_json(r, MHD_HTTP_OK, json_pack("{s:s}",
	    "authorization_url", url)) : http_redirect(r, url);
out:
	explicit_bzero(state, sizeof(state));
	explicit_bzero(verifier, sizeof(verifier));
	free(url);
	json_decref(doc);
	json_decref(session);
	return a;
}

/* libmicrohttpd hands the query over decoded, one pair at a time. */
static enum MHD_Result
callback_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct oauth_callback	*cb = cls;

	(void)kind;
	if (oauth_callback_add(cb, key, strlen(key), value,
	    value ? strlen(value) : 0) == -1)
		return MHD_NO;
	return MHD_YES;
}

/* Where the browser goes next: the session's return URL, told how. */
static enum MHD_Result
finish(struct http_req *r, const json_t *os, const char *conn,
    const char *status, const char *error)
{
	const char	*ret = json_string_value(json_object_get(os,
			    "return_url"));
	char		 url[2048];
	int		 n;

	if (ret == NULL) {
		if (error == NULL)
			return page(r, MHD_HTTP_OK, PAGE_DONE, "The "
			    "connection is ready.  You may close this window.");
		return page(r, MHD_HTTP_OK, "Not connected", error);
	}
	n = snprintf(url, sizeof(url), "%s%sconnection=%s&status=%s%s%s", ret,
	    strchr(ret, '?') ? "&" : "?", conn, status, error ? "&error=" : "",
	    error ? error : "");
	if (n < 0 || (size_t)n >= sizeof(url))
		return page(r, MHD_HTTP_OK, PAGE_DONE, "The connection is "
		    "ready.");
	return http_redirect(r, url);
}

/* The connection a consent fills: the session's, or a new id. */
static void
consent_connection(const json_t *os, const char *prov, char *id, size_t sz)
{
	const char	*c = json_string_value(json_object_get(os,
			    "connection"));
	unsigned char	 rnd[6];
	size_t		 i, n;

	if (c != NULL) {
		snprintf(id, sz, "%s", c);
		return;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	n = (size_t)snprintf(id, sz, "%s-", prov);
	for (i = 0; i < sizeof(rnd) && n + 2 < sz; i++, n += 2)
		snprintf(id + n, sz - n, "%02x", rnd[i]);
}

/* Seal and store the tokens as the connection. */
static int
store_consent(struct http_req *r, const char *conn, const char *prov,
    const char *owner, const struct oauth_tokens *t)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*v, *meta;
	time_t		 exp = 0;
	int		 rv;

	v = json_pack("{s:s, s:s}", "access_token", t->access_token,
	    "token_type", t->token_type);
	if (t->refresh_token != NULL)
		json_object_set_new(v, "refresh_token",
		    json_string(t->refresh_token));
	if (t->id_token != NULL)
		json_object_set_new(v, "id_token", json_string(t->id_token));
	meta = json_object();
	if (t->scope != NULL)
		json_object_set_new(meta, "scope", json_string(t->scope));
	if (vault_ad_credential(&ad, conn) == -1)
		rv = VAULT_EINVAL;
	else
		rv = vault_seal_json(r->b->vault, &ad, v, sealed,
		    sizeof(sealed), &len);
	json_decref(v);
	if (rv == 0) {
		if (t->expires_in >= 0)
			exp = time(NULL) + (time_t)t->expires_in;
		rv = store_connection_upsert(r->b->db, conn, prov, owner, meta,
		    sealed, len, vault_key_version(sealed, len), exp, NULL);
		cache_connection_forget(r->b->conns, conn);
	}
	explicit_bzero(sealed, sizeof(sealed));
	json_decref(meta);
	return rv;
}

/* The code for tokens, with the verifier the state was made with. */
static int
exchange(struct http_req *r, const json_t *doc, const json_t *os,
    const uint8_t hash[OAUTH_HASH_LEN], const uint8_t *sealed, size_t len,
    const char *code, const struct oauth_endpoints *ep,
    struct oauth_tokens *t, struct oauth_outcome *o)
{
	struct vault_ad		 ad;
	struct oauth_error	 err;
	char			 verifier[VAULT_PLAIN_MAX + 1];
	char			 secret[SECRET_MAX];
	const char		*prov;
	enum oauth_result	 res;

	memset(t, 0, sizeof(*t));
	memset(o, 0, sizeof(*o));
	prov = json_string_value(json_object_get(doc, "id"));
	if (vault_ad_pkce(&ad, hash) == -1 || vault_open_str(r->b->vault, &ad,
	    sealed, len, verifier, sizeof(verifier)) != 0) {
		snprintf(o->why, sizeof(o->why), "the stored PKCE verifier "
		    "does not open");
		return -2;
	}
	if (provider_secret_open(r->b, prov, secret, sizeof(secret)) != 0) {
		explicit_bzero(verifier, sizeof(verifier));
		snprintf(o->why, sizeof(o->why), "client secret unusable");
		return -2;
	}
	res = oauth_exchange_code(doc, ep, secret[0] ? secret : NULL, code,
	    verifier, json_string_value(json_object_get(os, "redirect_uri")),
	    t, &err, o);
	explicit_bzero(verifier, sizeof(verifier));
	explicit_bzero(secret, sizeof(secret));
	return res == OAUTH_OK ? 0 : -1;
}

static enum MHD_Result
bad_callback(struct http_req *r, const char *why)
{
	log_kv(LOGL_WARN, "consent: callback refused", "why", why,
	    "request_id", r->request_id, NULL);
	return page(r, MHD_HTTP_BAD_REQUEST, "Connection failed", why);
}

/* An error code fit for a URL and a page: [a-z_], else a generic one. */
static const char *
error_code(const char *e)
{
	size_t	 i;

	for (i = 0; e[i] != '\0'; i++)
		if ((e[i] < 'a' || e[i] > 'z') && e[i] != '_')
			return "provider_error";
	return i > 0 ? e : "provider_error";
}

/* The state came back with an error from the provider (RFC 6749). */
static enum MHD_Result
provider_error(struct http_req *r, const json_t *os, const char *prov,
    const struct oauth_callback *cb)
{
	const char	*owner = json_string_value(json_object_get(os, "owner"));
	const char	*code = error_code(cb->error);
	char		 conn[129], msg[160];

	consent_connection(os, prov, conn, sizeof(conn));
	snprintf(msg, sizeof(msg), "the provider refused: %s", code);
	if (store_connection_error(r->b->db, conn, prov, owner ? owner :
	    "unknown", msg) != 0)
		log_warnx("consent: cannot record the error on %s", conn);
	cache_connection_forget(r->b->conns, conn);
	store_access_log(r->b->db, NULL, conn, "consent", msg, r->request_id);
	return finish(r, os, conn, "error", code);
}

/* After the state checked out: iss, exchange, store. */
static enum MHD_Result
complete(struct http_req *r, const json_t *os, const char *prov,
    const struct oauth_callback *cb, const uint8_t hash[OAUTH_HASH_LEN],
    const uint8_t *sealed, size_t len)
{
	struct oauth_endpoints	 ep;
	struct oauth_tokens	 t;
	struct oauth_outcome	 o;
	enum MHD_Result		 a;
	const char		*why, *expected, *owner;
	json_t			*doc;
	char			 conn[129], whybuf[256];
	int			 rv;

	if (oauth_provider(r, prov, &doc, &a) == -1)
		return a;
	if (discovery_resolve(doc, &ep, whybuf, sizeof(whybuf)) != 0) {
		json_decref(doc);
		return page(r, MHD_HTTP_BAD_GATEWAY, "Connection failed",
		    "the provider's metadata could not be read");
	}
	expected = json_string_value(json_object_get(os, "issuer"));
	if (oauth_check_iss(cb, expected, ep.iss_required, &why) == -1) {
		json_decref(doc);
		return bad_callback(r, why);
	}
	if ((rv = exchange(r, doc, os, hash, sealed, len, cb->code, &ep, &t,
	    &o)) != 0) {
		json_decref(doc);
		oauth_tokens_free(&t);
		log_kv(LOGL_WARN, "consent: code exchange failed", "provider",
		    prov, "why", o.why, NULL);
		if (rv == -2)
			return page(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "Connection failed", "the sign-in could not be "
			    "completed here; start again");
		return page(r, MHD_HTTP_BAD_GATEWAY, "Connection failed",
		    "the provider did not exchange the code for tokens");
	}
	json_decref(doc);
	consent_connection(os, prov, conn, sizeof(conn));
	owner = json_string_value(json_object_get(os, "owner"));
	rv = store_consent(r, conn, prov, owner ? owner : "unknown", &t);
	oauth_tokens_free(&t);
	if (rv != 0)
		return page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Connection "
		    "failed", "the connection could not be stored");
	store_access_log(r->b->db, NULL, conn, "consent", "ok",
	    r->request_id);
	log_kv(LOGL_INFO, "consent completed", "provider", prov, "conn", conn,
	    NULL);
	return finish(r, os, conn, "connected", NULL);
}

/* GET /auth/callback/{p} */
enum MHD_Result
route_auth_callback(struct http_req *r)
{
	struct oauth_callback	 cb;
	enum MHD_Result		 a;
	const char		*prov = r->params[0], *want;
	json_t			*os = NULL;
	uint8_t			 hash[OAUTH_HASH_LEN];
	uint8_t			 sealed[VAULT_SEALED_MAX];
	size_t			 len;
	int			 rv;

	oauth_callback_init(&cb);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	    callback_arg, &cb);
	if (cb.why != NULL || oauth_callback_finish(&cb) == -1) {
		a = bad_callback(r, cb.why ? cb.why : "malformed callback");
		goto out;
	}
	oauth_state_hash(cb.state, strlen(cb.state), hash);
	if ((rv = store_osession_take(r->b->db, hash, &os, sealed,
	    sizeof(sealed), &len)) != 0) {
		a = rv == STORE_NOTFOUND ? bad_callback(r, "this sign-in link "
		    "is unknown, expired or already used; start again") :
		    page(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Connection failed",
		    "the service is unavailable; try again later");
		goto out;
	}
	want = json_string_value(json_object_get(os, "provider"));
	if (want == NULL || !provider_id_ok(prov) || strcmp(want, prov) != 0)
		a = bad_callback(r, "the answer came back for another "
		    "provider");
	else if (cb.seen & OAUTH_CB_ERROR)
		a = provider_error(r, os, prov, &cb);
	else
		a = complete(r, os, prov, &cb, hash, sealed, len);
out:
	explicit_bzero(sealed, sizeof(sealed));
	oauth_callback_clear(&cb);
	json_decref(os);
	return a;
}
