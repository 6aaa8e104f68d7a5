/*
 * OAuth token upkeep: refresh that never races, and revocation.
 *
 * A refresh runs in one database transaction holding the connection's
 * advisory lock (store_refresh_lock) for the whole token call.  Whoever
 * waited for the lock re-reads the connection first and, finding it fresh,
 * uses the new token instead of spending the old refresh token again; so
 * every broker sharing the database refreshes a connection once.
 */
#ifndef DROMOS_UNPRIV_REFRESH_H
#define DROMOS_UNPRIV_REFRESH_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

struct broker;
struct http_req;

#define REFRESH_FORCE_INTERVAL	10	/* seconds between forced refreshes */
#define REFRESH_TRIES		3	/* token calls per refresh, at most */

/*
 * The provider's client secret, opened, into out (NUL-terminated; empty
 * when the provider has none).  0, or a vault/store error.
 */
int	 provider_secret_open(struct broker *, const char *provider, char *out,
	    size_t outsz);

/* Whether GET /token would refresh this connection first (OAuth only). */
int	 refresh_due(const json_t *view, const json_t *provider);

/*
 * For GET /token: *values are the connection's opened secrets, *view its
 * view.  When the access token expires within the provider's buffer (or
 * force is set) refresh first, replacing both.  0, or -1 once answered.
 */
int	 refresh_if_needed(struct http_req *, const char *id,
	    const json_t *provider, int force, json_t **values, json_t **view,
	    enum MHD_Result *answered);

/*
 * Revoke a connection's refresh token (else its access token) at the
 * provider, RFC 7009.  Returns a short outcome for the access log:
 * "revoked", "no revocation endpoint", or why it failed.
 */
const char *refresh_revoke(struct http_req *, const json_t *provider,
	    const json_t *values, char *buf, size_t bufsz);

/* POST /token/{c}/refresh */
enum MHD_Result	 route_token_refresh(struct http_req *);

#endif /* DROMOS_UNPRIV_REFRESH_H */
