/*
 * Authorization server metadata (RFC 8414) and OpenID Connect discovery:
 * the endpoints of a provider that names an issuer or a discovery_url
 * instead of (or besides) its endpoints.
 *
 * With discovery_url, that document is read.  With only issuer, the RFC
 * 8414 location is tried first ({scheme://host}/.well-known/oauth-
 * authorization-server{path}, §3.1), then the OpenID one
 * ({issuer}/.well-known/openid-configuration); the second only when the
 * first is not there (a status other than 200, or not JSON).
 *
 * The document must be a JSON object without duplicate members whose
 * issuer is exactly the configured issuer (RFC 8414 §3.3).  With only a
 * discovery_url, the issuer that URL implies (either well-known form) is
 * expected; a URL of neither form trusts the document's issuer, which the
 * operator chose by naming the URL.  The endpoints it names must be URLs
 * outbound_url_ok accepts; code_challenge_methods_supported, when
 * present, must list S256; authorization_response_iss_parameter_supported
 * (RFC 9207) makes iss required in callbacks.
 *
 * Results are cached per provider id (and its issuer and discovery_url,
 * so an updated provider is fetched again): DISCOVERY_TTL seconds, and a
 * failure DISCOVERY_FAIL_TTL seconds so a provider that is down is not
 * asked on every request.  Thread-safe; the fetch happens outside the lock.
 */
#ifndef DROMOS_UNPRIV_DISCOVERY_H
#define DROMOS_UNPRIV_DISCOVERY_H

#include <stddef.h>

#include <jansson.h>

#include "unpriv/oauth.h"

#define DISCOVERY_TTL		3600
#define DISCOVERY_FAIL_TTL	60
#define DISCOVERY_CACHE_MAX	256	/* providers; the oldest goes */

/*
 * The effective endpoints of an oauth2 provider: what its document names
 * wins over what discovery found; issuer and iss_required come from
 * discovery.  A provider without issuer and discovery_url needs no
 * network.  0, or -1 with why (no endpoint, discovery failed).
 */
int	 discovery_resolve(const json_t *provider, struct oauth_endpoints *ep,
	    char *why, size_t whysz);

/*
 * Parse a metadata document (the body of a 200 answer; content_type NULL
 * skips that check).  expected NULL accepts any well-formed issuer.  ep
 * gets the endpoints the document names ("" for those it does not), its
 * issuer and iss_required.  0, or -1 with why.
 */
int	 discovery_parse(const char *body, size_t len,
	    const char *content_type, const char *expected,
	    struct oauth_endpoints *ep, char *why, size_t whysz);

/*
 * The two well-known URLs of an issuer (RFC 8414 §3.1; OpenID Connect
 * Discovery §4).  0, or -1 when the issuer is not an http(s) URL without
 * query and fragment, or a URL would not fit.
 */
int	 discovery_urls(const char *issuer, char rfc8414[OAUTH_URL_SIZE],
	    char oidc[OAUTH_URL_SIZE]);

/* Tests: other lifetimes (seconds; 0 keeps nothing), forget everything. */
void	 discovery_set_ttl(int ttl, int fail_ttl);
void	 discovery_flush(void);

#endif /* DROMOS_UNPRIV_DISCOVERY_H */
