/*
 * admin.c: the admin API dromosctl calls (unpriv/API.md).  There is no
 * bearer token here: who may connect is decided by the socket's owner,
 * group and mode, as for bgpctl and bgpd.
 */
#include <sys/types.h>

#include <ctype.h>
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
#include "unpriv/http.h"
#include "unpriv/khclient.h"
#include "unpriv/provider.h"
#include "unpriv/rewrap.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

/* GET /access-log/{connection}: the newest rows shown. */
#define ACCESS_LOG_SHOWN	100

static enum MHD_Result
invalid(struct http_req *r, const char *type, const char *title,
    const char *path, const char *reason)
{
	return http_problem_errors(r, MHD_HTTP_UNPROCESSABLE_CONTENT, type,
	    title, "the document has an invalid field", json_pack(
	    "[{s:s, s:s}]", "path", path, "reason", reason));
}

/*
 * Check a provider document and split off its client secret, sealed under
 * the provider's row.  0, or -1 once answered.
 */
static int
provider_prepare(struct http_req *r, json_t **norm, uint8_t *sealed,
    size_t sealedsz, size_t *sealedlen, enum MHD_Result *a)
{
	struct vault_ad	 ad;
	const char	*secret, *id;
	char		 path[256], reason[256];
	int		 rv;

	*sealedlen = 0;
	if (provider_check(r->body, norm, path, sizeof(path), reason,
	    sizeof(reason)) != 0) {
		*a = invalid(r, "invalid-provider", "Invalid provider", path,
		    reason);
		return -1;
	}
	id = json_string_value(json_object_get(*norm, "id"));
	if ((secret = json_string_value(json_object_get(*norm,
	    "client_secret"))) == NULL)
		return 0;
	if (vault_ad_client_secret(&ad, id) == -1)
		rv = VAULT_EINVAL;
	else
		rv = vault_seal_str(r->b->vault, &ad, secret, sealed, sealedsz,
		    sealedlen);
	json_object_del(*norm, "client_secret");
	if (rv != 0) {
		json_decref(*norm);
		*a = api_vault_error(r, rv);
		return -1;
	}
	return 0;
}

static enum MHD_Result
provider_answer(struct http_req *r, unsigned int status, const char *id)
{
	json_t	*doc;
	int	 rv, has_secret;

	if ((rv = store_provider_get(r->b->db, id, &doc, &has_secret)) != 0)
		return api_store_error(r, rv, "no such provider");
	return http_json(r, status, provider_admin_view(doc, has_secret));
}

static enum MHD_Result
route_provider_add(struct http_req *r)
{
	enum MHD_Result	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*norm;
	const char	*id;
	int		 rv;

	if (provider_prepare(r, &norm, sealed, sizeof(sealed), &len, &a) == -1)
		return a;
	id = json_string_value(json_object_get(norm, "id"));
	rv = store_provider_insert(r->b->db, id, json_string_value(
	    json_object_get(norm, "auth_mode")), norm, len ? sealed : NULL,
	    len);
	if (rv != 0) {
		json_decref(norm);
		return api_store_error(r, rv, "a provider with that id exists");
	}
	cache_provider_forget(r->b->providers, id);
	log_info("provider %s added", id);
	a = provider_answer(r, MHD_HTTP_CREATED, id);
	json_decref(norm);
	return a;
}

static enum MHD_Result
route_provider_update(struct http_req *r)
{
	enum MHD_Result	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*norm;
	const char	*id;
	int		 rv;

	if (provider_prepare(r, &norm, sealed, sizeof(sealed), &len, &a) == -1)
		return a;
	id = json_string_value(json_object_get(norm, "id"));
	if (strcmp(id, r->params[0]) != 0) {
		json_decref(norm);
		return invalid(r, "invalid-provider", "Invalid provider",
		    "$.id", "must equal the provider named in the path");
	}
	rv = store_provider_update(r->b->db, id, json_string_value(
	    json_object_get(norm, "auth_mode")), norm, len ? sealed : NULL,
	    len);
	/* Whatever the outcome: the write may have happened. */
	cache_provider_forget(r->b->providers, id);
	if (rv != 0) {
		json_decref(norm);
		return api_store_error(r, rv, "no such provider");
	}
	log_info("provider %s updated", id);
	a = provider_answer(r, MHD_HTTP_OK, id);
	json_decref(norm);
	return a;
}

static enum MHD_Result
route_provider_list(struct http_req *r)
{
	json_t	*all, *out, *v;
	size_t	 i;
	int	 rv;

	if ((rv = store_provider_list(r->b->db, &all)) != 0)
		return api_store_error(r, rv, "");
	out = json_array();
	json_array_foreach(all, i, v)
		json_array_append_new(out, provider_admin_view(v,
		    json_is_true(json_object_get(v, "has_client_secret"))));
	json_decref(all);
	return http_json(r, MHD_HTTP_OK, json_pack("{s:o}", "providers", out));
}

static enum MHD_Result
route_provider_show(struct http_req *r)
{
	if (!provider_id_ok(r->params[0]))
		return http_not_found(r, "no such provider");
	return provider_answer(r, MHD_HTTP_OK, r->params[0]);
}

static enum MHD_Result
route_provider_remove(struct http_req *r)
{
	int	 rv;

	if (!provider_id_ok(r->params[0]))
		return http_not_found(r, "no such provider");
	rv = store_provider_delete(r->b->db, r->params[0]);
	cache_provider_forget(r->b->providers, r->params[0]);
	if (rv != 0)
		return api_store_error(r, rv, rv == STORE_CONFLICT ?
		    "connections still use this provider" :
		    "no such provider");
	log_info("provider %s removed", r->params[0]);
	return http_empty(r, MHD_HTTP_NO_CONTENT);
}

static int
client_name_ok(const char *s)
{
	return http_id_valid(s, AUTH_NAME_MAX);
}

/* POST /clients: a new API client; its token is shown this once. */
static enum MHD_Result
route_client_add(struct http_req *r)
{
	struct scope	 sc;
	const char	*name, *scopes[AUTH_SCOPES_MAX];
	json_t		*arr, *v, *out;
	char		 id[AUTH_ID_LEN + 1], token[AUTH_TOKEN_LEN + 1];
	char		 path[32];
	uint8_t		 hash[AUTH_HASH_LEN];
	size_t		 i, n = 0;
	int		 rv;

	name = json_string_value(json_object_get(r->body, "name"));
	arr = json_object_get(r->body, "scopes");
	if (name == NULL || !client_name_ok(name))
		return invalid(r, "invalid-client", "Invalid client", "$.name",
		    "1-64 of [A-Za-z0-9._-]");
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > AUTH_SCOPES_MAX)
		return invalid(r, "invalid-client", "Invalid client",
		    "$.scopes", "1-32 scopes are required");
	json_array_foreach(arr, i, v) {
		snprintf(path, sizeof(path), "$.scopes[%zu]", i);
		if (!json_is_string(v) || auth_scope_parse(json_string_value(v),
		    &sc) == -1)
			return invalid(r, "invalid-client", "Invalid client",
			    path, "OPERATION[:PATTERN] with a known operation");
		scopes[n++] = json_string_value(v);
	}
	if (json_object_size(r->body) != 2)
		return invalid(r, "invalid-client", "Invalid client", "$",
		    "only name and scopes are allowed");
	if (auth_token_new(id, token, sizeof(token), hash) == -1)
		return http_internal(r);
	if ((rv = store_client_insert(r->b->db, id, name, hash, scopes,
	    n, &out)) != 0) {
		explicit_bzero(token, sizeof(token));
		return api_store_error(r, rv, "a client with that name exists");
	}
	log_kv(LOGL_INFO, "client added", "name", name, "id", id, NULL);
	json_object_set_new(out, "token", json_string(token));
	explicit_bzero(token, sizeof(token));
	return http_json(r, MHD_HTTP_CREATED, out);
}

static enum MHD_Result
route_client_list(struct http_req *r)
{
	json_t	*all;
	int	 rv;

	if ((rv = store_client_list(r->b->db, &all)) != 0)
		return api_store_error(r, rv, "");
	return http_json(r, MHD_HTTP_OK, json_pack("{s:o}", "clients", all));
}

static enum MHD_Result
route_client_revoke(struct http_req *r)
{
	int	 rv;

	if (!client_name_ok(r->params[0]))
		return http_not_found(r, "no such client");
	rv = store_client_revoke(r->b->db, r->params[0]);
	/* Keyed by token hash, not name: forget every client. */
	cache_clear(r->b->clients);
	if (rv != 0)
		return api_store_error(r, rv, "no such client");
	log_kv(LOGL_INFO, "client revoked", "name", r->params[0], NULL);
	return http_empty(r, MHD_HTTP_NO_CONTENT);
}

static enum MHD_Result
route_connection_list(struct http_req *r)
{
	json_t	*all;
	int	 rv;

	if ((rv = store_connection_list(r->b->db, &all)) != 0)
		return api_store_error(r, rv, "");
	return http_json(r, MHD_HTTP_OK, json_pack("{s:o}", "connections",
	    all));
}

static enum MHD_Result
route_connection_show(struct http_req *r)
{
	json_t	*view;
	int	 rv;

	if (!http_id_valid(r->params[0], 128))
		return http_not_found(r, "no such connection");
	if ((rv = store_connection_get(r->b->db, r->params[0], &view, NULL, 0,
	    NULL)) != 0)
		return api_store_error(r, rv, "no such connection");
	return http_json(r, MHD_HTTP_OK, view);
}

/*
 * GET /access-log/{connection}: who read it, changed it or consented, the
 * newest ACCESS_LOG_SHOWN rows; also for a connection deleted since.
 */
static enum MHD_Result
route_access_log(struct http_req *r)
{
	json_t	*rows;
	int	 rv;

	if (!http_id_valid(r->params[0], 128))
		return http_not_found(r, "no such connection");
	if ((rv = store_access_log_of(r->b->db, r->params[0],
	    ACCESS_LOG_SHOWN, &rows)) != 0)
		return api_store_error(r, rv, "no such connection");
	return http_json(r, MHD_HTTP_OK, json_pack("{s:s, s:i, s:o}",
	    "connection", r->params[0], "limit", ACCESS_LOG_SHOWN, "entries",
	    rows));
}

/* Key versions */

static json_t *
rfc3339(uint64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 buf[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

/* GET /keys: the keyholder's versions and which rows use which. */
static enum MHD_Result
route_keys(struct http_req *r)
{
	struct kh_status	*st;
	json_t			*vers, *rows, *out;
	uint32_t		 i;
	int			 rv;

	if ((st = malloc(sizeof(*st))) == NULL)
		return http_internal(r);
	if ((rv = kh_status(r->b->kh, st)) != 0) {
		free(st);
		return http_problem(r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "keyholder-unavailable", "Keyholder unavailable",
		    kh_strerror(rv));
	}
	vers = json_array();
	for (i = 0; i < st->nversions; i++)
		json_array_append_new(vers, json_pack("{s:I, s:I, s:o}",
		    "version", (json_int_t)st->versions[i].version, "seals",
		    (json_int_t)st->versions[i].seals, "created",
		    rfc3339(st->versions[i].created)));
	out = json_pack("{s:I, s:o}", "active", (json_int_t)st->active,
	    "versions", vers);
	free(st);
	if ((rv = store_key_counts(r->b->db, &rows)) != 0) {
		json_decref(out);
		return api_store_error(r, rv, "");
	}
	json_object_set_new(out, "sealed_rows", rows);
	return http_json(r, MHD_HTTP_OK, out);
}

/* POST /keys/rotate: a new version, stored before anything uses it. */
static enum MHD_Result
route_key_rotate(struct http_req *r)
{
	uint32_t	 v;

	if (vault_key_rotate(r->b->vault, &v) != VAULT_OK)
		return http_problem(r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "keyholder-unavailable", "Rotation failed", "the new "
		    "key version could not be made or stored; see the log");
	log_info("key rotated: new seals use version %u", v);
	return http_json(r, MHD_HTTP_CREATED, json_pack("{s:I}", "active",
	    (json_int_t)v));
}

/* POST /keys/rewrap: every stored secret under the active version. */
static enum MHD_Result
route_key_rewrap(struct http_req *r)
{
	struct rewrap_result	 res;
	json_t			*out;
	char			 why[256];
	int			 rv;

	rv = rewrap_all(r->b, &res);
	if (rv == -1) {
		snprintf(why, sizeof(why), "%s, after %zu connections and %zu "
		    "provider secrets; run it again to go on", res.error,
		    res.connections, res.providers);
		return http_problem(r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "rewrap-stopped", "Rewrap stopped", why);
	}
	out = json_pack("{s:I, s:I, s:I, s:I, s:I}", "version",
	    (json_int_t)res.version, "connections",
	    (json_int_t)res.connections, "provider_secrets",
	    (json_int_t)res.providers, "changed", (json_int_t)res.changed,
	    "failed", (json_int_t)res.failed);
	return http_json(r, MHD_HTTP_OK, out);
}

const struct http_route admin_routes[] = {
	{ "POST",	"/providers",		HTTP_JSON, route_provider_add },
	{ "PUT",	"/providers/{}",	HTTP_JSON, route_provider_update },
	{ "GET",	"/providers",		0, route_provider_list },
	{ "GET",	"/providers/{}",	0, route_provider_show },
	{ "DELETE",	"/providers/{}",	0, route_provider_remove },
	{ "POST",	"/clients",		HTTP_JSON, route_client_add },
	{ "GET",	"/clients",		0, route_client_list },
	{ "DELETE",	"/clients/{}",		0, route_client_revoke },
	{ "GET",	"/connections",		0, route_connection_list },
	{ "GET",	"/connections/{}",	0, route_connection_show },
	{ "GET",	"/access-log/{}",	0, route_access_log },
	{ "GET",	"/keys",		0, route_keys },
	{ "POST",	"/keys/rotate",		0, route_key_rotate },
	{ "POST",	"/keys/rewrap",		0, route_key_rewrap },
};
const size_t admin_nroutes = sizeof(admin_routes) / sizeof(admin_routes[0]);
