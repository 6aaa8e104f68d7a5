/*
 * api.c: the internal API the gateway calls (unpriv/API.md).  Clients are
 * authenticated here, scopes are checked before anything is read or
 * opened, and every read that lets a credential leave the broker is
 * recorded in access_log (through the queue of accesslog.h: off the
 * request path, and the keyholder's audit chain has each of them too).
 */
#include <sys/types.h>
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "unpriv/accesslog.h"
#include "unpriv/api.h"
#include "unpriv/auth.h"
#include "unpriv/cache.h"
#include "unpriv/consent.h"
#include "unpriv/broker.h"
#include "unpriv/db.h"
#include "unpriv/http.h"
#include "unpriv/khclient.h"
#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/refresh.h"
#include "unpriv/schema.h"
#include "unpriv/session.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

#define PROBE_LEN	32
#define OWNER_MAX	128

/* Map a store error to an answer. */
enum MHD_Result
api_store_error(struct http_req *r, int rv, const char *what)
{
	switch (rv) {
	case STORE_NOTFOUND:
		return http_not_found(r, what);
	case STORE_EXISTS:
		return http_problem(r, MHD_HTTP_CONFLICT, "exists",
		    "Already exists", what);
	case STORE_CONFLICT:
		return http_problem(r, MHD_HTTP_CONFLICT, "in-use", "In use",
		    what);
	case STORE_UNAVAIL:
		return http_unavailable(r, "the database is unavailable");
	default:
		return http_internal(r);
	}
}

/* Map a vault error to an answer. */
enum MHD_Result
api_vault_error(struct http_req *r, int rv)
{
	switch (rv) {
	case VAULT_EUNAVAIL:
		return http_unavailable(r, "the keyholder is unavailable");
	case VAULT_EOPEN:
		log_warnx("request %s: a sealed value does not open where "
		    "it is stored", r->request_id);
		return http_problem(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "sealed-value", "Stored credential unusable",
		    "a stored value does not open where it is");
	default:
		return http_internal(r);
	}
}

/* A change: recorded before the request is answered. */
static void
access_log(struct http_req *r, const char *conn, const char *op,
    const char *outcome)
{
	if (store_access_log(r->b->db, r->client ? r->client->id : NULL, conn,
	    op, outcome, r->request_id) != 0)
		log_warnx("access_log: cannot record %s of %s", op, conn);
}

/* A read of a credential: queued, written within ACCESSLOG_FLUSH_MS. */
static void
access_read(struct http_req *r, const char *conn, const char *outcome)
{
	if (r->b->alog == NULL) {
		access_log(r, conn, "token", outcome);
		return;
	}
	accesslog_add(r->b->alog, r->client ? r->client->id : NULL, conn,
	    "token", outcome, r->request_id);
}

/*
 * GET /health: seal random bytes and open them again, so a 200 means the
 * keyholder is up, holds a keyring, and both directions of the channel
 * carry the right bytes.
 */
static enum MHD_Result
route_health(struct http_req *r)
{
	static const struct kh_ad ad = {
		.purpose = "health", .table = "health", .row = "probe",
		.column = "value",
	};
	unsigned char	 probe[PROBE_LEN], opened[PROBE_LEN];
	unsigned char	 sealed[PROBE_LEN + KH_SEAL_OVERHEAD];
	size_t		 sealedlen, openedlen = 0;
	int		 rv, same = 0;

	if (getrandom(probe, sizeof(probe), 0) != (ssize_t)sizeof(probe))
		return http_internal(r);
	rv = kh_seal(r->b->kh, &ad, probe, sizeof(probe), sealed,
	    sizeof(sealed), &sealedlen, NULL);
	if (rv == 0)
		rv = kh_open(r->b->kh, &ad, sealed, sealedlen, opened,
		    sizeof(opened), &openedlen);
	if (rv == 0)
		same = openedlen == sizeof(probe) &&
		    CRYPTO_memcmp(probe, opened, sizeof(probe)) == 0;
	explicit_bzero(probe, sizeof(probe));
	explicit_bzero(opened, sizeof(opened));
	if (rv != 0) {
		log_warnx("health: %s", kh_strerror(rv));
		return http_unavailable(r, rv == -1 ?
		    "the keyholder did not answer" :
		    "the keyholder refused the health probe");
	}
	if (!same) {
		log_warnx("health: the probe did not open to itself");
		return http_unavailable(r, "the health probe did not round-trip");
	}
	return http_json(r, MHD_HTTP_OK, json_pack("{s:s, s:s}", "status",
	    "ok", "keyholder", "ok"));
}

/* GET /ready: the database and the keyholder both answer. */
static enum MHD_Result
route_ready(struct http_req *r)
{
	int	 db = db_ping(r->b->db) == 0;
	int	 kh = kh_health(r->b->kh) == 0;

	if (!db || !kh)
		return http_unavailable(r, !db ? "the database is unavailable" :
		    "the keyholder is unavailable");
	return http_json(r, MHD_HTTP_OK, json_pack("{s:s, s:s, s:s}",
	    "status", "ready", "database", "ok", "keyholder", "ok"));
}

/*
 * Who is asking: a client (dro_ token) or an end user's browser holding a
 * connect session (drs_ token).  0 with *session set for the latter, or
 * -1 once answered.
 */
static int
caller(struct http_req *r, json_t **session, enum MHD_Result *a)
{
	const char	*tok;

	*session = NULL;
	if ((tok = session_bearer(r)) != NULL)
		return session_lookup(r, tok, session, a);
	return auth_client(r, a);
}

static enum MHD_Result
session_forbidden(struct http_req *r)
{
	return http_problem(r, MHD_HTTP_FORBIDDEN, "forbidden", "Forbidden",
	    "the connect session does not cover this request");
}

/* The provider named by the first path parameter, or an answer. */
static int
get_provider(struct http_req *r, const char *id, json_t **doc,
    enum MHD_Result *answered)
{
	int	 rv, has_secret;

	if (!provider_id_ok(id)) {
		*answered = http_not_found(r, "no such provider");
		return -1;
	}
	if ((rv = cache_provider_get(r->b->providers, r->b->db, id, doc,
	    &has_secret)) != 0) {
		*answered = api_store_error(r, rv, "no such provider");
		return -1;
	}
	return 0;
}

static enum MHD_Result
route_providers(struct http_req *r)
{
	enum MHD_Result	 a;
	json_t		*all, *out, *v, *session;
	const char	*id;
	size_t		 i;
	int		 rv;

	if (caller(r, &session, &a) == -1)
		return a;
	if ((rv = store_provider_list(r->b->db, &all)) != 0) {
		json_decref(session);
		return api_store_error(r, rv, "");
	}
	out = json_array();
	json_array_foreach(all, i, v) {
		id = json_string_value(json_object_get(v, "id"));
		if (session == NULL || (id != NULL &&
		    session_allows_provider(session, id)))
			json_array_append_new(out, provider_public_view(v));
	}
	json_decref(all);
	json_decref(session);
	return http_json(r, MHD_HTTP_OK, json_pack("{s:o}", "providers", out));
}

/* The provider of the path, for a client or an allowing session. */
static int
path_provider(struct http_req *r, json_t **doc, enum MHD_Result *a)
{
	json_t	*session;
	int	 ok;

	if (caller(r, &session, a) == -1)
		return -1;
	ok = session == NULL || session_allows_provider(session,
	    r->params[0]);
	json_decref(session);
	if (!ok) {
		*a = session_forbidden(r);
		return -1;
	}
	return get_provider(r, r->params[0], doc, a);
}

static enum MHD_Result
route_provider(struct http_req *r)
{
	enum MHD_Result	 a;
	json_t		*doc;

	if (path_provider(r, &doc, &a) == -1)
		return a;
	a = http_json(r, MHD_HTTP_OK, provider_public_view(doc));
	json_decref(doc);
	return a;
}

static enum MHD_Result
route_provider_schema(struct http_req *r)
{
	enum MHD_Result	 a;
	json_t		*doc, *schema;

	if (path_provider(r, &doc, &a) == -1)
		return a;
	if ((schema = json_object_get(doc, "credentials")) == NULL) {
		json_decref(doc);
		return http_problem(r, MHD_HTTP_NOT_FOUND, "no-schema",
		    "No capture schema", "this provider connects through "
		    "OAuth consent, not a form");
	}
	a = http_json(r, MHD_HTTP_OK, json_incref(schema));
	json_decref(doc);
	return a;
}

int
api_owner_ok(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] == 0x7f)
			return 0;
	return n > 0 && n <= OWNER_MAX;
}

/* A connection id for a capture that did not name one. */
static void
connection_new_id(const char *provider, char *id, size_t sz)
{
	unsigned char	 rnd[6];
	size_t		 i, n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	n = (size_t)snprintf(id, sz, "%s-", provider);
	for (i = 0; i < sizeof(rnd) && n + 2 < sz; i++, n += 2)
		snprintf(id + n, sz - n, "%02x", rnd[i]);
}

enum MHD_Result
api_invalid(struct http_req *r, const char *path, const char *reason)
{
	return http_problem_errors(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
	    "invalid-request", "Invalid request", "the request has an "
	    "invalid field", json_pack("[{s:s, s:s}]", "path", path,
	    "reason", reason));
}

/*
 * Seal the captured values and store the connection, replacing one of the
 * same id atomically.
 */
static enum MHD_Result
capture_store(struct http_req *r, const char *conn, const char *prov,
    const char *owner, const json_t *schema, const json_t *values)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*meta, *view;
	int		 rv;

	if (vault_ad_credential(&ad, conn) == -1)
		return api_invalid(r, "$.connection", "not a usable id");
	rv = vault_seal_json(r->b->vault, &ad, values, sealed, sizeof(sealed),
	    &len);
	if (rv != 0)
		return rv == VAULT_EINVAL ? api_invalid(r,
		    "$.credentials", "too large to store") :
		    api_vault_error(r, rv);
	meta = schema_public_values(schema, values);
	rv = store_connection_upsert(r->b->db, conn, prov, owner, meta,
	    sealed, len, vault_key_version(sealed, len), 0, &view);
	json_decref(meta);
	explicit_bzero(sealed, sizeof(sealed));
	cache_connection_forget(r->b->conns, conn);
	if (rv != 0)
		return api_store_error(r, rv, "cannot store the connection");
	access_log(r, conn, "capture", "ok");
	return http_json(r, MHD_HTTP_CREATED, view);
}

/*
 * A capture from the connect page: the session fixes the owner, and the
 * connection when it names one; the provider must be one it allows.
 */
static int
capture_session(struct http_req *r, const char *tok, const char *prov,
    const char **conn, const char **owner, json_t **session,
    enum MHD_Result *a)
{
	const char	*sconn;

	if (session_lookup(r, tok, session, a) == -1)
		return -1;
	if (!session_allows_provider(*session, prov)) {
		*a = session_forbidden(r);
		return -1;
	}
	sconn = json_string_value(json_object_get(*session, "connection"));
	if (sconn != NULL) {
		if (*conn != NULL && strcmp(*conn, sconn) != 0) {
			*a = session_forbidden(r);
			return -1;
		}
		*conn = sconn;
	}
	*owner = json_string_value(json_object_get(*session, "owner"));
	return 0;
}

/* POST /connections: schema-driven capture of non-OAuth credentials. */
static enum MHD_Result
route_capture(struct http_req *r)
{
	struct schema_errors	 errs;
	enum MHD_Result		 a;
	const char		*prov, *conn, *owner, *tok;
	json_t			*doc, *schema, *values, *session = NULL;
	char			 idbuf[129];

	tok = session_bearer(r);
	prov = json_string_value(json_object_get(r->body, "provider"));
	conn = json_string_value(json_object_get(r->body, "connection"));
	owner = json_string_value(json_object_get(r->body, "owner"));
	values = json_object_get(r->body, "credentials");
	if (prov == NULL || !provider_id_ok(prov))
		return api_invalid(r, "$.provider", "a provider id is "
		    "required");
	if (json_object_get(r->body, "connection") != NULL && (conn == NULL ||
	    !payload_connection_ok(conn)))
		return api_invalid(r, "$.connection", "1-128 of "
		    "[A-Za-z0-9._-]");
	if (tok == NULL && (owner == NULL || !api_owner_ok(owner)))
		return api_invalid(r, "$.owner", "an owner (1-128 "
		    "printable characters) is required");
	if (!json_is_object(values))
		return api_invalid(r, "$.credentials", "an object of the "
		    "values the provider's schema asks for is required");
	if (json_object_size(r->body) > 4)
		return api_invalid(r, "$", "unknown fields");
	if (tok != NULL && capture_session(r, tok, prov, &conn, &owner,
	    &session, &a) == -1) {
		json_decref(session);
		return a;
	}
	/* Our own copy: the access log reads it after the request. */
	if (conn == NULL)
		connection_new_id(prov, idbuf, sizeof(idbuf));
	else
		snprintf(idbuf, sizeof(idbuf), "%s", conn);
	conn = idbuf;
	r->connection = NULL;
	if ((tok == NULL && auth_require(r, OP_CONNECTIONS_WRITE, conn,
	    &a) == -1) || get_provider(r, prov, &doc, &a) == -1) {
		json_decref(session);
		return a;
	}
	if ((schema = json_object_get(doc, "credentials")) == NULL) {
		a = api_invalid(r, "$.provider", "this provider connects "
		    "through OAuth consent");
	} else {
		memset(&errs, 0, sizeof(errs));
		if (schema_validate(schema, values, &errs) != 0)
			a = http_problem_errors(r,
			    MHD_HTTP_UNPROCESSABLE_CONTENT,
			    "invalid-credentials", "Invalid credentials",
			    "the values do not match the provider's schema",
			    schema_errors_json(&errs));
		else
			a = capture_store(r, conn, prov, owner, schema,
			    values);
	}
	json_decref(doc);
	json_decref(session);
	return a;
}

static int
may_see(const struct client *c, const char *conn)
{
	return auth_allows(c, OP_TOKEN_READ, conn) ||
	    auth_allows(c, OP_CONNECTIONS_WRITE, conn);
}

static enum MHD_Result
route_connections(struct http_req *r)
{
	enum MHD_Result	 a;
	json_t		*all, *out, *v;
	const char	*id;
	size_t		 i;
	int		 rv;

	if (auth_client(r, &a) == -1)
		return a;
	if (!may_see(r->client, NULL))
		return http_problem(r, MHD_HTTP_FORBIDDEN, "forbidden",
		    "Forbidden", "the client's scopes do not cover this "
		    "request");
	if ((rv = store_connection_list(r->b->db, &all)) != 0)
		return api_store_error(r, rv, "");
	out = json_array();
	json_array_foreach(all, i, v) {
		id = json_string_value(json_object_get(v, "connection"));
		if (id != NULL && may_see(r->client, id))
			json_array_append(out, v);
	}
	json_decref(all);
	return http_json(r, MHD_HTTP_OK, json_pack("{s:o}", "connections",
	    out));
}

static enum MHD_Result
route_connection(struct http_req *r)
{
	enum MHD_Result	 a;
	json_t		*view;
	const char	*id = r->params[0];
	int		 rv;

	r->connection = id;
	if (auth_client(r, &a) == -1)
		return a;
	if (!payload_connection_ok(id) || !may_see(r->client, id))
		return http_problem(r, MHD_HTTP_FORBIDDEN, "forbidden",
		    "Forbidden", "the client's scopes do not cover this "
		    "connection");
	if ((rv = store_connection_get(r->b->db, id, &view, NULL, 0,
	    NULL)) != 0)
		return api_store_error(r, rv, "no such connection");
	return http_json(r, MHD_HTTP_OK, view);
}

/*
 * RFC 7009 at the provider first, for OAuth connections; whatever it
 * says, the local delete goes ahead, and the outcome is recorded.  Any
 * failure here only means there is nothing to revoke: it answers nothing.
 */
static void
revoke_before_delete(struct http_req *r, const char *id)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*provider = NULL, *values = NULL, *view = NULL;
	const char	*prov, *mode, *outcome;
	char		 buf[256];
	int		 has;

	if (store_connection_get(r->b->db, id, &view, sealed, sizeof(sealed),
	    &len) != 0 || len == 0)
		goto done;
	prov = json_string_value(json_object_get(view, "provider"));
	if (prov == NULL || cache_provider_get(r->b->providers, r->b->db, prov,
	    &provider, &has) != 0)
		goto done;
	mode = json_string_value(json_object_get(provider, "auth_mode"));
	if (mode == NULL || strcmp(mode, "oauth2") != 0)
		goto done;
	if (vault_ad_credential(&ad, id) == -1 || vault_open_json(r->b->vault,
	    &ad, sealed, len, &values) != 0)
		outcome = "revocation failed: the tokens do not open";
	else
		outcome = refresh_revoke(r, provider, values, buf, sizeof(buf));
	access_log(r, id, "revoke", outcome);
	log_kv(LOGL_INFO, "disconnect", "conn", id, "revocation", outcome,
	    NULL);
done:
	explicit_bzero(sealed, sizeof(sealed));
	json_decref(values);
	json_decref(provider);
	json_decref(view);
}

static enum MHD_Result
route_connection_delete(struct http_req *r)
{
	enum MHD_Result	 a;
	const char	*id = r->params[0];
	int		 rv;

	r->connection = id;
	if (auth_require(r, OP_CONNECTIONS_WRITE, id, &a) == -1)
		return a;
	if (!payload_connection_ok(id))
		return http_not_found(r, "no such connection");
	revoke_before_delete(r, id);
	rv = store_connection_delete(r->b->db, id);
	cache_connection_forget(r->b->conns, id);
	if (rv != 0)
		return api_store_error(r, rv, "no such connection");
	access_log(r, id, "delete", "ok");
	return http_empty(r, MHD_HTTP_NO_CONTENT);
}

/* A connection's view, its provider and its sealed credential. */
static int
connection_sealed(struct http_req *r, const char *id, json_t **provider,
    json_t **view, uint8_t *sealed, size_t sealedsz, size_t *len,
    enum MHD_Result *answered)
{
	const char	*prov;
	int		 rv;

	*provider = *view = NULL;
	if ((rv = cache_connection_get(r->b->conns, r->b->db, id, view, sealed,
	    sealedsz, len)) != 0) {
		*answered = api_store_error(r, rv, "no such connection");
		return -1;
	}
	prov = json_string_value(json_object_get(*view, "provider"));
	if (prov == NULL || get_provider(r, prov, provider, answered) == -1)
		goto fail;
	if (*len == 0) {
		/* A consent that failed, or one in progress. */
		*answered = http_problem(r, MHD_HTTP_CONFLICT, "not-connected",
		    "Not connected", "this connection holds no credential");
		goto fail;
	}
	return 0;
fail:
	json_decref(*view);
	json_decref(*provider);
	*view = *provider = NULL;
	return -1;
}

/* A credential that did not open: recorded, and why answered. */
static enum MHD_Result
open_failed(struct http_req *r, const char *id, int rv)
{
	access_read(r, id, rv == VAULT_EUNAVAIL ? "keyholder unavailable" :
	    "does not open");
	return api_vault_error(r, rv == VAULT_EUNAVAIL ? rv : VAULT_EOPEN);
}

/* Open a connection's values: metadata and secrets merged. */
static int
connection_values(struct http_req *r, const char *id, json_t **provider,
    json_t **values, json_t **view, enum MHD_Result *answered)
{
	struct vault_ad	 ad;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	int		 rv = -1;

	*values = NULL;
	if (connection_sealed(r, id, provider, view, sealed, sizeof(sealed),
	    &len, answered) == -1)
		return -1;
	if (vault_ad_credential(&ad, id) == -1)
		rv = VAULT_EINVAL;
	else
		rv = vault_open_json(r->b->vault, &ad, sealed, len, values);
	if (rv != VAULT_OK) {
		*answered = open_failed(r, id, rv);
		rv = -1;
		json_decref(*view);
		json_decref(*provider);
		*view = *provider = NULL;
	}
	explicit_bzero(sealed, sizeof(sealed));
	return rv;
}

/* The values a payload is built from: for oauth2, the access token only. */
static json_t *
payload_values(const json_t *provider, json_t *values)
{
	const char	*mode;

	mode = json_string_value(json_object_get(provider, "auth_mode"));
	if (mode == NULL || strcmp(mode, "oauth2") != 0)
		return json_incref(values);
	return json_pack("{s:O, s:O*}", "access_token", json_object_get(values,
	    "access_token"), "token_type", json_object_get(values,
	    "token_type"));
}

static int
is_oauth2(const json_t *provider)
{
	const char	*mode;

	mode = json_string_value(json_object_get(provider, "auth_mode"));
	return mode != NULL && strcmp(mode, "oauth2") == 0;
}

/* The payload of DESIGN §8 from opened values, as the answer. */
static enum MHD_Result
token_answer(struct http_req *r, const char *id, const json_t *provider,
    json_t *values, const json_t *view)
{
	enum MHD_Result	 a;
	json_t		*out, *pv;
	const char	*exp;
	char		 reason[256];

	exp = json_string_value(json_object_get(view, "expires_at"));
	pv = payload_values(provider, values);
	if (pv == NULL || payload_build(provider, id, pv, exp, &out,
	    reason, sizeof(reason)) == -1) {
		log_warnx("token %s: %s", id, pv ? reason : "no access token");
		access_read(r, id, "unusable");
		a = http_problem(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "unusable-credential", "Credential unusable",
		    "the stored credential cannot make a payload");
	} else {
		access_read(r, id, "ok");
		a = http_json(r, MHD_HTTP_OK, out);
	}
	json_decref(pv);
	return a;
}

/*
 * The generic credential payload of DESIGN §8 for connection id, OAuth
 * tokens refreshed first when they expire soon (or always, with force).
 */
enum MHD_Result
api_token(struct http_req *r, const char *id, int force)
{
	enum MHD_Result	 a;
	json_t		*provider, *values, *view;

	if (!payload_connection_ok(id))
		return http_not_found(r, "no such connection");
	if (connection_values(r, id, &provider, &values, &view, &a) == -1)
		return a;
	if (force && !is_oauth2(provider))
		a = http_problem(r, MHD_HTTP_CONFLICT, "not-refreshable",
		    "Not refreshable", "only OAuth connections refresh");
	else if (is_oauth2(provider) && refresh_if_needed(r, id, provider,
	    force, &values, &view, &a) == -1)
		access_read(r, id, "refresh failed");
	else
		a = token_answer(r, id, provider, values, view);
	json_decref(values);
	json_decref(provider);
	json_decref(view);
	return a;
}

/*
 * A GET /token whose OPEN is on the wire while its connection waits
 * (http_suspend): the sealed copy is for the slow way (vault.h).
 */
struct token_wait {
	struct http_req		*r;
	json_t			*provider;
	json_t			*view;
	struct vault_ad		 ad;
	struct kh_aopen		*opened;	/* set by token_opened() */
	size_t			 len;
	uint8_t			 sealed[];	/* len bytes */
};

static void
token_wait_free(struct token_wait *tw)
{
	json_decref(tw->provider);
	json_decref(tw->view);
	explicit_bzero(tw, sizeof(*tw) + tw->len);
	free(tw);
}

/* The keyholder's thread: note the answer, wake the connection. */
static void
token_opened(void *arg, struct kh_aopen *a)
{
	struct token_wait	*tw = arg;

	tw->opened = a;
	http_resume(tw->r);
}

/* The connection's thread again. */
static enum MHD_Result
token_resumed(struct http_req *r, void *arg)
{
	struct token_wait	*tw = arg;
	const char		*id = r->params[0];
	enum MHD_Result		 a;
	json_t			*values;
	int			 rv = VAULT_EUNAVAIL;

	if (tw->opened != NULL)
		rv = vault_open_finish_json(r->b->vault, &tw->ad, tw->sealed,
		    tw->len, tw->opened, &values);
	if (rv != VAULT_OK)
		a = open_failed(r, id, rv);
	else {
		a = token_answer(r, id, tw->provider, values, tw->view);
		json_decref(values);
	}
	token_wait_free(tw);
	return a;
}

/*
 * GET /token/{c} without a refresh due: the connection waits for the
 * keyholder and the thread serves others meanwhile.  Anything else (a
 * refresh, which calls the provider) takes api_token()'s thread.
 */
static enum MHD_Result
token_async(struct http_req *r, const char *id)
{
	enum MHD_Result		 a;
	struct token_wait	*tw;
	json_t			*provider, *view;
	uint8_t			 sealed[VAULT_SEALED_MAX];
	size_t			 len;

	if (!payload_connection_ok(id))
		return http_not_found(r, "no such connection");
	if (connection_sealed(r, id, &provider, &view, sealed, sizeof(sealed),
	    &len, &a) == -1)
		return a;
	/* Sized to the value: a large block per read costs malloc more. */
	if ((tw = calloc(1, sizeof(*tw) + len)) == NULL) {
		json_decref(provider);
		json_decref(view);
		return http_internal(r);
	}
	tw->r = r;
	tw->provider = provider;
	tw->view = view;
	tw->len = len;
	memcpy(tw->sealed, sealed, len);
	if ((is_oauth2(provider) && refresh_due(view, provider)) ||
	    vault_ad_credential(&tw->ad, id) == -1) {
		token_wait_free(tw);
		return api_token(r, id, 0);
	}
	/* Suspended first: the answer may come before the start returns. */
	if (http_suspend(r, token_resumed, tw) == -1) {
		token_wait_free(tw);
		return api_token(r, id, 0);
	}
	if (vault_open_start(r->b->vault, &tw->ad, tw->sealed, tw->len,
	    token_opened, tw) == NULL) {
		log_warn("token %s: keyholder", id);
		http_resume(r);
	}
	return MHD_YES;
}

/* GET /token/{c} */
static enum MHD_Result
route_token(struct http_req *r)
{
	enum MHD_Result	 a;
	const char	*id = r->params[0];

	r->connection = id;
	if (auth_require(r, OP_TOKEN_READ, id, &a) == -1)
		return a;
	return token_async(r, id);
}

const struct http_route api_routes[] = {
	{ "GET",	"/health",			0, route_health },
	{ "GET",	"/ready",			0, route_ready },
	{ "GET",	"/providers",			0, route_providers },
	{ "GET",	"/providers/{}",		0, route_provider },
	{ "GET",	"/providers/{}/schema",		0, route_provider_schema },
	{ "POST",	"/connections",			HTTP_JSON, route_capture },
	{ "GET",	"/connections",			0, route_connections },
	{ "GET",	"/connections/{}",		0, route_connection },
	{ "DELETE",	"/connections/{}",		0, route_connection_delete },
	{ "GET",	"/token/{}",			0, route_token },
	{ "POST",	"/connect/sessions",		HTTP_JSON, route_session_new },
	{ "POST",	"/token/{}/refresh",		0, route_token_refresh },
	{ "GET",	"/auth/start",			0, route_auth_start },
	{ "POST",	"/auth/start",			HTTP_JSON, route_auth_start_post },
	{ "GET",	"/auth/callback/{}",		0, route_auth_callback },
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
