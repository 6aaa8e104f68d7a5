/*
 * payload.c: the credential payload of DESIGN §8, from a provider's
 * `apply' and captured values, or from an OAuth access token.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "unpriv/payload.h"
#include "unpriv/schema.h"

#define T	PF_TEMPLATE
#define R	PF_REQUIRED
#define S	PF_SECRET

static const struct payload_field bearer_fields[] = {
	{ "token",		R | T | S },
	{ NULL, 0 },
};

static const struct payload_field basic_fields[] = {
	{ "username",		R | T },
	{ "password",		R | T | S },
	{ NULL, 0 },
};

/* in and name are literal: checked against the provider, never filled. */
static const struct payload_field api_key_fields[] = {
	{ "key",		R | T | S },
	{ "in",			R },
	{ "name",		R },
	{ "prefix",		T },
	{ NULL, 0 },
};

static const struct payload_field aws_fields[] = {
	{ "access_key_id",	R | T },
	{ "secret_access_key",	R | T | S },
	{ "session_token",	T | S },
	{ "region",		R | T },
	{ "service",		R | T },
	{ NULL, 0 },
};

static const struct payload_field headers_fields[] = {
	{ "headers",		R | PF_MAP },
	{ NULL, 0 },
};

#undef T
#undef R
#undef S

static const struct payload_strategy strategies[] = {
	{ "bearer",	bearer_fields },
	{ "basic_auth",	basic_fields },
	{ "api_key",	api_key_fields },
	{ "aws_sigv4",	aws_fields },
	{ "headers",	headers_fields },
};

const struct payload_strategy *
payload_strategy(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
		if (strcmp(name, strategies[i].name) == 0)
			return &strategies[i];
	return NULL;
}

/* ---- templates ---- */

void
tmpl_init(struct tmpl *t, const char *s, size_t len)
{
	t->s = s;
	t->len = len;
	t->pos = 0;
	t->why = NULL;
}

static enum tmpl_piece
tmpl_error(struct tmpl *t, const char *why)
{
	t->why = why;
	return TMPL_ERROR;
}

enum tmpl_piece
tmpl_next(struct tmpl *t, const char **piece, size_t *n)
{
	const char	*s = t->s;
	size_t		 i = t->pos, j;

	if (t->why != NULL)
		return TMPL_ERROR;
	if (i >= t->len)
		return TMPL_END;
	if ((s[i] == '{' || s[i] == '}') && i + 1 < t->len &&
	    s[i + 1] == s[i]) {
		*piece = s + i;
		*n = 1;
		t->pos = i + 2;
		return TMPL_TEXT;
	}
	if (s[i] == '}')
		return tmpl_error(t, "has a } without a { (write }} for a "
		    "literal })");
	if (s[i] == '{') {
		for (j = i + 1; j < t->len && s[j] != '}' && s[j] != '{'; j++)
			;
		if (j == t->len || s[j] != '}')
			return tmpl_error(t, "has a { without a } (write {{ "
			    "for a literal {)");
		if (!schema_name_ok(s + i + 1, j - i - 1))
			return tmpl_error(t, "has a {...} that is not a "
			    "property name");
		*piece = s + i + 1;
		*n = j - i - 1;
		t->pos = j + 1;
		return TMPL_REF;
	}
	for (j = i; j < t->len && s[j] != '{' && s[j] != '}'; j++)
		;
	*piece = s + i;
	*n = j - i;
	t->pos = j;
	return TMPL_TEXT;
}

int
payload_connection_ok(const char *s)
{
	size_t	 i, len;

	if (s == NULL || (len = strlen(s)) == 0 || len > 128)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* ---- filling ---- */

/* What a build is doing, for its error messages. */
struct build {
	const json_t	*values;
	char		*reason;
	size_t		 reasonsz;
};

static int __attribute__((__format__(__printf__, 2, 3)))
bfail(struct build *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(b->reason, b->reasonsz, fmt, ap);
	va_end(ap);
	return -1;
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

/*
 * The text of a captured value: a string's bytes, or a number or
 * boolean written out in num (at least 32 bytes).  -1 for other types.
 */
static int
value_text(const json_t *v, char *num, size_t numsz, const char **p,
    size_t *n)
{
	int	 len;

	if (json_is_string(v)) {
		*p = json_string_value(v);
		*n = json_string_length(v);
		return 0;
	}
	if (json_is_integer(v))
		len = snprintf(num, numsz, "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_real(v))
		len = snprintf(num, numsz, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		len = snprintf(num, numsz, "%s",
		    json_is_true(v) ? "true" : "false");
	else
		return -1;
	if (len < 0 || (size_t)len >= numsz)
		return -1;
	*p = num;
	*n = (size_t)len;
	return 0;
}

/*
 * Measure (out NULL) or write the filled template tv of field.  Returns
 * the length, or -1 (error, reason set) or -2 (a value is absent: its
 * name in *absent and *absentlen).
 */
static long
fill_pass(struct build *b, const char *field, const json_t *tv, char *out,
    const char **absent, size_t *absentlen)
{
	struct tmpl	 t;
	enum tmpl_piece	 k;
	const json_t	*v;
	const char	*p, *name;
	char		 num[40];
	size_t		 n, namelen, total = 0;
	long		 rc = -1;

	tmpl_init(&t, json_string_value(tv), json_string_length(tv));
	while ((k = tmpl_next(&t, &p, &n)) != TMPL_END) {
		if (k == TMPL_ERROR) {
			bfail(b, "%s %s", field, t.why);
			goto done;
		}
		if (k == TMPL_REF) {
			name = p;
			namelen = n;
			if ((v = json_object_getn(b->values, p, n)) == NULL ||
			    json_is_null(v)) {
				*absent = name;
				*absentlen = n;
				rc = -2;
				goto done;
			}
			if (value_text(v, num, sizeof(num), &p, &n) != 0) {
				bfail(b, "the value of %.*s is not a string, "
				    "number or boolean", (int)namelen, name);
				goto done;
			}
			if (has_ctl(p, n)) {
				bfail(b, "the value of %.*s holds a control "
				    "character", (int)namelen, name);
				goto done;
			}
		} else if (has_ctl(p, n)) {
			bfail(b, "%s holds a control character", field);
			goto done;
		}
		if (n > PAYLOAD_VALUE_MAX - total) {
			bfail(b, "%s would be longer than %d bytes", field,
			    PAYLOAD_VALUE_MAX);
			goto done;
		}
		if (out != NULL)
			memcpy(out + total, p, n);
		total += n;
	}
	rc = (long)total;
 done:
	explicit_bzero(num, sizeof(num));
	return rc;
}

/*
 * Fill template tv of field into *res.  0; 1 when a value it names is
 * absent (reason says which); -1 on error.
 */
static int
fill(struct build *b, const char *field, const json_t *tv, json_t **res)
{
	const char	*absent = NULL;
	size_t		 absentlen = 0;
	char		*buf;
	long		 len, len2;

	*res = NULL;
	if (!json_is_string(tv))
		return bfail(b, "%s is not a string", field);
	if ((len = fill_pass(b, field, tv, NULL, &absent, &absentlen)) == -2) {
		bfail(b, "%s needs %.*s, which has no value", field,
		    (int)absentlen, absent);
		return 1;
	}
	if (len < 0)
		return -1;
	if ((buf = malloc((size_t)len + 1)) == NULL)
		return bfail(b, "out of memory");
	len2 = fill_pass(b, field, tv, buf, &absent, &absentlen);
	if (len2 == len) {
		/* jansson copies: buf is ours to wipe. */
		if ((*res = json_stringn(buf, (size_t)len)) == NULL)
			bfail(b, "%s is not valid UTF-8", field);
	} else
		bfail(b, "%s changed while it was filled", field);
	explicit_bzero(buf, (size_t)len + 1);
	free(buf);
	return *res == NULL ? -1 : 0;
}

/* headers: {"headers": {NAME: template}}, every header required. */
static json_t *
fill_map(struct build *b, const json_t *map)
{
	json_t		*out, *tv, *v;
	const char	*key;
	char		 field[96];

	if (!json_is_object(map) || json_object_size(map) == 0) {
		bfail(b, "apply.headers is not an object of headers");
		return NULL;
	}
	if ((out = json_object()) == NULL) {
		bfail(b, "out of memory");
		return NULL;
	}
	json_object_foreach((json_t *)map, key, tv) {
		snprintf(field, sizeof(field), "apply.headers");
		schema_path_member(field, sizeof(field), key);
		if (fill(b, field, tv, &v) != 0 ||
		    json_object_set_new(out, key, v) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* One field of a strategy into creds; 0 or -1. */
static int
build_field(struct build *b, const struct payload_field *f,
    const json_t *apply, json_t *creds)
{
	const json_t	*v;
	json_t		*res = NULL;
	char		 field[64];
	int		 rc;

	snprintf(field, sizeof(field), "apply.%s", f->name);
	if ((v = json_object_get(apply, f->name)) == NULL) {
		if (f->flags & PF_REQUIRED)
			return bfail(b, "%s is missing", field);
		return 0;
	}
	if (f->flags & PF_MAP) {
		if ((res = fill_map(b, v)) == NULL)
			return -1;
	} else if (f->flags & PF_TEMPLATE) {
		if ((rc = fill(b, field, v, &res)) == 1 &&
		    !(f->flags & PF_REQUIRED))
			return 0;	/* optional, and its value is absent */
		if (rc != 0)
			return -1;
	} else {
		if (!json_is_string(v))
			return bfail(b, "%s is not a string", field);
		if ((res = json_string(json_string_value(v))) == NULL)
			return bfail(b, "out of memory");
	}
	if (json_object_set_new(creds, f->name, res) != 0)
		return bfail(b, "out of memory");
	return 0;
}

static json_t *
build_apply(struct build *b, const json_t *provider, const char *mode)
{
	const struct payload_strategy	*st;
	const struct payload_field	*f;
	const json_t			*apply;
	const char			*name, *key;
	json_t				*creds, *v;

	apply = json_object_get(provider, "apply");
	name = json_string_value(json_object_get(apply, "strategy"));
	if (name == NULL || strcmp(name, mode) != 0 ||
	    (st = payload_strategy(name)) == NULL) {
		bfail(b, "the provider's apply.strategy is not %s", mode);
		return NULL;
	}
	/* Fields the strategy does not know would be dropped silently. */
	json_object_foreach((json_t *)apply, key, v) {
		for (f = st->fields; f->name != NULL; f++)
			if (strcmp(key, f->name) == 0)
				break;
		if (f->name == NULL && strcmp(key, "strategy") != 0) {
			bfail(b, "apply has a field that %s does not know",
			    name);
			return NULL;
		}
	}
	if ((creds = json_object()) == NULL) {
		bfail(b, "out of memory");
		return NULL;
	}
	for (f = st->fields; f->name != NULL; f++)
		if (build_field(b, f, apply, creds) != 0) {
			json_decref(creds);
			return NULL;
		}
	return creds;
}

static json_t *
build_oauth2(struct build *b)
{
	const json_t	*at, *tt;
	json_t		*creds;
	const char	*type = "Bearer";
	size_t		 i, n;

	at = json_object_get(b->values, "access_token");
	if (!json_is_string(at) || json_string_length(at) == 0 ||
	    json_string_length(at) > PAYLOAD_VALUE_MAX) {
		bfail(b, "access_token is missing or not a string");
		return NULL;
	}
	if (has_ctl(json_string_value(at), json_string_length(at))) {
		bfail(b, "the value of access_token holds a control "
		    "character");
		return NULL;
	}
	if ((tt = json_object_get(b->values, "token_type")) != NULL &&
	    !json_is_null(tt)) {
		if (!json_is_string(tt) || (n = json_string_length(tt)) == 0 ||
		    n > 32) {
			bfail(b, "token_type is not a short string");
			return NULL;
		}
		type = json_string_value(tt);
		for (i = 0; i < n; i++)
			if (!((type[i] >= 'A' && type[i] <= 'Z') ||
			    (type[i] >= 'a' && type[i] <= 'z') ||
			    (type[i] >= '0' && type[i] <= '9') ||
			    type[i] == '-' || type[i] == '_')) {
				bfail(b, "token_type is not a token type");
				return NULL;
			}
		/* RFC 6749 §5.1: case-insensitive; servers want "Bearer". */
		if (strcasecmp(type, "bearer") == 0)
			type = "Bearer";
	}
	if ((creds = json_pack("{s:s%, s:s}", "access_token",
	    json_string_value(at), json_string_length(at),
	    "token_type", type)) == NULL)
		bfail(b, "out of memory");
	return creds;
}

int
payload_build(const json_t *provider, const char *connection,
    const json_t *values, const char *expires_at, json_t **out,
    char *reason, size_t reasonsz)
{
	struct build	 b = { values, reason, reasonsz };
	const char	*id, *mode;
	json_t		*creds, *exp, *o;
	int		 rc;

	*out = NULL;
	if (reasonsz > 0)
		reason[0] = '\0';
	id = json_string_value(json_object_get(provider, "id"));
	mode = json_string_value(json_object_get(provider, "auth_mode"));
	if (id == NULL || mode == NULL)
		return bfail(&b, "the provider has no id or auth_mode");
	if (!payload_connection_ok(connection))
		return bfail(&b, "the connection id is not valid");
	if (expires_at != NULL && schema_format_ok("date-time", expires_at,
	    strlen(expires_at)) != 0)
		return bfail(&b, "expires_at is not an RFC 3339 time");
	if (!json_is_object(values))
		return bfail(&b, "the values are not an object");
	if (expires_at == NULL)
		exp = json_null();
	else if ((exp = json_string(expires_at)) == NULL)
		return bfail(&b, "out of memory");
	if (strcmp(mode, "oauth2") == 0)
		creds = build_oauth2(&b);
	else
		creds = build_apply(&b, provider, mode);
	if (creds == NULL) {
		json_decref(exp);
		return -1;
	}
	if ((o = json_object()) == NULL) {
		json_decref(exp);
		json_decref(creds);
		return bfail(&b, "out of memory");
	}
	/* Every call runs: json_object_set_new takes its value even when
	 * it fails. */
	rc = json_object_set_new(o, "connection", json_string(connection));
	rc |= json_object_set_new(o, "provider", json_string(id));
	rc |= json_object_set_new(o, "strategy", json_string(mode));
	rc |= json_object_set_new(o, "expires_at", exp);
	rc |= json_object_set_new(o, "credentials", creds);
	if (rc != 0) {
		json_decref(o);
		return bfail(&b, "out of memory");
	}
	*out = o;
	return 0;
}
