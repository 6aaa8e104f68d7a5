/*
 * refresh.c: OAuth access tokens kept fresh, one refresh per connection
 * at a time across every broker (refresh.h), and revoked on disconnect.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/log.h"
#include "unpriv/api.h"
#include "unpriv/auth.h"
#include "unpriv/broker.h"
#include "unpriv/cache.h"
#include "unpriv/discovery.h"
#include "unpriv/http.h"
#include "unpriv/metrics.h"
#include "unpriv/oauth.h"
#include "unpriv/refresh.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

#define BUFFER_DEFAULT	300		/* token_expiration_buffer, seconds */
#define SECRET_MAX	1024
#define BACKOFF_MS	250		/* doubled each try */
#define BACKOFF_MAX_MS	2000
#define FAIL_HOLDOFF	5		/* seconds a failed refresh rests */

/* When the connection's access token expires; 0 when it does not say. */
static time_t
view_expires(const json_t *view)
{
	const char	*s = json_string_value(json_object_get(view,
			    "expires_at"));
	struct tm	 tm;
	char		*end;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return 0;
	return timegm(&tm);
}

static time_t
provider_buffer(const json_t *provider)
{
	const json_t	*b = json_object_get(provider,
			    "token_expiration_buffer");

	return json_is_integer(b) ? (time_t)json_integer_value(b) :
	    BUFFER_DEFAULT;
}

/* Expires within the buffer?  A token without expiry never does. */
static int
expiring(const json_t *view, const json_t *provider)
{
	time_t	 exp = view_expires(view);

	return exp != 0 && exp - time(NULL) <= provider_buffer(provider);
}

/* When the last refresh (or attempt; or forced one) happened; 0: never. */
static time_t
refresh_time(const json_t *view, const char *which)
{
	const json_t	*rf = json_object_get(view, "refresh");
	struct tm	 tm;
	const char	*s;
	char		*end;

	s = json_string_value(json_object_get(rf, which));
	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return 0;
	return timegm(&tm);
}

/*
 * A refresh that failed moments ago: while the old token still serves,
 * waiters take it rather than ask a struggling provider again.
 */
static int
failed_recently(const json_t *view)
{
	const json_t	*rf = json_object_get(view, "refresh");
	json_int_t	 attempts;

	attempts = json_integer_value(json_object_get(rf, "attempts"));
	return attempts > 0 && time(NULL) - refresh_time(view,
	    "last_refresh_at") < FAIL_HOLDOFF;
}

/* Still usable by a caller, buffer or not? */
static int
still_valid(const json_t *view)
{
	time_t	 exp = view_expires(view);

	return exp == 0 || exp > time(NULL);
}

int
provider_secret_open(struct broker *b, const char *provider, char *out,
    size_t outsz)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	int		 rv;

	out[0] = '\0';
	if ((rv = store_provider_secret(b->db, provider, sealed,
	    sizeof(sealed), &len)) != 0)
		return rv;
	if (len == 0)
		return 0;
	if (vault_ad_client_secret(&ad, provider) == -1)
		return VAULT_EINVAL;
	return vault_open_str(b->vault, &ad, sealed, len, out, outsz);
}

/* Open a connection's sealed tokens. */
static int
open_values(struct broker *b, const char *id, const uint8_t *sealed,
    size_t len, json_t **values)
{
	struct vault_ad	 ad;

	*values = NULL;
	if (len == 0 || vault_ad_credential(&ad, id) == -1)
		return VAULT_EOPEN;
	return vault_open_json(b->vault, &ad, sealed, len, values);
}

/* The new token set: what the provider sent, the rest kept. */
static json_t *
merge_tokens(const json_t *old, const struct oauth_tokens *t)
{
	json_t	*v = json_object();

	json_object_set_new(v, "access_token", json_string(t->access_token));
	json_object_set_new(v, "token_type", json_string(t->token_type));
	if (t->refresh_token != NULL)
		json_object_set_new(v, "refresh_token",
		    json_string(t->refresh_token));
	else if (json_object_get(old, "refresh_token") != NULL)
		json_object_set(v, "refresh_token",
		    json_object_get(old, "refresh_token"));
	if (t->scope != NULL)
		json_object_set_new(v, "scope", json_string(t->scope));
	else if (json_object_get(old, "scope") != NULL)
		json_object_set(v, "scope", json_object_get(old, "scope"));
	if (t->id_token != NULL)
		json_object_set_new(v, "id_token", json_string(t->id_token));
	return v;
}

/* Seal and store new tokens inside the refresh transaction. */
static int
store_tokens(struct broker *b, struct store_tx *tx, const char *id,
    const json_t *values, int64_t expires_in, int forced)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	time_t		 exp = 0;
	int		 rv;

	if (vault_ad_credential(&ad, id) == -1)
		return VAULT_EINVAL;
	if ((rv = vault_seal_json(b->vault, &ad, values, sealed,
	    sizeof(sealed), &len)) != 0)
		return rv;
	if (expires_in >= 0)
		exp = time(NULL) + (time_t)expires_in;
	rv = store_tx_connection_tokens(tx, id, sealed, len,
	    vault_key_version(sealed, len), exp, forced);
	explicit_bzero(sealed, sizeof(sealed));
	return rv;
}

static void
backoff(int attempt, long retry_after)
{
	struct timespec	 ts;
	long		 ms = (long)BACKOFF_MS << attempt;

	if (retry_after > 0 && retry_after * 1000 > ms)
		ms = retry_after * 1000;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The token call, retried with backoff while the provider says later. */
static enum oauth_result
call_refresh(struct http_req *r, const json_t *provider, const char *rt,
    struct oauth_tokens *t, struct oauth_error *err, struct oauth_outcome *o)
{
	struct oauth_endpoints	 ep;
	enum oauth_result	 res = OAUTH_FATAL;
	const char		*prov;
	char			 secret[SECRET_MAX], why[256];
	int			 i;

	memset(t, 0, sizeof(*t));
	memset(o, 0, sizeof(*o));
	prov = json_string_value(json_object_get(provider, "id"));
	if (provider_secret_open(r->b, prov, secret, sizeof(secret)) != 0) {
		snprintf(o->why, sizeof(o->why), "client secret unusable");
		return OAUTH_RETRYABLE;
	}
	if (discovery_resolve(provider, &ep, why, sizeof(why)) != 0) {
		snprintf(o->why, sizeof(o->why), "discovery: %.160s", why);
		explicit_bzero(secret, sizeof(secret));
		return OAUTH_RETRYABLE;
	}
	for (i = 0; i < REFRESH_TRIES; i++) {
		if (i > 0) {
			oauth_tokens_free(t);
			backoff(i - 1, o->retry_after);
		}
		res = oauth_refresh(provider, &ep, secret[0] ? secret : NULL,
		    rt, t, err, o);
		if (res != OAUTH_RETRYABLE)
			break;
		log_kv(LOGL_WARN, "refresh: provider busy, retrying", "conn",
		    r->connection, "why", o->why, NULL);
	}
	explicit_bzero(secret, sizeof(secret));
	return res;
}

/* Swap the caller's values and view for fresh ones. */
static void
replace(json_t **values, json_t **view, json_t *nvalues, json_t *nview)
{
	json_decref(*values);
	json_decref(*view);
	*values = nvalues;
	*view = nview;
}

static enum MHD_Result
needs_reauth(struct http_req *r)
{
	return http_problem(r, MHD_HTTP_CONFLICT, "needs-reauth",
	    "Consent needed again", "the provider no longer accepts this "
	    "connection's grant; the user must connect it again");
}

/* The refresh itself, with the lock held and the connection re-read. */
static int
refresh_locked(struct http_req *r, struct store_tx *tx, const char *id,
    const json_t *provider, int force, const uint8_t *sealed, size_t len,
    json_t **values, json_t **view, enum MHD_Result *a)
{
	struct oauth_tokens	 t;
	struct oauth_error	 err;
	struct oauth_outcome	 o;
	enum oauth_result	 res;
	uint8_t			 again[VAULT_SEALED_MAX];
	size_t			 againlen;
	json_t			*nv, *nview = NULL;
	const char		*rt;
	int			 rv, valid = !force && still_valid(*view);

	if (json_is_true(json_object_get(*view, "needs_reauth"))) {
		store_tx_rollback(tx);
		if (valid)
			return 0;
		*a = needs_reauth(r);
		return -1;
	}
	if ((rt = json_string_value(json_object_get(*values,
	    "refresh_token"))) == NULL) {
		store_tx_rollback(tx);
		if (valid)
			return 0;
		*a = needs_reauth(r);
		return -1;
	}
	res = call_refresh(r, provider, rt, &t, &err, &o);
	metrics_refresh((int)res);
	switch (res) {
	case OAUTH_OK:
		nv = merge_tokens(*values, &t);
		rv = store_tokens(r->b, tx, id, nv, t.expires_in, force);
		oauth_tokens_free(&t);
		if (rv != 0 || (rv = store_tx_commit(tx)) != 0) {
			json_decref(nv);
			*a = http_unavailable(r, "the new token could not be "
			    "stored");
			return -1;
		}
		if (store_connection_get(r->b->db, id, &nview, NULL, 0,
		    NULL) != 0)
			nview = json_incref(*view);
		replace(values, view, nv, nview);
		store_access_log(r->b->db, r->client ? r->client->id : NULL,
		    id, "refresh", "ok", r->request_id);
		return 0;
	case OAUTH_INVALID_GRANT:
		oauth_tokens_free(&t);
		/* Marked only if nobody replaced the grant meanwhile. */
		if (store_tx_connection_get(tx, id, &nview, again,
		    sizeof(again), &againlen) == 0 && againlen == len &&
		    memcmp(again, sealed, len) == 0) {
			store_tx_connection_refresh_failed(tx, id,
			    "invalid_grant", 1, force);
			store_tx_commit(tx);
			log_kv(LOGL_WARN, "refresh: grant refused; connection "
			    "needs consent again", "conn", id, NULL);
			json_decref(nview);
			if (valid)
				return 0;
			*a = needs_reauth(r);
			return -1;
		}
		json_decref(nview);
		store_tx_rollback(tx);
		*a = http_unavailable(r, "the connection changed during the "
		    "refresh; try again");
		return -1;
	default:
		oauth_tokens_free(&t);
		store_tx_connection_refresh_failed(tx, id, o.why[0] ? o.why :
		    oauth_result_name(res), 0, force);
		store_tx_commit(tx);
		if (valid)
			return 0;
		*a = res == OAUTH_RETRYABLE ? http_unavailable(r, "the "
		    "provider did not refresh the token; try again later") :
		    http_problem(r, MHD_HTTP_BAD_GATEWAY, "refresh-failed",
		    "Refresh failed", "the provider refused to refresh the "
		    "token");
		return -1;
	}
}

int
refresh_due(const json_t *view, const json_t *provider)
{
	return expiring(view, provider);
}

int
refresh_if_needed(struct http_req *r, const char *id, const json_t *provider,
    int force, json_t **values, json_t **view, enum MHD_Result *a)
{
	struct store_tx	*tx;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*nview, *nvalues;
	int		 rv;

	if (!force && !expiring(*view, provider))
		return 0;
	if ((rv = store_tx_begin(r->b->db, &tx)) != 0 ||
	    (rv = store_refresh_lock(tx, id)) != 0) {
		if (tx != NULL)
			store_tx_rollback(tx);
		if (!force && still_valid(*view))
			return 0;
		*a = api_store_error(r, rv, "");
		return -1;
	}
	/* Re-read under the lock: a waiter finds the token fresh. */
	if ((rv = store_tx_connection_get(tx, id, &nview, sealed,
	    sizeof(sealed), &len)) != 0) {
		store_tx_rollback(tx);
		*a = api_store_error(r, rv, "no such connection");
		return -1;
	}
	if ((rv = open_values(r->b, id, sealed, len, &nvalues)) != 0) {
		json_decref(nview);
		store_tx_rollback(tx);
		*a = api_vault_error(r, rv);
		return -1;
	}
	replace(values, view, nvalues, nview);
	/* What the lock holder read may be newer than our cached copy. */
	cache_connection_forget(r->b->conns, id);
	if (!force && (!expiring(*view, provider) ||
	    (failed_recently(*view) && still_valid(*view)))) {
		store_tx_rollback(tx);
		return 0;
	}
	/* Forced refreshes: once per interval per connection, every broker. */
	if (force && time(NULL) - refresh_time(*view, "last_forced_at") <
	    REFRESH_FORCE_INTERVAL) {
		store_tx_rollback(tx);
		r->retry_after = REFRESH_FORCE_INTERVAL -
		    (long)(time(NULL) - refresh_time(*view, "last_forced_at"));
		*a = http_problem(r, MHD_HTTP_TOO_MANY_REQUESTS,
		    "rate-limited", "Too many refreshes", "this connection "
		    "was refreshed moments ago");
		return -1;
	}
	rv = refresh_locked(r, tx, id, provider, force, sealed, len, values,
	    view, a);
	cache_connection_forget(r->b->conns, id);	/* committed or not */
	explicit_bzero(sealed, sizeof(sealed));
	return rv;
}

const char *
refresh_revoke(struct http_req *r, const json_t *provider,
    const json_t *values, char *buf, size_t bufsz)
{
	struct oauth_endpoints	 ep;
	struct oauth_error	 err;
	struct oauth_outcome	 o;
	const char		*tok, *hint = "refresh_token", *prov;
	char			 secret[SECRET_MAX], why[256];
	enum oauth_result	 res;

	prov = json_string_value(json_object_get(provider, "id"));
	if (discovery_resolve(provider, &ep, why, sizeof(why)) != 0) {
		snprintf(buf, bufsz, "revocation failed: discovery: %s", why);
		return buf;
	}
	if (ep.revocation[0] == '\0')
		return "no revocation endpoint";
	if ((tok = json_string_value(json_object_get(values,
	    "refresh_token"))) == NULL) {
		tok = json_string_value(json_object_get(values,
		    "access_token"));
		hint = "access_token";
	}
	if (tok == NULL)
		return "nothing to revoke";
	if (provider_secret_open(r->b, prov, secret, sizeof(secret)) != 0) {
		snprintf(buf, bufsz, "revocation failed: client secret "
		    "unusable");
		return buf;
	}
	res = oauth_revoke(provider, &ep, secret[0] ? secret : NULL, tok,
	    hint, &err, &o);
	explicit_bzero(secret, sizeof(secret));
	if (res == OAUTH_OK)
		return "revoked";
	snprintf(buf, bufsz, "revocation failed: %s", o.why[0] ? o.why :
	    oauth_result_name(res));
	return buf;
}

enum MHD_Result
route_token_refresh(struct http_req *r)
{
	enum MHD_Result	 a;
	const char	*id = r->params[0];

	r->connection = id;
	if (auth_require(r, OP_TOKEN_REFRESH, id, &a) == -1)
		return a;
	if (!http_id_valid(id, 128))
		return http_not_found(r, "no such connection");
	return api_token(r, id, 1);
}
