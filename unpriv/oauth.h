/*
 * The broker's OAuth 2.0 client protocol (RFC 6749, PKCE RFC 7636,
 * issuer identification RFC 9207, revocation RFC 7009, as the security
 * BCP RFC 9700 asks): values, URLs, parsers and token endpoint calls.
 * Nothing here touches the database or the keyholder; the consent engine
 * and the refresh engine call it.
 *
 * Endpoints are passed in (struct oauth_endpoints): discovery_resolve
 * (unpriv/discovery.h) fills them from the provider document and, when it
 * names an issuer or a discovery_url, from the provider's metadata.
 *
 * Secrets (codes, verifiers, tokens, client secrets) are wiped from every
 * buffer this code owns when it is done with them; jansson's copies are
 * wiped by the broker's allocator (common/jsonmem.h).
 */
#ifndef DROMOS_UNPRIV_OAUTH_H
#define DROMOS_UNPRIV_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "unpriv/outbound.h"
#include "unpriv/provider.h"

#define OAUTH_URL_SIZE		(PROVIDER_URL_MAX + 1)
#define OAUTH_B64_32_SIZE	44	/* base64url of 32 bytes + NUL */
#define OAUTH_HASH_LEN		32	/* SHA-256 */

/* ---- PKCE (RFC 7636, S256 only) and state ---- */

/*
 * A new verifier (32 random bytes, base64url: 43 characters) and its
 * challenge, BASE64URL(SHA-256(verifier)).  0, or -1 when there is no
 * randomness.  The verifier is a secret: wipe it when sealed.
 */
int	 oauth_pkce_new(char verifier[OAUTH_B64_32_SIZE],
	    char challenge[OAUTH_B64_32_SIZE]);

/*
 * The S256 challenge of a verifier (43-128 of [A-Za-z0-9._~-], RFC 7636
 * §4.1).  0, or -1 when the verifier is malformed.
 */
int	 oauth_pkce_challenge(const char *verifier,
	    char challenge[OAUTH_B64_32_SIZE]);

/* base64url without padding of 32 bytes: 43 characters and a NUL. */
void	 oauth_b64url_32(const uint8_t raw[32], char out[OAUTH_B64_32_SIZE]);

/*
 * A new state (256 random bits, base64url) and the SHA-256 of that
 * string, which is all the database keeps.  0, or -1 without randomness.
 */
int	 oauth_state_new(char state[OAUTH_B64_32_SIZE],
	    uint8_t hash[OAUTH_HASH_LEN]);

/* SHA-256 of the state string a callback brought back. */
void	 oauth_state_hash(const char *state, size_t len,
	    uint8_t hash[OAUTH_HASH_LEN]);

/* ---- endpoints ---- */

struct oauth_endpoints {
	char	 authorization[OAUTH_URL_SIZE];
	char	 token[OAUTH_URL_SIZE];
	char	 revocation[OAUTH_URL_SIZE];	/* "": none */
	char	 issuer[OAUTH_URL_SIZE];	/* "": unknown, iss unchecked */
	int	 iss_required;			/* RFC 9207 metadata says the
						   server sends iss */
};

/*
 * The endpoints a provider document names itself (authorization_url,
 * token_url, revocation_url, issuer), no network.  0, or -1 when the
 * document is not an oauth2 provider or a field is too long.
 */
int	 oauth_endpoints_static(const json_t *provider,
	    struct oauth_endpoints *ep);

/* ---- the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) ---- */

#define OAUTH_AUTHZ_URL_MAX	16384

/*
 * The URL the browser is sent to: ep->authorization plus client_id,
 * redirect_uri, response_type=code, scope (default_scopes joined by
 * scope_separator; left out when there are none), state, code_challenge,
 * code_challenge_method=S256, then the provider's authorization_params,
 * each percent-encoded.  An endpoint that has a query gets '&' and the
 * rest.  0 and a malloc'd string in *url, or -1 (no client_id, a field of
 * the wrong type, too long, out of memory) with *url NULL.
 */
int	 oauth_authorize_url(const json_t *provider,
	    const struct oauth_endpoints *ep, const char *redirect_uri,
	    const char *state, const char *challenge, char **url);

/* ---- the authorization response (RFC 6749 §4.1.2, RFC 9207) ---- */

#define OAUTH_QUERY_MAX		16384	/* bytes of a raw query */
#define OAUTH_PARAMS_MAX	64	/* parameters in it */
#define OAUTH_CODE_MAX		2048
#define OAUTH_STATE_MAX		512
#define OAUTH_ERROR_MAX		64
#define OAUTH_ERRDESC_MAX	512

/* The error codes of RFC 6749 §4.1.2.1; OTHER is any other well-formed one
 * (OpenID Connect adds login_required and others). */
enum oauth_authz_error {
	OAUTH_AE_NONE = 0,
	OAUTH_AE_INVALID_REQUEST,
	OAUTH_AE_UNAUTHORIZED_CLIENT,
	OAUTH_AE_ACCESS_DENIED,
	OAUTH_AE_UNSUPPORTED_RESPONSE_TYPE,
	OAUTH_AE_INVALID_SCOPE,
	OAUTH_AE_SERVER_ERROR,
	OAUTH_AE_TEMPORARILY_UNAVAILABLE,
	OAUTH_AE_OTHER,
};

/* Which parameters a callback had (oauth_callback.seen). */
#define OAUTH_CB_CODE		0x01
#define OAUTH_CB_STATE		0x02
#define OAUTH_CB_ISS		0x04
#define OAUTH_CB_ERROR		0x08
#define OAUTH_CB_ERRDESC	0x10
#define OAUTH_CB_ERRURI		0x20

/*
 * A parsed callback.  Either error is set (an error response; code is
 * then absent) or code is; state always is.  code is a secret:
 * oauth_callback_clear wipes the structure.
 *
 * code and state are 1*VSCHAR (printable ASCII and space, RFC 6749
 * Appendix A); iss and error_uri printable ASCII without space; error
 * 1*NQSCHAR; error_description has every byte outside printable ASCII
 * replaced by '?' and is cut at OAUTH_ERRDESC_MAX (providers put line
 * breaks in it), so it can be shown but must still be HTML-escaped.
 */
struct oauth_callback {
	char			 code[OAUTH_CODE_MAX + 1];
	char			 state[OAUTH_STATE_MAX + 1];
	char			 iss[OAUTH_URL_SIZE];
	char			 error[OAUTH_ERROR_MAX + 1];
	char			 error_description[OAUTH_ERRDESC_MAX + 1];
	char			 error_uri[OAUTH_URL_SIZE];
	enum oauth_authz_error	 error_code;
	unsigned int		 seen;		/* OAUTH_CB_* */
	unsigned int		 nparams;
	const char		*why;		/* on -1: what was wrong */
};

/*
 * Parse a raw query string (what follows '?', still percent-encoded, as
 * application/x-www-form-urlencoded: '+' is a space).  Strict: a
 * malformed %-escape, an encoded NUL, an empty parameter, a known
 * parameter given twice (RFC 6749 §3.1) or without a value, an overlong
 * value, more than OAUTH_PARAMS_MAX parameters, or neither a code nor an
 * error → -1 with cb->why.  Unknown parameters are checked for encoding
 * and otherwise ignored.  0 when cb holds a response, error or not.
 */
int	 oauth_callback_parse(const char *rawquery, struct oauth_callback *cb);

/*
 * The same, for parameters a server library has already split and
 * decoded (libmicrohttpd's MHD_GET_ARGUMENT_KIND iterator, which reports
 * repeated names one by one): init, add each pair (value NULL for a name
 * without '='), then finish.  add and finish return 0 or -1 with cb->why.
 */
void	 oauth_callback_init(struct oauth_callback *cb);
int	 oauth_callback_add(struct oauth_callback *cb, const char *name,
	    size_t namelen, const char *value, size_t valuelen);
int	 oauth_callback_finish(struct oauth_callback *cb);

/* Wipe a callback (it holds the code). */
void	 oauth_callback_clear(struct oauth_callback *cb);

/*
 * RFC 9207 §2.4: an iss parameter must equal the issuer the session
 * expected, exactly; it must be present when the server's metadata says
 * it sends it (required).  With no expected issuer (a provider configured
 * without one) an iss parameter cannot be judged and is ignored.  0, or
 * -1 with a reason.
 */
int	 oauth_check_iss(const struct oauth_callback *cb,
	    const char *expected, int required, const char **why);

/* ---- the token response (RFC 6749 §5.1, §5.2) ---- */

#define OAUTH_TOKEN_MAX		(16 * 1024)	/* access, refresh token */
#define OAUTH_ID_TOKEN_MAX	(64 * 1024)
#define OAUTH_SCOPE_MAX		4096
#define OAUTH_TOKEN_TYPE_MAX	32
#define OAUTH_EXPIRES_MAX	315360000	/* ten years */

/* oauth_tokens.flags */
#define OAUTH_TF_EXPIRES_STRING	 0x01	/* expires_in came as "3600" */
#define OAUTH_TF_EXPIRES_CLAMPED 0x02	/* cut to OAUTH_EXPIRES_MAX */
#define OAUTH_TF_SCOPE_ARRAY	 0x04	/* scope came as an array of
					   strings, now joined by spaces */

/*
 * Tokens from a successful response.  Strings are malloc'd and
 * NUL-terminated; optional ones are NULL when absent (or null).
 * token_type is "Bearer" for any case of bearer (bearer = 1); another
 * type (RFC 6749 §7.1 type-name) is kept as sent with bearer = 0 for the
 * caller to refuse or pass on.  expires_in is -1 when absent.
 */
struct oauth_tokens {
	char		*access_token;
	char		*refresh_token;
	char		*id_token;		/* opaque: not verified */
	char		*scope;
	char		 token_type[OAUTH_TOKEN_TYPE_MAX + 1];
	int		 bearer;
	int64_t		 expires_in;
	unsigned int	 flags;			/* OAUTH_TF_* */
};

/* Wipe and free every token; the structure may then be reused. */
void	 oauth_tokens_free(struct oauth_tokens *t);

/* The error codes of RFC 6749 §5.2 (and RFC 7009 §2.2.1). */
enum oauth_token_error {
	OAUTH_TE_NONE = 0,
	OAUTH_TE_INVALID_REQUEST,
	OAUTH_TE_INVALID_CLIENT,
	OAUTH_TE_INVALID_GRANT,
	OAUTH_TE_UNAUTHORIZED_CLIENT,
	OAUTH_TE_UNSUPPORTED_GRANT_TYPE,
	OAUTH_TE_INVALID_SCOPE,
	OAUTH_TE_UNSUPPORTED_TOKEN_TYPE,
	OAUTH_TE_OTHER,
};

/*
 * An error response, or why a response was malformed (why, a static
 * string naming members, never their values).  description is cleaned
 * like oauth_callback.error_description.
 */
struct oauth_error {
	char			 error[OAUTH_ERROR_MAX + 1];	/* "": none */
	char			 description[OAUTH_ERRDESC_MAX + 1];
	char			 uri[OAUTH_URL_SIZE];
	enum oauth_token_error	 code;
	const char		*why;
};

enum oauth_parsed {
	OAUTH_PARSED_TOKENS,		/* t holds tokens */
	OAUTH_PARSED_ERROR,		/* err holds an error response */
	OAUTH_PARSED_MALFORMED,		/* err->why says what is wrong */
};

/*
 * Parse a token endpoint's body.  content_type, unless NULL, must be
 * application/json (parameters allowed).  The body must be one JSON
 * object without duplicate members.  Tokens: access_token (1*VSCHAR, at
 * most OAUTH_TOKEN_MAX), token_type (required), expires_in (a
 * non-negative integer; a string of 1-10 digits is accepted and flagged,
 * as some providers send one; more than ten years is clamped), and the
 * optional refresh_token, scope (a string, or an array of scope tokens,
 * which some providers send), id_token.  Unknown members are ignored;
 * a member with the wrong type, or "error" next to "access_token", is
 * malformed.  JSON null counts as absent for optional members.  Errors:
 * error (1*NQSCHAR), optional error_description and error_uri.
 * t and err are always initialised; free t in every case.
 */
enum oauth_parsed oauth_token_parse(const char *body, size_t len,
	    const char *content_type, struct oauth_tokens *t,
	    struct oauth_error *err);

/* ---- token endpoint calls ---- */

/*
 * How a call ended, for the refresh engine:
 *	OK		tokens (or, for a revocation, done)
 *	INVALID_GRANT	the grant is dead (RFC 6749 §5.2): re-consent
 *	RETRYABLE	5xx, 429, 408, network trouble, timeout, TLS, or an
 *			error code that says so (temporarily_unavailable,
 *			server_error); retry with backoff, honouring
 *			retry_after
 *	FATAL		anything else: another 4xx or error code, a malformed
 *			or oversized response, a redirect, a refused URL, a
 *			provider not ready
 */
enum oauth_result {
	OAUTH_OK = 0,
	OAUTH_INVALID_GRANT,
	OAUTH_RETRYABLE,
	OAUTH_FATAL,
};

struct oauth_outcome {
	enum oauth_result	 result;
	long			 status;	/* HTTP status; 0: none */
	long			 retry_after;	/* seconds; 0: none */
	enum outbound_err	 net;		/* OUTBOUND_OK: a response */
	char			 why[192];	/* safe to log and store: no
						   token, code or secret */
};

/*
 * Every call authenticates the client as the provider's token_auth says:
 * client_secret_basic (RFC 6749 §2.3.1, the default), client_secret_post
 * (client_id and client_secret in the body) or none (client_id in the
 * body); client_secret may be NULL only with none.  Token requests add
 * the provider's token_params.  t and err are always initialised; free t.
 */

/* RFC 6749 §4.1.3 with RFC 7636 §4.5: the code for tokens. */
enum oauth_result oauth_exchange_code(const json_t *provider,
	    const struct oauth_endpoints *ep, const char *client_secret,
	    const char *code, const char *verifier, const char *redirect_uri,
	    struct oauth_tokens *t, struct oauth_error *err,
	    struct oauth_outcome *out);

/*
 * RFC 6749 §6.  A response without refresh_token leaves t->refresh_token
 * NULL: the caller keeps the old one.
 */
enum oauth_result oauth_refresh(const json_t *provider,
	    const struct oauth_endpoints *ep, const char *client_secret,
	    const char *refresh_token, struct oauth_tokens *t,
	    struct oauth_error *err, struct oauth_outcome *out);

/*
 * RFC 7009: revoke token at ep->revocation (FATAL when there is none).
 * token_type_hint ("refresh_token", "access_token") may be NULL.  Any 200
 * is OK, whatever the body.
 */
enum oauth_result oauth_revoke(const json_t *provider,
	    const struct oauth_endpoints *ep, const char *client_secret,
	    const char *token, const char *token_type_hint,
	    struct oauth_error *err, struct oauth_outcome *out);

/* 1 if a Content-Type is application/json (any case, parameters
 * allowed). */
int	 oauth_is_json_type(const char *content_type);

/* "ok", "invalid_grant", "retryable", "fatal". */
const char	*oauth_result_name(enum oauth_result);

#endif /* DROMOS_UNPRIV_OAUTH_H */
