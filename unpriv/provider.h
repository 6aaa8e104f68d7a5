/*
 * Provider documents (DESIGN §9): the checker that stands between an
 * operator's JSON and the registry, and the views the APIs return
 * (unpriv/API.md).
 *
 * Every document has id (1-64 of [a-z0-9_-]), display_name (1-128
 * characters, no control characters) and auth_mode.
 *
 * auth_mode "oauth2" may have:
 *	authorization_url, token_url	https URLs; both required unless
 *					issuer or discovery_url is given
 *	revocation_url, discovery_url	https URLs
 *	issuer				https URL without query (OIDC)
 *	default_scopes			[scope-token, …] (RFC 6749 §3.3); []
 *	scope_separator			1-4 printable ASCII bytes; " "
 *	authorization_params,		{name: value} extra parameters; a
 *	token_params			name the protocol itself sends
 *					(state, code_challenge, …) is refused
 *	token_auth			client_secret_basic (default) |
 *					client_secret_post | none
 *	pkce				"S256" (the default; the only one)
 *	client_id			1-256 printable ASCII bytes
 *	client_secret			1-1024 printable ASCII bytes; write-
 *					only: never in a view; refused with
 *					token_auth none
 *	token_expiration_buffer		seconds, 0..86400; 300
 * The catalogue ships OAuth providers without client_id/client_secret:
 * they belong to the operator's own OAuth app and are added with
 * `dromosctl provider update'.  Such a provider is valid but not ready
 * (provider_ready); connecting to it is refused until it is.
 *
 * Captured modes ("api_key", "basic_auth", "bearer", "aws_sigv4",
 * "headers") have `credentials' (a schema, unpriv/schema.h) and `apply'
 * (unpriv/payload.h), whose strategy must equal auth_mode.  In apply:
 *	- a template field may name only properties of credentials;
 *	- a required field (PF_REQUIRED) may name only required properties,
 *	  so a capture that passed validation always fills it; an optional
 *	  one (api_key prefix, aws_sigv4 session_token) may name optional
 *	  ones and is left out of the payload when they are absent;
 *	- a secret-bearing field (PF_SECRET: bearer token, basic_auth
 *	  password, api_key key, aws_sigv4 secret_access_key and
 *	  session_token) must name at least one property and only secret
 *	  ones: otherwise the secret would be stored in the provider
 *	  document or shown in a connection's metadata;
 *	- api_key: in is "header" or "query"; name is a header name (an RFC
 *	  9110 token) or a query name (1-64 of [A-Za-z0-9._~-]);
 *	- headers: 1-32 headers, names RFC 9110 tokens, distinct without
 *	  regard to case, never a hop-by-hop header, Host or Content-Length;
 *	- no literal text holds a control character.
 *
 * URLs are absolute https:// URLs of at most 2048 bytes, with a host name
 * or an IP address, no user name or password and no fragment; http:// is
 * allowed only to a loopback host (localhost, 127.0.0.0/8, [::1]), which
 * is what the end-to-end tests' OAuth server listens on.
 *
 * Any field not listed for the document's auth_mode is an error.
 */
#ifndef DROMOS_UNPRIV_PROVIDER_H
#define DROMOS_UNPRIV_PROVIDER_H

#include <stddef.h>

#include <jansson.h>

#define PROVIDER_TOKEN_BUFFER_DEFAULT	300
#define PROVIDER_URL_MAX		2048

/*
 * Check a provider document.  0 and, if normalized is not NULL, a new
 * copy with the defaults filled in (it still holds client_secret if the
 * document had one: the caller seals it and deletes it before storing the
 * rest).  -1 with the JSONPath of the first error ("$.apply.key") and
 * why; the reason never quotes a value of the document.
 */
int	 provider_check(const json_t *doc, json_t **normalized, char *path,
	    size_t pathsz, char *reason, size_t reasonsz);

/* 1 if s is a provider id: 1-64 of [a-z0-9_-]. */
int	 provider_id_ok(const char *s);

/*
 * The internal socket's view: id, display_name, auth_mode, and
 * credentials (captured modes) or default_scopes (oauth2).  NULL only
 * when out of memory.
 */
json_t	*provider_public_view(const json_t *doc);

/*
 * The admin socket's view: the document without client_secret, plus
 * has_client_secret (has_secret: a sealed secret is stored; a document
 * that still holds one counts too).  NULL only when out of memory.
 */
json_t	*provider_admin_view(const json_t *doc, int has_secret);

/*
 * 1 if connections can be made with a checked provider: captured modes
 * always; oauth2 once it has a client_id and, unless token_auth is none,
 * a client secret.  0 with why otherwise.
 */
int	 provider_ready(const json_t *doc, int has_secret, char *reason,
	    size_t reasonsz);

#endif /* DROMOS_UNPRIV_PROVIDER_H */
