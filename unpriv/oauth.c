/*
 * OAuth 2.0 client protocol (oauth.h): PKCE and state values, the
 * authorization URL, the callback and token response parsers, and the
 * token endpoint calls with their classification for the refresh engine.
 *
 * The parsers read bytes from the other side of the Internet (a browser
 * brings the callback; a provider sends the token response): every length
 * is bounded, every byte class checked, and nothing they are given is
 * copied into a reason string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "unpriv/oauth.h"
#include "unpriv/outbound.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- byte classes (RFC 6749 Appendix A) ---- */

/* VSCHAR = %x20-7E */
static int
is_vschar(int c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* NQSCHAR = %x20-21 / %x23-5B / %x5D-7E */
static int
is_nqschar(int c)
{
	return is_vschar(c) && c != '"' && c != '\\';
}

/* Printable and no space: URIs (iss, error_uri). */
static int
is_urichar(int c)
{
	return c > 0x20 && c <= 0x7e;
}

/* name-char = "-" / "." / "_" / DIGIT / ALPHA (RFC 6749 §7.1 type-name) */
static int
is_namechar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int
all_of(const char *s, size_t len, int (*cls)(int))
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!cls((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Copy at most dstsz - 1 bytes of a description, non-printables as '?'. */
static void
copy_clean(char *dst, size_t dstsz, const char *s, size_t len)
{
	size_t	 i;

	if (len > dstsz - 1)
		len = dstsz - 1;
	for (i = 0; i < len; i++)
		dst[i] = is_vschar((unsigned char)s[i]) ? s[i] : '?';
	dst[len] = '\0';
}

/* ---- PKCE and state ---- */

void
oauth_b64url_32(const uint8_t raw[32], char out[OAUTH_B64_32_SIZE])
{
	sodium_bin2base64(out, OAUTH_B64_32_SIZE, raw, 32,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void
sha256(const void *p, size_t len, uint8_t md[OAUTH_HASH_LEN])
{
	unsigned int	 mdlen = OAUTH_HASH_LEN;

	/* Cannot fail for SHA-256 short of memory corruption. */
	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		abort();
}

static int
is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
oauth_pkce_challenge(const char *verifier, char challenge[OAUTH_B64_32_SIZE])
{
	uint8_t	 md[OAUTH_HASH_LEN];
	size_t	 len = strlen(verifier);

	/* code-verifier = 43*128unreserved (RFC 7636 §4.1) */
	if (len < 43 || len > 128 || !all_of(verifier, len, is_unreserved))
		return -1;
	sha256(verifier, len, md);
	oauth_b64url_32(md, challenge);
	return 0;
}

int
oauth_pkce_new(char verifier[OAUTH_B64_32_SIZE],
    char challenge[OAUTH_B64_32_SIZE])
{
	uint8_t	 raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	oauth_b64url_32(raw, verifier);
	explicit_bzero(raw, sizeof(raw));
	return oauth_pkce_challenge(verifier, challenge);
}

void
oauth_state_hash(const char *state, size_t len, uint8_t hash[OAUTH_HASH_LEN])
{
	sha256(state, len, hash);
}

int
oauth_state_new(char state[OAUTH_B64_32_SIZE], uint8_t hash[OAUTH_HASH_LEN])
{
	uint8_t	 raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	oauth_b64url_32(raw, state);
	explicit_bzero(raw, sizeof(raw));
	oauth_state_hash(state, strlen(state), hash);
	return 0;
}

/* ---- endpoints ---- */

/* Copy the string member name of doc into dst ("" when absent). */
static int
copy_member(char *dst, size_t dstsz, const json_t *doc, const char *name)
{
	const json_t	*v = json_object_get(doc, name);

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= dstsz ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int
oauth_endpoints_static(const json_t *provider, struct oauth_endpoints *ep)
{
	const char	*mode;

	memset(ep, 0, sizeof(*ep));
	mode = json_string_value(json_object_get(provider, "auth_mode"));
	if (mode == NULL || strcmp(mode, "oauth2") != 0)
		return -1;
	if (copy_member(ep->authorization, sizeof(ep->authorization),
	    provider, "authorization_url") == -1 ||
	    copy_member(ep->token, sizeof(ep->token), provider,
	    "token_url") == -1 ||
	    copy_member(ep->revocation, sizeof(ep->revocation), provider,
	    "revocation_url") == -1 ||
	    copy_member(ep->issuer, sizeof(ep->issuer), provider,
	    "issuer") == -1)
		return -1;
	return 0;
}

/* ---- the authorization URL ---- */

/* A growing string for URLs (nothing secret goes into one). */
struct sbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
	int	 bad;
};

static void
sb_add(struct sbuf *b, const char *p, size_t n)
{
	char	*ns;
	size_t	 ncap;

	if (b->bad)
		return;
	if (n > OAUTH_AUTHZ_URL_MAX - b->len) {
		b->bad = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->len + n + 1 + 256;
		if ((ns = realloc(b->s, ncap)) == NULL) {
			b->bad = 1;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_escaped(struct sbuf *b, const char *s, size_t len)
{
	char	*e;

	if (b->bad)
		return;
	if (len > OAUTH_AUTHZ_URL_MAX ||
	    (e = curl_easy_escape(NULL, s, (int)len)) == NULL) {
		b->bad = 1;
		return;
	}
	sb_add(b, e, strlen(e));
	curl_free(e);
}

/* &name=value, both escaped. */
static void
sb_param(struct sbuf *b, const char *name, const char *value, size_t vlen)
{
	sb_add(b, "&", 1);
	sb_escaped(b, name, strlen(name));
	sb_add(b, "=", 1);
	sb_escaped(b, value, vlen);
}

static void
sb_param_s(struct sbuf *b, const char *name, const char *value)
{
	sb_param(b, name, value, strlen(value));
}

/* default_scopes joined by scope_separator; 0 when there are none. */
static int
join_scopes(const json_t *provider, struct sbuf *scope)
{
	const json_t	*scopes, *s;
	const char	*sep;
	size_t		 i;

	sep = json_string_value(json_object_get(provider, "scope_separator"));
	if (sep == NULL)
		sep = " ";
	scopes = json_object_get(provider, "default_scopes");
	if (scopes != NULL && !json_is_array(scopes))
		return -1;
	json_array_foreach(scopes, i, s) {
		if (!json_is_string(s))
			return -1;
		if (i > 0)
			sb_add(scope, sep, strlen(sep));
		sb_add(scope, json_string_value(s), json_string_length(s));
	}
	return scope->bad ? -1 : 0;
}

static int
authz_reserved(const char *name)
{
	static const char *const r[] = {
		"response_type", "client_id", "redirect_uri", "scope", "state",
		"code_challenge", "code_challenge_method",
	};
	size_t	 i;

	for (i = 0; i < NELEM(r); i++)
		if (strcmp(name, r[i]) == 0)
			return 1;
	return 0;
}

int
oauth_authorize_url(const json_t *provider, const struct oauth_endpoints *ep,
    const char *redirect_uri, const char *state, const char *challenge,
    char **url)
{
	struct sbuf	 b = { 0 }, scope = { 0 };
	const json_t	*params, *v;
	const char	*client_id, *key, *sep;
	size_t		 elen = strlen(ep->authorization);

	*url = NULL;
	client_id = json_string_value(json_object_get(provider, "client_id"));
	params = json_object_get(provider, "authorization_params");
	if (client_id == NULL || elen == 0 || join_scopes(provider,
	    &scope) == -1 || (params != NULL && !json_is_object(params))) {
		free(scope.s);
		return -1;
	}
	sb_add(&b, ep->authorization, elen);
	/* Parameters go after what the endpoint's own query holds. */
	if (strchr(ep->authorization, '?') == NULL)
		sep = "?";
	else if (ep->authorization[elen - 1] == '?' ||
	    ep->authorization[elen - 1] == '&')
		sep = "";
	else
		sep = "&";
	sb_add(&b, sep, strlen(sep));
	sb_add(&b, "response_type=code", 18);
	sb_param_s(&b, "client_id", client_id);
	sb_param_s(&b, "redirect_uri", redirect_uri);
	if (scope.len > 0)
		sb_param(&b, "scope", scope.s, scope.len);
	sb_param_s(&b, "state", state);
	sb_param_s(&b, "code_challenge", challenge);
	sb_param_s(&b, "code_challenge_method", "S256");
	json_object_foreach((json_t *)params, key, v) {
		/* The checker refuses these too; never send one twice. */
		if (!json_is_string(v) || authz_reserved(key)) {
			b.bad = 1;
			break;
		}
		sb_param(&b, key, json_string_value(v), json_string_length(v));
	}
	free(scope.s);
	if (b.bad) {
		free(b.s);
		return -1;
	}
	*url = b.s;
	return 0;
}

/* ---- the callback ---- */

enum cbcheck {
	CB_VSCHAR,		/* code, state */
	CB_URI,			/* iss, error_uri */
	CB_NQSCHAR,		/* error */
	CB_CLEAN,		/* error_description: cleaned and cut */
};

static const struct cbparam {
	const char	*name;
	unsigned int	 bit;
	size_t		 off;
	size_t		 size;
	enum cbcheck	 check;
} cbparams[] = {
	{ "code", OAUTH_CB_CODE, offsetof(struct oauth_callback, code),
	    OAUTH_CODE_MAX + 1, CB_VSCHAR },
	{ "state", OAUTH_CB_STATE, offsetof(struct oauth_callback, state),
	    OAUTH_STATE_MAX + 1, CB_VSCHAR },
	{ "iss", OAUTH_CB_ISS, offsetof(struct oauth_callback, iss),
	    OAUTH_URL_SIZE, CB_URI },
	{ "error", OAUTH_CB_ERROR, offsetof(struct oauth_callback, error),
	    OAUTH_ERROR_MAX + 1, CB_NQSCHAR },
	{ "error_description", OAUTH_CB_ERRDESC,
	    offsetof(struct oauth_callback, error_description),
	    OAUTH_ERRDESC_MAX + 1, CB_CLEAN },
	{ "error_uri", OAUTH_CB_ERRURI,
	    offsetof(struct oauth_callback, error_uri), OAUTH_URL_SIZE,
	    CB_URI },
};

static const struct {
	const char		*name;
	enum oauth_authz_error	 code;
} authz_errors[] = {
	{ "invalid_request",		OAUTH_AE_INVALID_REQUEST },
	{ "unauthorized_client",	OAUTH_AE_UNAUTHORIZED_CLIENT },
	{ "access_denied",		OAUTH_AE_ACCESS_DENIED },
	{ "unsupported_response_type",	OAUTH_AE_UNSUPPORTED_RESPONSE_TYPE },
	{ "invalid_scope",		OAUTH_AE_INVALID_SCOPE },
	{ "server_error",		OAUTH_AE_SERVER_ERROR },
	{ "temporarily_unavailable",	OAUTH_AE_TEMPORARILY_UNAVAILABLE },
};

void
oauth_callback_init(struct oauth_callback *cb)
{
	memset(cb, 0, sizeof(*cb));
}

void
oauth_callback_clear(struct oauth_callback *cb)
{
	explicit_bzero(cb, sizeof(*cb));
}

static int
cb_fail(struct oauth_callback *cb, const char *why)
{
	cb->why = why;
	return -1;
}

int
oauth_callback_add(struct oauth_callback *cb, const char *name,
    size_t namelen, const char *value, size_t valuelen)
{
	const struct cbparam	*p = NULL;
	char			*dst;
	size_t			 i;
	int			 ok;

	if (++cb->nparams > OAUTH_PARAMS_MAX)
		return cb_fail(cb, "too many parameters");
	if (namelen == 0)
		return cb_fail(cb, "a parameter without a name");
	for (i = 0; i < NELEM(cbparams); i++)
		if (strlen(cbparams[i].name) == namelen &&
		    memcmp(cbparams[i].name, name, namelen) == 0)
			p = &cbparams[i];
	if (p == NULL)
		return 0;		/* scope, session_state, …: unused */
	if (cb->seen & p->bit)
		return cb_fail(cb, "a parameter is repeated");
	cb->seen |= p->bit;
	if (value == NULL)
		return cb_fail(cb, "a parameter has no value");
	dst = (char *)cb + p->off;
	if (p->check == CB_CLEAN) {
		copy_clean(dst, p->size, value, valuelen);
		return 0;
	}
	if (valuelen == 0)
		return cb_fail(cb, "a parameter is empty");
	if (valuelen >= p->size)
		return cb_fail(cb, "a parameter is too long");
	switch (p->check) {
	case CB_VSCHAR:
		ok = all_of(value, valuelen, is_vschar);
		break;
	case CB_URI:
		ok = all_of(value, valuelen, is_urichar);
		break;
	default:
		ok = all_of(value, valuelen, is_nqschar);
		break;
	}
	if (!ok)
		return cb_fail(cb, "a parameter holds a forbidden character");
	memcpy(dst, value, valuelen);
	dst[valuelen] = '\0';
	if (p->bit == OAUTH_CB_ERROR) {
		cb->error_code = OAUTH_AE_OTHER;
		for (i = 0; i < NELEM(authz_errors); i++)
			if (strcmp(cb->error, authz_errors[i].name) == 0)
				cb->error_code = authz_errors[i].code;
	}
	return 0;
}

int
oauth_callback_finish(struct oauth_callback *cb)
{
	if (!(cb->seen & OAUTH_CB_STATE))
		return cb_fail(cb, "no state");
	if (cb->seen & OAUTH_CB_ERROR) {
		if (cb->seen & OAUTH_CB_CODE)
			return cb_fail(cb, "both a code and an error");
		return 0;
	}
	if (!(cb->seen & OAUTH_CB_CODE))
		return cb_fail(cb, "neither a code nor an error");
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * application/x-www-form-urlencoded decoding of s[0..len) into out (room
 * for len bytes): '+' is a space, %XX a byte.  -1 on a malformed escape
 * or an encoded NUL.
 */
static int
form_decode(const char *s, size_t len, char *out, size_t *outlen)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] != '%')
			out[o++] = s[i];
		else {
			if (len - i < 3 || (hi = hexval((unsigned char)
			    s[i + 1])) == -1 || (lo = hexval((unsigned char)
			    s[i + 2])) == -1 || (hi | lo) == 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	*outlen = o;
	return 0;
}

/* One name[=value] segment of a raw query. */
static int
cb_segment(struct oauth_callback *cb, const char *seg, size_t len,
    char *buf)
{
	const char	*eq;
	size_t		 nlen, vlen = 0, nraw;

	if (len == 0)
		return cb_fail(cb, "an empty parameter");
	eq = memchr(seg, '=', len);
	nraw = eq != NULL ? (size_t)(eq - seg) : len;
	if (form_decode(seg, nraw, buf, &nlen) == -1 || (eq != NULL &&
	    form_decode(eq + 1, len - nraw - 1, buf + nlen, &vlen) == -1))
		return cb_fail(cb, "a malformed %-escape");
	return oauth_callback_add(cb, buf, nlen, eq != NULL ? buf + nlen :
	    NULL, vlen);
}

int
oauth_callback_parse(const char *rawquery, struct oauth_callback *cb)
{
	const char	*p, *amp;
	char		*buf;
	size_t		 len;
	int		 rc = 0;

	oauth_callback_init(cb);
	if (rawquery == NULL || (len = strlen(rawquery)) == 0)
		return cb_fail(cb, "no parameters");
	if (len > OAUTH_QUERY_MAX)
		return cb_fail(cb, "the query is too long");
	if ((buf = malloc(len + 1)) == NULL)
		return cb_fail(cb, "out of memory");
	for (p = rawquery; rc == 0; p = amp + 1) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = rawquery + len;
		rc = cb_segment(cb, p, (size_t)(amp - p), buf);
		if (*amp == '\0')
			break;
	}
	explicit_bzero(buf, len + 1);
	free(buf);
	if (rc == 0)
		rc = oauth_callback_finish(cb);
	return rc;
}

int
oauth_check_iss(const struct oauth_callback *cb, const char *expected,
    int required, const char **why)
{
	if (!(cb->seen & OAUTH_CB_ISS)) {
		if (required) {
			*why = "the authorization server sends iss and this "
			    "response has none";
			return -1;
		}
		return 0;
	}
	if (expected == NULL || expected[0] == '\0')
		return 0;
	if (strcmp(cb->iss, expected) != 0) {
		*why = "iss is not the expected issuer";
		return -1;
	}
	return 0;
}

/* ---- the token response ---- */

void
oauth_tokens_free(struct oauth_tokens *t)
{
	char	**s[] = { &t->access_token, &t->refresh_token, &t->id_token,
		    &t->scope };
	size_t	  i;

	for (i = 0; i < NELEM(s); i++)
		if (*s[i] != NULL) {
			explicit_bzero(*s[i], strlen(*s[i]));
			free(*s[i]);
		}
	explicit_bzero(t, sizeof(*t));
	t->expires_in = -1;
}

static const struct {
	const char		*name;
	enum oauth_token_error	 code;
} token_errors[] = {
	{ "invalid_request",		OAUTH_TE_INVALID_REQUEST },
	{ "invalid_client",		OAUTH_TE_INVALID_CLIENT },
	{ "invalid_grant",		OAUTH_TE_INVALID_GRANT },
	{ "unauthorized_client",	OAUTH_TE_UNAUTHORIZED_CLIENT },
	{ "unsupported_grant_type",	OAUTH_TE_UNSUPPORTED_GRANT_TYPE },
	{ "invalid_scope",		OAUTH_TE_INVALID_SCOPE },
	{ "unsupported_token_type",	OAUTH_TE_UNSUPPORTED_TOKEN_TYPE },
};

int
oauth_is_json_type(const char *ct)
{
	static const char	 want[] = "application/json";
	size_t			 n;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n != sizeof(want) - 1 || strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* An optional string member: NULL when absent or null, else checked. */
static int
opt_string(const json_t *o, const char *name, size_t min, size_t max,
    int (*cls)(int), const char **s, size_t *len)
{
	const json_t	*v = json_object_get(o, name);

	*s = NULL;
	*len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*len = json_string_length(v);
	*s = json_string_value(v);
	if (*len < min || *len > max || !all_of(*s, *len, cls))
		return -1;
	return 0;
}

static char *
dupn(const char *s, size_t len)
{
	char	*d;

	if ((d = malloc(len + 1)) != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static enum oauth_parsed
malformed(struct oauth_error *err, const char *why)
{
	err->why = why;
	return OAUTH_PARSED_MALFORMED;
}

static enum oauth_parsed
parse_error(const json_t *o, struct oauth_error *err)
{
	const char	*s;
	size_t		 len, i;

	if (json_object_get(o, "access_token") != NULL)
		return malformed(err, "both error and access_token");
	if (opt_string(o, "error", 1, OAUTH_ERROR_MAX, is_nqschar, &s,
	    &len) == -1 || s == NULL)
		return malformed(err, "error is not an error code");
	memcpy(err->error, s, len + 1);
	err->code = OAUTH_TE_OTHER;
	for (i = 0; i < NELEM(token_errors); i++)
		if (strcmp(err->error, token_errors[i].name) == 0)
			err->code = token_errors[i].code;
	if (opt_string(o, "error_uri", 1, OAUTH_URL_SIZE - 1, is_urichar, &s,
	    &len) == -1)
		return malformed(err, "error_uri is not a URI");
	if (s != NULL)
		memcpy(err->uri, s, len + 1);
	s = json_string_value(json_object_get(o, "error_description"));
	if (s == NULL && json_object_get(o, "error_description") != NULL &&
	    !json_is_null(json_object_get(o, "error_description")))
		return malformed(err, "error_description is not a string");
	if (s != NULL)
		copy_clean(err->description, sizeof(err->description), s,
		    json_string_length(json_object_get(o,
		    "error_description")));
	return OAUTH_PARSED_ERROR;
}

/* expires_in: a non-negative integer, or a string of 1-10 digits. */
static int
parse_expires(const json_t *o, struct oauth_tokens *t)
{
	const json_t	*v = json_object_get(o, "expires_in");
	json_int_t	 n = 0;
	const char	*s;
	size_t		 i, len;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v)) {
		s = json_string_value(v);
		len = json_string_length(v);
		if (len == 0 || len > 10)
			return -1;
		for (i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			n = n * 10 + (s[i] - '0');
		}
		t->flags |= OAUTH_TF_EXPIRES_STRING;
	} else
		return -1;
	if (n < 0)
		return -1;
	if (n > OAUTH_EXPIRES_MAX) {
		n = OAUTH_EXPIRES_MAX;
		t->flags |= OAUTH_TF_EXPIRES_CLAMPED;
	}
	t->expires_in = n;
	return 0;
}

/* scope-token chars (NQCHAR) and the spaces between them. */
static int
is_scopechar(int c)
{
	return is_nqschar(c);
}

/*
 * scope: a string; an array of scope strings (some providers send one) is
 * joined with spaces and flagged.
 */
static int
parse_scope(const json_t *o, struct oauth_tokens *t)
{
	const json_t	*v = json_object_get(o, "scope"), *e;
	const char	*s;
	size_t		 len, i, total = 0;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (opt_string(o, "scope", 0, OAUTH_SCOPE_MAX, is_scopechar,
		    &s, &len) == -1)
			return -1;
		return (t->scope = dupn(s, len)) == NULL ? -1 : 0;
	}
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, e) {
		len = json_string_length(e);
		if (!json_is_string(e) || len == 0 || !all_of(
		    json_string_value(e), len, is_scopechar) ||
		    memchr(json_string_value(e), ' ', len) != NULL ||
		    (total += len + 1) > OAUTH_SCOPE_MAX + 1)
			return -1;
	}
	if ((t->scope = calloc(1, total + 1)) == NULL)
		return -1;
	total = 0;
	json_array_foreach(v, i, e) {
		if (i > 0)
			t->scope[total++] = ' ';
		memcpy(t->scope + total, json_string_value(e),
		    json_string_length(e));
		total += json_string_length(e);
	}
	t->flags |= OAUTH_TF_SCOPE_ARRAY;
	return 0;
}

static enum oauth_parsed
parse_tokens(const json_t *o, struct oauth_tokens *t, struct oauth_error *err)
{
	const char	*s;
	size_t		 len;

	if (opt_string(o, "access_token", 1, OAUTH_TOKEN_MAX, is_vschar, &s,
	    &len) == -1 || s == NULL)
		return malformed(err, "access_token is missing or malformed");
	if ((t->access_token = dupn(s, len)) == NULL)
		return malformed(err, "out of memory");
	if (opt_string(o, "token_type", 1, OAUTH_TOKEN_TYPE_MAX, is_namechar,
	    &s, &len) == -1 || s == NULL)
		return malformed(err, "token_type is missing or malformed");
	t->bearer = strcasecmp(s, "bearer") == 0;
	memcpy(t->token_type, t->bearer ? "Bearer" : s, len + 1);
	if (parse_expires(o, t) == -1)
		return malformed(err, "expires_in is not a non-negative "
		    "integer");
	if (opt_string(o, "refresh_token", 1, OAUTH_TOKEN_MAX, is_vschar, &s,
	    &len) == -1)
		return malformed(err, "refresh_token is malformed");
	if (s != NULL && (t->refresh_token = dupn(s, len)) == NULL)
		return malformed(err, "out of memory");
	if (opt_string(o, "id_token", 1, OAUTH_ID_TOKEN_MAX, is_urichar, &s,
	    &len) == -1)
		return malformed(err, "id_token is malformed");
	if (s != NULL && (t->id_token = dupn(s, len)) == NULL)
		return malformed(err, "out of memory");
	if (parse_scope(o, t) == -1)
		return malformed(err, "scope is malformed");
	return OAUTH_PARSED_TOKENS;
}

enum oauth_parsed
oauth_token_parse(const char *body, size_t len, const char *content_type,
    struct oauth_tokens *t, struct oauth_error *err)
{
	enum oauth_parsed	 rc;
	json_t			*o;

	memset(t, 0, sizeof(*t));
	t->expires_in = -1;
	memset(err, 0, sizeof(*err));
	if (content_type != NULL && !oauth_is_json_type(content_type))
		return malformed(err, "the response is not application/json");
	if (body == NULL || (o = json_loadb(body, len, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		return malformed(err, "the response is not JSON");
	if (!json_is_object(o))
		rc = malformed(err, "the response is not a JSON object");
	else if (json_object_get(o, "error") != NULL)
		rc = parse_error(o, err);
	else
		rc = parse_tokens(o, t, err);
	json_decref(o);
	if (rc != OAUTH_PARSED_TOKENS)
		oauth_tokens_free(t);
	return rc;
}

/* ---- token endpoint calls ---- */

const char *
oauth_result_name(enum oauth_result r)
{
	switch (r) {
	case OAUTH_OK:
		return "ok";
	case OAUTH_INVALID_GRANT:
		return "invalid_grant";
	case OAUTH_RETRYABLE:
		return "retryable";
	default:
		return "fatal";
	}
}

static enum oauth_result
outcome(struct oauth_outcome *out, enum oauth_result r, const char *why)
{
	out->result = r;
	snprintf(out->why, sizeof(out->why), "%s", why);
	return r;
}

/* Room for the protocol's fields, client authentication and params. */
#define FORM_MAX	48

struct call {
	const json_t	*provider;
	const char	*what;		/* "token", "revocation" */
	const char	*url;
	const char	*secret;
	int		 params;	/* add token_params */
	struct form	 f[FORM_MAX];
	size_t		 n;
	const char	*basic_user;
};

static int
form_add(struct call *c, const char *name, const char *value)
{
	if (c->n >= FORM_MAX - 1)
		return -1;
	c->f[c->n].name = name;
	c->f[c->n].value = value;
	c->n++;
	c->f[c->n].name = NULL;
	return 0;
}

/* Names token_params may not set (the provider checker refuses them). */
static int
reserved(const char *name)
{
	static const char *const r[] = {
		"grant_type", "code", "redirect_uri", "code_verifier",
		"client_id", "client_secret", "client_assertion",
		"client_assertion_type", "refresh_token",
	};
	size_t	 i;

	for (i = 0; i < NELEM(r); i++)
		if (strcmp(name, r[i]) == 0)
			return 1;
	return 0;
}

/* Client authentication and token_params; NULL or why not. */
static const char *
authenticate(struct call *c)
{
	const json_t	*params, *v;
	const char	*id, *ta, *key;

	id = json_string_value(json_object_get(c->provider, "client_id"));
	ta = json_string_value(json_object_get(c->provider, "token_auth"));
	if (id == NULL)
		return "the provider has no client_id";
	if (ta == NULL)
		ta = "client_secret_basic";
	if (strcmp(ta, "none") != 0 && c->secret == NULL)
		return "the provider has no client secret";
	if (strcmp(ta, "client_secret_basic") == 0)
		c->basic_user = id;
	else if (strcmp(ta, "client_secret_post") == 0) {
		if (form_add(c, "client_id", id) == -1 ||
		    form_add(c, "client_secret", c->secret) == -1)
			return "too many parameters";
	} else if (strcmp(ta, "none") == 0) {
		if (form_add(c, "client_id", id) == -1)
			return "too many parameters";
	} else
		return "the provider's token_auth is unknown";
	params = json_object_get(c->provider, "token_params");
	if (!c->params || params == NULL)
		return NULL;
	if (!json_is_object(params))
		return "token_params is not an object";
	json_object_foreach((json_t *)params, key, v) {
		if (!json_is_string(v) || reserved(key))
			return "token_params is malformed";
		if (form_add(c, key, json_string_value(v)) == -1)
			return "too many parameters";
	}
	return NULL;
}

/* Judge an HTTP response that carries an error body (or not). */
static enum oauth_result
judge_error(struct oauth_outcome *out, const struct call *c,
    const struct outbound_resp *r, enum oauth_parsed p,
    const struct oauth_error *err)
{
	char	 what[160];

	snprintf(what, sizeof(what), "%s endpoint answered %ld", c->what,
	    r->status);
	if (r->status >= 500 || r->status == 429 || r->status == 408)
		return outcome(out, OAUTH_RETRYABLE, what);
	if (p == OAUTH_PARSED_ERROR) {
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    " %s", err->error);
		if (err->code == OAUTH_TE_INVALID_GRANT)
			return outcome(out, OAUTH_INVALID_GRANT, what);
		if (strcmp(err->error, "temporarily_unavailable") == 0 ||
		    strcmp(err->error, "server_error") == 0)
			return outcome(out, OAUTH_RETRYABLE, what);
		return outcome(out, OAUTH_FATAL, what);
	}
	if (p == OAUTH_PARSED_MALFORMED && err->why != NULL)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    ": %s", err->why);
	return outcome(out, OAUTH_FATAL, what);
}

static enum oauth_result
judge_net(struct oauth_outcome *out, const struct call *c,
    const struct outbound_resp *r)
{
	char	 what[192];

	snprintf(what, sizeof(what), "%s endpoint: %s", c->what, r->why);
	switch (r->err) {
	case OUTBOUND_ENET:
	case OUTBOUND_ETIMEOUT:
	case OUTBOUND_ETLS:
	case OUTBOUND_ENOMEM:
		return outcome(out, OAUTH_RETRYABLE, what);
	default:
		return outcome(out, OAUTH_FATAL, what);
	}
}

/* POST the call; parse tokens when t is not NULL. */
static enum oauth_result
call_run(struct call *c, struct oauth_tokens *t, struct oauth_error *err,
    struct oauth_outcome *out)
{
	struct outbound_resp	 r;
	struct oauth_tokens	 scratch;
	enum oauth_parsed	 p;
	enum oauth_result	 res;
	const char		*why;

	if ((why = authenticate(c)) != NULL)
		return outcome(out, OAUTH_FATAL, why);
	if (outbound_post_form(c->url, c->f, c->basic_user,
	    c->basic_user != NULL ? c->secret : NULL, &r) == -1) {
		out->net = r.err;
		out->status = r.status;
		res = judge_net(out, c, &r);
		outbound_resp_free(&r);
		return res;
	}
	out->status = r.status;
	out->retry_after = r.retry_after;
	if (t == NULL && r.status == 200) {
		/* RFC 7009 §2.2: the body of a revocation is ignored. */
		outbound_resp_free(&r);
		return outcome(out, OAUTH_OK, "ok");
	}
	p = oauth_token_parse(r.body, r.len, r.content_type,
	    t != NULL ? t : &scratch, err);
	if (t == NULL)
		oauth_tokens_free(&scratch);
	if (r.status == 200 && p == OAUTH_PARSED_TOKENS)
		res = outcome(out, OAUTH_OK, "ok");
	else
		res = judge_error(out, c, &r, p, err);
	if (res != OAUTH_OK && t != NULL)
		oauth_tokens_free(t);
	outbound_resp_free(&r);
	return res;
}

static void
call_init(struct call *c, const json_t *provider, const char *what,
    const char *url, const char *secret, int params,
    struct oauth_tokens *t, struct oauth_error *err,
    struct oauth_outcome *out)
{
	memset(c, 0, sizeof(*c));
	c->provider = provider;
	c->what = what;
	c->url = url;
	c->secret = secret;
	c->params = params;
	c->f[0].name = NULL;
	if (t != NULL) {
		memset(t, 0, sizeof(*t));
		t->expires_in = -1;
	}
	memset(err, 0, sizeof(*err));
	memset(out, 0, sizeof(*out));
}

enum oauth_result
oauth_exchange_code(const json_t *provider, const struct oauth_endpoints *ep,
    const char *client_secret, const char *code, const char *verifier,
    const char *redirect_uri, struct oauth_tokens *t,
    struct oauth_error *err, struct oauth_outcome *out)
{
	struct call	 c;

	call_init(&c, provider, "token", ep->token, client_secret, 1, t, err,
	    out);
	if (ep->token[0] == '\0')
		return outcome(out, OAUTH_FATAL, "no token endpoint");
	if (form_add(&c, "grant_type", "authorization_code") == -1 ||
	    form_add(&c, "code", code) == -1 ||
	    form_add(&c, "redirect_uri", redirect_uri) == -1 ||
	    form_add(&c, "code_verifier", verifier) == -1)
		return outcome(out, OAUTH_FATAL, "too many parameters");
	return call_run(&c, t, err, out);
}

enum oauth_result
oauth_refresh(const json_t *provider, const struct oauth_endpoints *ep,
    const char *client_secret, const char *refresh_token,
    struct oauth_tokens *t, struct oauth_error *err,
    struct oauth_outcome *out)
{
	struct call	 c;

	call_init(&c, provider, "token", ep->token, client_secret, 1, t, err,
	    out);
	if (ep->token[0] == '\0')
		return outcome(out, OAUTH_FATAL, "no token endpoint");
	if (form_add(&c, "grant_type", "refresh_token") == -1 ||
	    form_add(&c, "refresh_token", refresh_token) == -1)
		return outcome(out, OAUTH_FATAL, "too many parameters");
	return call_run(&c, t, err, out);
}

enum oauth_result
oauth_revoke(const json_t *provider, const struct oauth_endpoints *ep,
    const char *client_secret, const char *token,
    const char *token_type_hint, struct oauth_error *err,
    struct oauth_outcome *out)
{
	struct call	 c;

	call_init(&c, provider, "revocation", ep->revocation, client_secret,
	    0, NULL, err, out);
	if (ep->revocation[0] == '\0')
		return outcome(out, OAUTH_FATAL, "no revocation endpoint");
	if (form_add(&c, "token", token) == -1 || (token_type_hint != NULL &&
	    form_add(&c, "token_type_hint", token_type_hint) == -1))
		return outcome(out, OAUTH_FATAL, "too many parameters");
	return call_run(&c, NULL, err, out);
}
