/*
 * provider.c: the provider-document checker and the views (provider.h).
 *
 * The checker walks a table of the fields each auth_mode allows; the
 * fields of `apply' come from payload.c's strategy table, so the checker
 * and the payload builder cannot disagree about what a strategy holds.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/schema.h"

#define M_OAUTH2	0x01
#define M_CAPTURED	0x02
#define M_ALL		(M_OAUTH2 | M_CAPTURED)

#define MAX_SCOPES	64
#define MAX_SCOPE_LEN	256
#define MAX_PARAMS	32
#define MAX_PARAM_NAME	64
#define MAX_PARAM_VALUE	1024
#define MAX_HEADERS	32
#define MAX_HEADER_NAME	64
#define MAX_DISPLAY	128
#define MAX_CLIENT_ID	256
#define MAX_SECRET	1024
#define MAX_BUFFER_S	86400
#define MAX_RETURN_URLS	16

struct pchk {
	struct jcheck	 j;		/* path and reason of the first error */
	const json_t	*doc;
	const char	*mode;
	const json_t	*creds;		/* credentials, once checked */
};

struct pfield {
	const char	*name;
	unsigned int	 modes;
	int		(*check)(struct pchk *, const json_t *);
};

static const char *const modes[] = {
	"oauth2", "api_key", "basic_auth", "bearer", "aws_sigv4", "headers",
};

/* Parameters the OAuth flow sets itself: a provider may not override. */
static const char *const auth_reserved[] = {
	"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "nonce", NULL,
};
static const char *const token_reserved[] = {
	"grant_type", "code", "redirect_uri", "code_verifier", "client_id",
	"client_secret", "client_assertion", "client_assertion_type",
	"refresh_token", NULL,
};

/* Never set by a provider: they belong to the connection, not to it. */
static const char *const bad_headers[] = {
	"connection", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "proxy-connection", "te", "trailer",
	"transfer-encoding", "upgrade", "host", "content-length", NULL,
};

static int
in_nlist(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
has_ctl(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* A string of lo..hi bytes, each printable ASCII (0x20..0x7e). */
static int
printable(const json_t *v, size_t lo, size_t hi)
{
	const char	*s = json_string_value(v);
	size_t		 i, len = json_string_length(v);

	if (s == NULL || len < lo || len > hi)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Key of a json_object_foreach: 0 if it holds a NUL. */
static int
key_clean(const char *key)
{
	return json_object_iter_key_len(json_object_key_to_iter(key)) ==
	    strlen(key);
}

int
provider_id_ok(const char *s)
{
	size_t	 i, len;

	if (s == NULL || (len = strlen(s)) == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* ---- URLs ---- */

static int
is_loopback(const char *host, size_t len, int v6)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 buf[64];

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (v6)
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcasecmp(buf, "localhost") == 0;
}

/* host[:port] between auth and end; NULL or what is wrong. */
static const char *
url_authority(const char *auth, const char *end, int *loop)
{
	const char	*h = auth, *hend, *p;
	char		 buf[64];
	struct in6_addr	 a6;
	unsigned long	 port = 0;
	int		 v6 = 0;

	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return "must not hold a user name or password";
	if (*auth == '[') {
		if ((hend = memchr(auth, ']', (size_t)(end - auth))) == NULL ||
		    (size_t)(hend - auth - 1) >= sizeof(buf))
			return "has a malformed IPv6 address";
		memcpy(buf, auth + 1, (size_t)(hend - auth - 1));
		buf[hend - auth - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return "has a malformed IPv6 address";
		h = auth + 1;
		p = hend + 1;
		v6 = 1;
	} else {
		if ((hend = memchr(auth, ':', (size_t)(end - auth))) == NULL)
			hend = end;
		if (schema_format_ok("hostname", auth,
		    (size_t)(hend - auth)) != 0)
			return "has a malformed host name";
		p = hend;
	}
	if (p < end) {
		if (*p != ':' || end - p < 2 || end - p > 6)
			return "has a malformed port";
		for (p++; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "has a malformed port";
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return "has a malformed port";
	}
	*loop = is_loopback(h, (size_t)(hend - h), v6);
	return NULL;
}

/* NULL if v is a URL a provider may name (provider.h); else why not. */
static const char *
url_problem(const json_t *v, int allow_query)
{
	const char	*s = json_string_value(v), *auth, *end, *why;
	size_t		 len = json_string_length(v);
	int		 tls, loop = 0;

	if (s == NULL)
		return "must be a string";
	if (len == 0 || len > PROVIDER_URL_MAX)
		return "must be a URL of at most 2048 bytes";
	if (strncmp(s, "https://", 8) == 0) {
		tls = 1;
		auth = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		tls = 0;
		auth = s + 7;
	} else
		return "must be an https:// URL";
	if (schema_format_ok("uri", s, len) != 0)
		return "is not a valid URL";
	if (memchr(s, '#', len) != NULL)
		return "must not have a fragment";
	if (!allow_query && memchr(s, '?', len) != NULL)
		return "must not have a query";
	end = auth + strcspn(auth, "/?");
	if (end == auth)
		return "has no host";
	if ((why = url_authority(auth, end, &loop)) != NULL)
		return why;
	if (!tls && !loop)
		return "must be an https:// URL (http:// is for loopback "
		    "hosts only)";
	return NULL;
}

/* ---- field checks ---- */

static int
ck_id(struct pchk *c, const json_t *v)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) !=
	    json_string_length(v) || !provider_id_ok(json_string_value(v)))
		return jcheck_fail(&c->j, "must be 1 to 64 of [a-z0-9_-]");
	return 0;
}

static int
ck_display(struct pchk *c, const json_t *v)
{
	size_t	 n;

	if (!json_is_string(v))
		return jcheck_fail(&c->j, "must be a string");
	n = schema_utf8_len(json_string_value(v), json_string_length(v));
	if (n == 0 || n > MAX_DISPLAY)
		return jcheck_fail(&c->j, "must be 1 to %d characters", MAX_DISPLAY);
	if (has_ctl(json_string_value(v), json_string_length(v)))
		return jcheck_fail(&c->j, "must not hold control characters");
	return 0;
}

static int
ck_nothing(struct pchk *c, const json_t *v)
{
	(void)c;
	(void)v;
	return 0;
}

static int
ck_url(struct pchk *c, const json_t *v)
{
	const char	*why;

	if ((why = url_problem(v, 1)) != NULL)
		return jcheck_fail(&c->j, "%s", why);
	return 0;
}

/* An OpenID issuer identifier: a URL without query or fragment. */
static int
ck_issuer(struct pchk *c, const json_t *v)
{
	const char	*why;

	if ((why = url_problem(v, 0)) != NULL)
		return jcheck_fail(&c->j, "%s", why);
	return 0;
}

/* scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3) */
static int
scope_ok(const json_t *v)
{
	const char	*s = json_string_value(v);
	size_t		 i, len = json_string_length(v);

	if (s == NULL || len == 0 || len > MAX_SCOPE_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return 0;
	return 1;
}

static int
ck_scopes(struct pchk *c, const json_t *v)
{
	const json_t	*s;
	size_t		 i, j, mark;

	if (!json_is_array(v) || json_array_size(v) > MAX_SCOPES)
		return jcheck_fail(&c->j, "must be an array of at most %d scopes",
		    MAX_SCOPES);
	json_array_foreach(v, i, s) {
		mark = jcheck_push_index(&c->j, i);
		if (!scope_ok(s))
			return jcheck_fail(&c->j, "must be an OAuth scope (1 to %d "
			    "printable ASCII bytes without space, \" or \\)",
			    MAX_SCOPE_LEN);
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(v, j), s))
				return jcheck_fail(&c->j, "repeats an earlier scope");
		jcheck_pop(&c->j, mark);
	}
	return 0;
}

/*
 * Where a connect session may send the browser back: exact URLs, or
 * prefixes ending in "/" below a pinned origin (https://host[:port]/...).
 */
static int
ck_return_urls(struct pchk *c, const json_t *v)
{
	const json_t	*u;
	const char	*why, *s, *p;
	size_t		 i, mark;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > MAX_RETURN_URLS)
		return jcheck_fail(&c->j, "must be an array of 1 to %d URLs",
		    MAX_RETURN_URLS);
	json_array_foreach(v, i, u) {
		mark = jcheck_push_index(&c->j, i);
		if ((why = url_problem(u, 1)) != NULL)
			return jcheck_fail(&c->j, "%s", why);
		s = json_string_value(u);
		p = strstr(s, "://");
		if (p == NULL || strchr(p + 3, '/') == NULL)
			return jcheck_fail(&c->j, "must have a path, at least \"/\", so "
			    "that its origin is pinned");
		jcheck_pop(&c->j, mark);
	}
	return 0;
}

static int
ck_separator(struct pchk *c, const json_t *v)
{
	if (!printable(v, 1, 4))
		return jcheck_fail(&c->j, "must be 1 to 4 printable ASCII characters");
	return 0;
}

/* Unreserved characters (RFC 3986): safe in a query without escaping. */
static int
urlname_ok(const char *s, size_t len, size_t max)
{
	size_t	 i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '~' || s[i] == '-'))
			return 0;
	return 1;
}

static int
ck_params(struct pchk *c, const json_t *v, const char *const *reserved)
{
	const char	*key;
	json_t		*pv;
	size_t		 mark;

	if (!json_is_object(v) || json_object_size(v) > MAX_PARAMS)
		return jcheck_fail(&c->j, "must be an object of at most %d parameters",
		    MAX_PARAMS);
	json_object_foreach((json_t *)v, key, pv) {
		mark = jcheck_push(&c->j, key);
		if (!key_clean(key) ||
		    !urlname_ok(key, strlen(key), MAX_PARAM_NAME))
			return jcheck_fail(&c->j, "is not a parameter name (1 to %d of "
			    "[A-Za-z0-9._~-])", MAX_PARAM_NAME);
		if (in_nlist(key, reserved))
			return jcheck_fail(&c->j, "is set by the OAuth flow itself");
		if (!json_is_string(pv) ||
		    json_string_length(pv) > MAX_PARAM_VALUE)
			return jcheck_fail(&c->j, "must be a string of at most %d bytes",
			    MAX_PARAM_VALUE);
		if (has_ctl(json_string_value(pv), json_string_length(pv)))
			return jcheck_fail(&c->j, "must not hold control characters");
		jcheck_pop(&c->j, mark);
	}
	return 0;
}

static int
ck_auth_params(struct pchk *c, const json_t *v)
{
	return ck_params(c, v, auth_reserved);
}

static int
ck_token_params(struct pchk *c, const json_t *v)
{
	return ck_params(c, v, token_reserved);
}

static int
ck_token_auth(struct pchk *c, const json_t *v)
{
	static const char *const ta[] = {
		"client_secret_basic", "client_secret_post", "none", NULL };

	if (!json_is_string(v) || !in_nlist(json_string_value(v), ta))
		return jcheck_fail(&c->j, "must be one of client_secret_basic, "
		    "client_secret_post, none");
	return 0;
}

static int
ck_pkce(struct pchk *c, const json_t *v)
{
	if (!json_is_string(v) || strcmp(json_string_value(v), "S256") != 0)
		return jcheck_fail(&c->j, "must be \"S256\" (the only method allowed)");
	return 0;
}

static int
ck_client_id(struct pchk *c, const json_t *v)
{
	if (!printable(v, 1, MAX_CLIENT_ID))
		return jcheck_fail(&c->j, "must be 1 to %d printable ASCII characters",
		    MAX_CLIENT_ID);
	return 0;
}

static int
ck_client_secret(struct pchk *c, const json_t *v)
{
	if (!printable(v, 1, MAX_SECRET))
		return jcheck_fail(&c->j, "must be 1 to %d printable ASCII characters",
		    MAX_SECRET);
	return 0;
}

static int
ck_buffer(struct pchk *c, const json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MAX_BUFFER_S)
		return jcheck_fail(&c->j, "must be an integer from 0 to %d (seconds)",
		    MAX_BUFFER_S);
	return 0;
}

static int
ck_credentials(struct pchk *c, const json_t *v)
{
	char	 spath[SCHEMA_PATH_MAX];
	size_t	 len = strlen(c->j.path);

	if (schema_check(v, spath, sizeof(spath), c->j.reason,
	    c->j.reasonsz) != 0) {
		/* spath is rooted at the schema: "$.properties.x". */
		if ((size_t)snprintf(c->j.path + len, c->j.pathsz - len, "%s",
		    spath + 1) >= c->j.pathsz - len && c->j.pathsz > 4)
			memcpy(c->j.path + c->j.pathsz - 4, "...", 4);
		return -1;
	}
	c->creds = v;
	return 0;
}

/* ---- apply ---- */

static int
prop_required(const json_t *creds, const char *name)
{
	const json_t	*r;
	size_t		 i;

	json_array_foreach(json_object_get(creds, "required"), i, r)
		if (strcmp(json_string_value(r), name) == 0)
			return 1;
	return 0;
}

/* A template field; flags as in payload.h. */
static int
ck_template(struct pchk *c, const json_t *v, unsigned int flags)
{
	const json_t	*props = json_object_get(c->creds, "properties");
	struct tmpl	 t;
	enum tmpl_piece	 k;
	const char	*p;
	char		 name[SCHEMA_MAX_NAME + 1];
	size_t		 n, nrefs = 0;

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > PAYLOAD_TEMPLATE_MAX)
		return jcheck_fail(&c->j, "must be a string of 1 to %d bytes",
		    PAYLOAD_TEMPLATE_MAX);
	if (has_ctl(json_string_value(v), json_string_length(v)))
		return jcheck_fail(&c->j, "must not hold control characters");
	tmpl_init(&t, json_string_value(v), json_string_length(v));
	while ((k = tmpl_next(&t, &p, &n)) != TMPL_END) {
		if (k == TMPL_ERROR)
			return jcheck_fail(&c->j, "%s", t.why);
		if (k != TMPL_REF)
			continue;
		memcpy(name, p, n);	/* n <= SCHEMA_MAX_NAME */
		name[n] = '\0';
		nrefs++;
		if (json_object_get(props, name) == NULL)
			return jcheck_fail(&c->j, "names {%s}, which is not a property "
			    "of credentials", name);
		if ((flags & PF_REQUIRED) && !prop_required(c->creds, name))
			return jcheck_fail(&c->j, "names {%s}, which credentials does "
			    "not require", name);
		if ((flags & PF_SECRET) && !schema_is_secret(c->creds, name))
			return jcheck_fail(&c->j, "names {%s}, which is not a secret "
			    "property", name);
	}
	if ((flags & PF_SECRET) && nrefs == 0)
		return jcheck_fail(&c->j, "must name a secret property (a secret is "
		    "never part of a provider document)");
	return 0;
}

/* An RFC 9110 token: 1*tchar. */
static int
token_ok(const char *s, size_t len, size_t max)
{
	static const char	 tspecial[] = "!#$%&'*+-.^_`|~";
	size_t			 i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] != '\0' && strchr(tspecial, s[i]) != NULL)))
			return 0;
	return 1;
}

static int
header_name(struct pchk *c, const char *s, size_t len)
{
	size_t	 i;

	if (!token_ok(s, len, MAX_HEADER_NAME))
		return jcheck_fail(&c->j, "is not a header name (1 to %d token "
		    "characters)", MAX_HEADER_NAME);
	for (i = 0; bad_headers[i] != NULL; i++)
		if (strcasecmp(s, bad_headers[i]) == 0)
			return jcheck_fail(&c->j, "is a header a provider may not set");
	return 0;
}

static int
ck_headers(struct pchk *c, const json_t *v)
{
	const char	*key, *k2;
	json_t		*tv, *v2;
	size_t		 mark;

	if (!json_is_object(v) || json_object_size(v) == 0 ||
	    json_object_size(v) > MAX_HEADERS)
		return jcheck_fail(&c->j, "must be an object of 1 to %d headers",
		    MAX_HEADERS);
	json_object_foreach((json_t *)v, key, tv) {
		mark = jcheck_push(&c->j, key);
		if (!key_clean(key) || header_name(c, key, strlen(key)) != 0) {
			if (!key_clean(key))
				jcheck_fail(&c->j, "is not a header name");
			return -1;
		}
		json_object_foreach((json_t *)v, k2, v2) {
			if (k2 == key)
				break;
			if (strcasecmp(k2, key) == 0)
				return jcheck_fail(&c->j, "repeats an earlier header "
				    "(names are case-insensitive)");
		}
		if (ck_template(c, tv, PF_REQUIRED | PF_TEMPLATE) != 0)
			return -1;
		jcheck_pop(&c->j, mark);
	}
	return 0;
}

/* api_key's in and name. */
static int
ck_literal(struct pchk *c, const json_t *apply, const char *field,
    const json_t *v)
{
	const char	*in, *s = json_string_value(v);
	size_t		 len = json_string_length(v);

	if (s == NULL || strlen(s) != len)
		return jcheck_fail(&c->j, "must be a string");
	if (strcmp(field, "in") == 0) {
		if (strcmp(s, "header") != 0 && strcmp(s, "query") != 0)
			return jcheck_fail(&c->j, "must be \"header\" or \"query\"");
		return 0;
	}
	in = json_string_value(json_object_get(apply, "in"));
	if (in != NULL && strcmp(in, "query") == 0) {
		if (!urlname_ok(s, len, MAX_PARAM_NAME))
			return jcheck_fail(&c->j, "is not a query parameter name (1 to "
			    "%d of [A-Za-z0-9._~-])", MAX_PARAM_NAME);
		return 0;
	}
	return header_name(c, s, len);
}

static int
ck_apply(struct pchk *c, const json_t *apply)
{
	const struct payload_strategy	*st;
	const struct payload_field	*f;
	const json_t			*sv, *v;
	const char			*key;
	json_t				*fv;
	size_t				 mark;

	if (!json_is_object(apply))
		return jcheck_fail(&c->j, "must be an object");
	sv = json_object_get(apply, "strategy");
	mark = jcheck_push(&c->j, "strategy");
	if (sv == NULL)
		return jcheck_fail(&c->j, "is required");
	if (!json_is_string(sv) || strcmp(json_string_value(sv), c->mode) != 0)
		return jcheck_fail(&c->j, "must be \"%s\", as auth_mode says", c->mode);
	jcheck_pop(&c->j, mark);
	st = payload_strategy(c->mode);
	json_object_foreach((json_t *)apply, key, fv) {
		if (strcmp(key, "strategy") == 0)
			continue;
		mark = jcheck_push(&c->j, key);
		for (f = st->fields; f->name != NULL; f++)
			if (strcmp(key, f->name) == 0)
				break;
		if (f->name == NULL || !key_clean(key))
			return jcheck_fail(&c->j, "is not a field of strategy %s",
			    c->mode);
		if (f->flags & PF_MAP) {
			if (ck_headers(c, fv) != 0)
				return -1;
		} else if (f->flags & PF_TEMPLATE) {
			if (ck_template(c, fv, f->flags) != 0)
				return -1;
		} else if (ck_literal(c, apply, key, fv) != 0)
			return -1;
		jcheck_pop(&c->j, mark);
	}
	for (f = st->fields; f->name != NULL; f++)
		if ((f->flags & PF_REQUIRED) &&
		    (v = json_object_get(apply, f->name)) == NULL) {
			(void)jcheck_push(&c->j, f->name);
			return jcheck_fail(&c->j, "is required");
		}
	return 0;
}

/* ---- the document ---- */

static const struct pfield pfields[] = {
	{ "id",			 M_ALL,		ck_id },
	{ "display_name",	 M_ALL,		ck_display },
	{ "auth_mode",		 M_ALL,		ck_nothing },
	{ "authorization_url",	 M_OAUTH2,	ck_url },
	{ "token_url",		 M_OAUTH2,	ck_url },
	{ "revocation_url",	 M_OAUTH2,	ck_url },
	{ "discovery_url",	 M_OAUTH2,	ck_url },
	{ "issuer",		 M_OAUTH2,	ck_issuer },
	{ "default_scopes",	 M_OAUTH2,	ck_scopes },
	{ "scope_separator",	 M_OAUTH2,	ck_separator },
	{ "authorization_params", M_OAUTH2,	ck_auth_params },
	{ "token_params",	 M_OAUTH2,	ck_token_params },
	{ "token_auth",		 M_OAUTH2,	ck_token_auth },
	{ "pkce",		 M_OAUTH2,	ck_pkce },
	{ "client_id",		 M_OAUTH2,	ck_client_id },
	{ "client_secret",	 M_OAUTH2,	ck_client_secret },
	{ "token_expiration_buffer", M_OAUTH2,	ck_buffer },
	{ "return_urls",	 M_ALL,		ck_return_urls },
	{ "credentials",	 M_CAPTURED,	ck_credentials },
	{ "apply",		 M_CAPTURED,	ck_nothing },	/* below */
};

static const struct pfield *
pfield(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(pfields) / sizeof(pfields[0]); i++)
		if (strcmp(name, pfields[i].name) == 0)
			return &pfields[i];
	return NULL;
}

static int
ck_mode(struct pchk *c)
{
	const json_t	*v = json_object_get(c->doc, "auth_mode");
	size_t		 i, mark;

	mark = jcheck_push(&c->j, "auth_mode");
	if (v == NULL)
		return jcheck_fail(&c->j, "is required");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), modes[i]) == 0) {
			c->mode = modes[i];
			jcheck_pop(&c->j, mark);
			return 0;
		}
	return jcheck_fail(&c->j, "must be one of oauth2, api_key, basic_auth, bearer, "
	    "aws_sigv4, headers");
}

static int
ck_present(struct pchk *c, const char *name)
{
	if (json_object_get(c->doc, name) != NULL)
		return 0;
	(void)jcheck_push(&c->j, name);
	return jcheck_fail(&c->j, "is required");
}

static int
ck_oauth2(struct pchk *c)
{
	const json_t	*ta;

	if (json_object_get(c->doc, "issuer") == NULL &&
	    json_object_get(c->doc, "discovery_url") == NULL) {
		if (json_object_get(c->doc, "authorization_url") == NULL) {
			(void)jcheck_push(&c->j, "authorization_url");
			return jcheck_fail(&c->j, "is required unless issuer or "
			    "discovery_url is given");
		}
		if (json_object_get(c->doc, "token_url") == NULL) {
			(void)jcheck_push(&c->j, "token_url");
			return jcheck_fail(&c->j, "is required unless issuer or "
			    "discovery_url is given");
		}
	}
	ta = json_object_get(c->doc, "token_auth");
	if (json_object_get(c->doc, "client_secret") != NULL &&
	    ta != NULL && strcmp(json_string_value(ta), "none") == 0) {
		(void)jcheck_push(&c->j, "client_secret");
		return jcheck_fail(&c->j, "is not used with token_auth \"none\"");
	}
	return 0;
}

static int
check_doc(struct pchk *c)
{
	const struct pfield	*f;
	const char		*key;
	json_t			*v;
	size_t			 mark;
	unsigned int		 m;

	if (!json_is_object(c->doc))
		return jcheck_fail(&c->j, "must be an object");
	if (ck_mode(c) != 0)
		return -1;
	m = strcmp(c->mode, "oauth2") == 0 ? M_OAUTH2 : M_CAPTURED;
	json_object_foreach((json_t *)c->doc, key, v) {
		mark = jcheck_push(&c->j, key);
		if (!key_clean(key) || (f = pfield(key)) == NULL)
			return jcheck_fail(&c->j, "is not a field of a provider "
			    "document");
		if (!(f->modes & m))
			return jcheck_fail(&c->j, "is not a field of auth_mode %s",
			    c->mode);
		if (f->check(c, v) != 0)
			return -1;
		jcheck_pop(&c->j, mark);
	}
	if (ck_present(c, "id") != 0 || ck_present(c, "display_name") != 0)
		return -1;
	if (m == M_OAUTH2)
		return ck_oauth2(c);
	if (ck_present(c, "credentials") != 0 || ck_present(c, "apply") != 0)
		return -1;
	mark = jcheck_push(&c->j, "apply");
	if (ck_apply(c, json_object_get(c->doc, "apply")) != 0)
		return -1;
	jcheck_pop(&c->j, mark);
	return 0;
}

static int
set_default(json_t *o, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	if (json_object_get(o, key) != NULL) {
		json_decref(v);
		return 0;
	}
	return json_object_set_new(o, key, v);
}

static json_t *
normalize(const json_t *doc, const char *mode)
{
	json_t	*n, *creds;
	int	 rc = 0;

	if ((n = json_deep_copy(doc)) == NULL)
		return NULL;
	if (strcmp(mode, "oauth2") == 0) {
		rc |= set_default(n, "default_scopes", json_array());
		rc |= set_default(n, "scope_separator", json_string(" "));
		rc |= set_default(n, "token_auth",
		    json_string("client_secret_basic"));
		rc |= set_default(n, "pkce", json_string("S256"));
		rc |= set_default(n, "token_expiration_buffer",
		    json_integer(PROVIDER_TOKEN_BUFFER_DEFAULT));
	} else {
		creds = json_object_get(n, "credentials");
		rc |= set_default(creds, "required", json_array());
	}
	if (rc != 0) {
		json_decref(n);
		return NULL;
	}
	return n;
}

int
provider_check(const json_t *doc, json_t **normalized, char *path,
    size_t pathsz, char *reason, size_t reasonsz)
{
	struct pchk	 c;
	char		 dummy[1];

	memset(&c, 0, sizeof(c));
	c.j.path = pathsz > 0 ? path : dummy;
	c.j.pathsz = pathsz > 0 ? pathsz : sizeof(dummy);
	c.j.reason = reason;
	c.j.reasonsz = reasonsz;
	c.doc = doc;
	if (normalized != NULL)
		*normalized = NULL;
	if (reasonsz > 0)
		reason[0] = '\0';
	c.j.path[0] = '\0';
	if (c.j.pathsz > 1)
		snprintf(c.j.path, c.j.pathsz, "$");
	if (check_doc(&c) != 0)
		return -1;
	if (normalized != NULL &&
	    (*normalized = normalize(doc, c.mode)) == NULL)
		return jcheck_fail(&c.j, "out of memory");
	return 0;
}

/* ---- views ---- */

static int
copy_field(json_t *to, const json_t *from, const char *key)
{
	const json_t	*v;

	if ((v = json_object_get(from, key)) == NULL)
		return 0;
	return json_object_set_new(to, key, json_deep_copy(v));
}

json_t *
provider_public_view(const json_t *doc)
{
	static const char *const keys[] = {
		"id", "display_name", "auth_mode", "credentials",
		"default_scopes",
	};
	json_t	*o;
	size_t	 i;

	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (copy_field(o, doc, keys[i]) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

json_t *
provider_admin_view(const json_t *doc, int has_secret)
{
	json_t	*o;

	if ((o = json_deep_copy(doc)) == NULL)
		return NULL;
	if (json_object_get(o, "client_secret") != NULL) {
		has_secret = 1;
		(void)json_object_del(o, "client_secret");
	}
	if (json_object_set_new(o, "has_client_secret",
	    json_boolean(has_secret)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
provider_ready(const json_t *doc, int has_secret, char *reason,
    size_t reasonsz)
{
	const char	*mode, *ta;

	if (reasonsz > 0)
		reason[0] = '\0';
	mode = json_string_value(json_object_get(doc, "auth_mode"));
	if (mode == NULL || strcmp(mode, "oauth2") != 0)
		return 1;
	if (json_object_get(doc, "client_id") == NULL) {
		snprintf(reason, reasonsz, "client_id is not set");
		return 0;
	}
	ta = json_string_value(json_object_get(doc, "token_auth"));
	if ((ta == NULL || strcmp(ta, "none") != 0) && !has_secret &&
	    json_object_get(doc, "client_secret") == NULL) {
		snprintf(reason, reasonsz, "client_secret is not set");
		return 0;
	}
	return 1;
}
