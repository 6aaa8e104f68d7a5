/*
 * schema.c: our JSON Schema subset (schema.h).  No library implements
 * exactly this subset, and a general validator would accept keywords we
 * do not enforce; so the checker below knows every keyword it allows and
 * refuses the rest.
 */
#include <sys/types.h>

#include <regex.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "unpriv/schema.h"

#define TRUNC_MARK	"..."

/* Where the first error of schema_check goes. */
/* A property's keywords, gathered by prop_gather. */
struct prop {
	const char	*type;
	const json_t	*title, *descr, *secret, *pattern, *format;
	const json_t	*minlen, *maxlen, *enm, *dflt;
};

static const char *const formats[] = {
	"uri", "email", "hostname", "uuid", "date-time",
};

static const char *const types[] = {
	"string", "integer", "number", "boolean",
};

/* ---- UTF-8 and paths ---- */

size_t
schema_utf8_len(const char *s, size_t len)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * One code point of s at *i (advanced); U+FFFD for a malformed sequence
 * (jansson only hands out valid UTF-8, but a path must never be less
 * careful than its input).
 */
static uint32_t
utf8_next(const char *s, size_t len, size_t *i)
{
	const unsigned char	*u = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n, k;

	if (u[*i] < 0x80)
		return u[(*i)++];
	if ((u[*i] & 0xe0) == 0xc0) {
		n = 1;
		cp = u[*i] & 0x1fu;
	} else if ((u[*i] & 0xf0) == 0xe0) {
		n = 2;
		cp = u[*i] & 0x0fu;
	} else if ((u[*i] & 0xf8) == 0xf0) {
		n = 3;
		cp = u[*i] & 0x07u;
	} else {
		(*i)++;
		return 0xfffd;
	}
	if (*i + n >= len) {
		*i = len;
		return 0xfffd;
	}
	for (k = 1; k <= n; k++) {
		if ((u[*i + k] & 0xc0) != 0x80) {
			*i += k;
			return 0xfffd;
		}
		cp = (cp << 6) | (u[*i + k] & 0x3fu);
	}
	*i += n + 1;
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0xfffd;
	return cp;
}

static int
path_full(const char *path)
{
	size_t	 len = strlen(path), m = sizeof(TRUNC_MARK) - 1;

	return len >= m && strcmp(path + len - m, TRUNC_MARK) == 0;
}

/* Append s whole, or mark the path truncated; 0 or -1 (full). */
static int
path_put(char *path, size_t pathsz, const char *s)
{
	size_t	 len = strlen(path), n = strlen(s), m = sizeof(TRUNC_MARK) - 1;

	if (len + n + m < pathsz) {
		memcpy(path + len, s, n + 1);
		return 0;
	}
	if (len + m < pathsz)
		memcpy(path + len, TRUNC_MARK, m + 1);
	else if (pathsz > m)
		memcpy(path + pathsz - m - 1, TRUNC_MARK, m + 1);
	return -1;
}

int
schema_name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > SCHEMA_MAX_NAME ||
	    !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return 0;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* One code point as the inside of an RFC 9535 single-quoted string. */
static void
quote_cp(char *buf, size_t bufsz, uint32_t cp)
{
	switch (cp) {
	case '\'':
		snprintf(buf, bufsz, "\\'");
		return;
	case '\\':
		snprintf(buf, bufsz, "\\\\");
		return;
	}
	if (cp >= 0x20 && cp < 0x7f)
		snprintf(buf, bufsz, "%c", (char)cp);
	else if (cp <= 0xffff)
		snprintf(buf, bufsz, "\\u%04x", (unsigned int)cp);
	else {
		cp -= 0x10000;
		snprintf(buf, bufsz, "\\u%04x\\u%04x",
		    (unsigned int)(0xd800 + (cp >> 10)),
		    (unsigned int)(0xdc00 + (cp & 0x3ff)));
	}
}

void
schema_path_member(char *path, size_t pathsz, const char *name)
{
	char	 unit[16];
	size_t	 i = 0, len = strlen(name);

	if (pathsz == 0 || path_full(path))
		return;
	if (schema_name_ok(name, len)) {
		char	 dotted[SCHEMA_MAX_NAME + 2];

		snprintf(dotted, sizeof(dotted), ".%s", name);
		(void)path_put(path, pathsz, dotted);
		return;
	}
	if (path_put(path, pathsz, "['") != 0)
		return;
	while (i < len) {
		quote_cp(unit, sizeof(unit), utf8_next(name, len, &i));
		if (path_put(path, pathsz, unit) != 0)
			return;
	}
	(void)path_put(path, pathsz, "']");
}

void
schema_path_index(char *path, size_t pathsz, size_t idx)
{
	char	 unit[32];

	if (pathsz == 0 || path_full(path))
		return;
	snprintf(unit, sizeof(unit), "[%zu]", idx);
	(void)path_put(path, pathsz, unit);
}

/* ---- formats ---- */

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 1123 host name: dot-separated labels of [A-Za-z0-9-], no edge -. */
static int
fmt_hostname(const char *s, size_t len)
{
	size_t	 i, lab = 0;

	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return -1;
			lab = 0;
			continue;
		}
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return -1;
		if (s[i] == '-' && lab == 0)
			return -1;
		if (++lab > 63)
			return -1;
	}
	return (lab == 0 || s[len - 1] == '-') ? -1 : 0;
}

/* addr-spec with a dot-atom local part (RFC 5321/5322) and a host name. */
static int
fmt_email(const char *s, size_t len)
{
	static const char	 atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char		*at;
	size_t			 i, local;

	if (len > 254 || (at = memchr(s, '@', len)) == NULL)
		return -1;
	local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
		return -1;
	for (i = 0; i < local; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return -1;
			continue;
		}
		if (!is_alpha(s[i]) && !is_digit(s[i]) &&
		    (s[i] == '\0' || strchr(atext, s[i]) == NULL))
			return -1;
	}
	/* A domain of one label would be a local host: not an address. */
	if (memchr(at + 1, '.', len - local - 1) == NULL)
		return -1;
	return fmt_hostname(at + 1, len - local - 1);
}

/* 8-4-4-4-12 hex digits (RFC 9562 string form). */
static int
fmt_uuid(const char *s, size_t len)
{
	size_t	 i;

	if (len != 36)
		return -1;
	for (i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
		} else if (!is_hex(s[i]))
			return -1;
	}
	return 0;
}

static int
num(const char *s, size_t n, int lo, int hi, int *out)
{
	size_t	 i;
	int	 v = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	if (out != NULL)
		*out = v;
	return 0;
}

static int
mdays(int y, int m)
{
	static const int	 days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 29;
	return days[m - 1];
}

/* RFC 3339 date-time: 2026-11-27T05:00:00.5Z, 2026-11-27t05:00:00+01:00 */
static int
fmt_datetime(const char *s, size_t len)
{
	int	 y, m, d;
	size_t	 i;

	if (len < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	if (num(s, 4, 0, 9999, &y) || num(s + 5, 2, 1, 12, &m) ||
	    num(s + 8, 2, 1, 31, &d) || d > mdays(y, m) ||
	    num(s + 11, 2, 0, 23, NULL) || num(s + 14, 2, 0, 59, NULL) ||
	    num(s + 17, 2, 0, 60, NULL))
		return -1;
	i = 19;
	if (s[i] == '.') {
		if (++i >= len || !is_digit(s[i]))
			return -1;
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i == len - 1 && (s[i] == 'Z' || s[i] == 'z'))
		return 0;
	if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return -1;
	return (num(s + i + 1, 2, 0, 23, NULL) ||
	    num(s + i + 4, 2, 0, 59, NULL)) ? -1 : 0;
}

/*
 * An absolute URI (RFC 3986 §4.3): scheme ":" and then only characters a
 * URI may hold, percent escapes well formed, no fragment's second "#".
 */
static int
fmt_uri(const char *s, size_t len)
{
	static const char	 ok[] = "-._~:/?#[]@!$&'()*+,;=";
	size_t			 i;
	int			 hash = 0;

	if (len == 0 || len > 2048 || !is_alpha(s[0]))
		return -1;
	for (i = 1; i < len && s[i] != ':'; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '+' &&
		    s[i] != '-' && s[i] != '.')
			return -1;
	if (i == len)
		return -1;
	for (i++; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len || !is_hex(s[i + 1]) ||
			    !is_hex(s[i + 2]))
				return -1;
			i += 2;
		} else if (s[i] == '#' && hash++)
			return -1;
		else if (!is_alpha(s[i]) && !is_digit(s[i]) &&
		    (s[i] == '\0' || strchr(ok, s[i]) == NULL))
			return -1;
	}
	return 0;
}

int
schema_format_ok(const char *format, const char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL)
		return -1;
	if (strcmp(format, "uri") == 0)
		return fmt_uri(s, len);
	if (strcmp(format, "email") == 0)
		return fmt_email(s, len);
	if (strcmp(format, "hostname") == 0)
		return fmt_hostname(s, len);
	if (strcmp(format, "uuid") == 0)
		return fmt_uuid(s, len);
	if (strcmp(format, "date-time") == 0)
		return fmt_datetime(s, len);
	return -1;
}

/* ---- patterns ---- */

/*
 * A bound of a repetition at p[*j]: digits, capped just above the limit so
 * that a long run of them cannot overflow.  -1 if there are none.
 */
static int
rep_bound(const char *p, size_t len, size_t *j)
{
	int	 v = 0;
	size_t	 start = *j;

	for (; *j < len && is_digit(p[*j]); (*j)++)
		if (v <= SCHEMA_MAX_REPEAT)
			v = v * 10 + (p[*j] - '0');
	return *j == start ? -1 : v;
}

/*
 * {m}, {m,} or {m,n} at p[i]: the index after it and in *copies how many
 * copies of its operand regcomp makes (n, or m + 1 when unbounded); or 0
 * with *why set.
 */
static size_t
rep_counted(const char *p, size_t len, size_t i, int *copies,
    const char **why)
{
	size_t	 j = i + 1;
	int	 m, n;

	if ((m = rep_bound(p, len, &j)) < 0)
		goto bad;
	n = m;
	if (j < len && p[j] == ',') {
		j++;
		n = (j < len && is_digit(p[j])) ? rep_bound(p, len, &j) : -1;
	}
	if (j == len || p[j] != '}')
		goto bad;
	if (m > SCHEMA_MAX_REPEAT || n > SCHEMA_MAX_REPEAT) {
		*why = "repeats more than 255 times";
		return 0;
	}
	if (n >= 0 && n < m) {
		*why = "has a repetition {m,n} with n < m";
		return 0;
	}
	*copies = n < 0 ? m + 1 : n;
	return j + 1;
 bad:
	*why = "has a { that is not a repetition {m}, {m,} or {m,n}";
	return 0;
}

/* A bracket expression at p[i]; the index after it, or 0 with *why set. */
static size_t
bracket(const char *p, size_t len, size_t i, const char **why)
{
	size_t	 j = i + 1;

	if (j < len && p[j] == '^')
		j++;
	if (j < len && p[j] == ']') {
		/* POSIX: a literal ]; ECMA-262: an empty set. */
		*why = "starts a [...] with ]";
		return 0;
	}
	for (; j < len && p[j] != ']'; j++) {
		if (p[j] == '\\') {
			*why = "has a backslash inside [...]";
			return 0;
		}
		if (p[j] == '[' && j + 1 < len && strchr(":.=", p[j + 1]) != NULL) {
			*why = "uses [: :], [. .] or [= =]";
			return 0;
		}
	}
	if (j == len) {
		*why = "has an unterminated [";
		return 0;
	}
	return j + 1;
}

/*
 * The dialect check of schema.h, and an estimate of the size of what
 * regcomp builds: glibc copies the operand of X+ once and of X{m,n} n
 * times, so nested repetitions multiply (the fuzzer found a 300-byte
 * pattern that took seconds and gigabytes to compile).  seq[d] is the
 * size of the branch being read in group d, alt[d] that of its earlier
 * branches, last the size of the atom a quantifier would repeat (0: there
 * is none, for a quantifier may not follow another).
 */
static int
pattern_dialect(const char *p, size_t len, const char **why)
{
	static const char	 escapable[] = ".[]()|*+?{}^$\\";
	unsigned long		 seq[SCHEMA_MAX_PATTERN + 1];
	unsigned long		 alt[SCHEMA_MAX_PATTERN + 1];
	unsigned long		 last = 0, grown;
	size_t			 i = 0, d = 0;
	int			 copies;

	seq[0] = alt[0] = 0;
	while (i < len) {
		switch (p[i]) {
		case '\\':
			if (i + 1 == len || strchr(escapable, p[i + 1]) == NULL) {
				*why = "escapes something other than "
				    ". [ ] ( ) | * + ? { } ^ $ or backslash";
				return -1;
			}
			i += 2;
			seq[d] += last = 1;
			break;
		case '[':
			if ((i = bracket(p, len, i, why)) == 0)
				return -1;
			seq[d] += last = 1;
			break;
		case '(':
			i++;
			d++;
			seq[d] = alt[d] = 0;
			last = 0;
			break;
		case ')':
			if (d == 0) {
				*why = "has an unbalanced )";
				return -1;
			}
			i++;
			last = alt[d] + seq[d] + 1;
			d--;
			seq[d] += last;
			break;
		case '|':
			i++;
			alt[d] += seq[d] + 1;
			seq[d] = last = 0;
			break;
		case '}':
			*why = "has a } outside a repetition";
			return -1;
		case '*':
		case '+':
		case '?':
		case '{':
			if (last == 0) {
				*why = "has a quantifier with nothing (or "
				    "another quantifier) before it";
				return -1;
			}
			if (p[i] == '{') {
				if ((i = rep_counted(p, len, i, &copies,
				    why)) == 0)
					return -1;
				grown = last * (unsigned long)copies + 1;
			} else {
				grown = last * (p[i] == '+' ? 2 : 1) + 1;
				i++;
			}
			seq[d] = seq[d] - last + grown;
			last = 0;
			break;
		default:
			i++;
			seq[d] += last = 1;
			break;
		}
		if (alt[d] + seq[d] > SCHEMA_PATTERN_COST) {
			*why = "is too complex (its repetitions multiply)";
			return -1;
		}
	}
	if (d != 0) {
		*why = "has an unbalanced (";
		return -1;
	}
	return 0;
}

/* Compile pattern p (a checked schema's) into re; 0 or -1. */
static int
pattern_compile(const char *p, regex_t *re)
{
	return regcomp(re, p, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
}

static int
pattern_check(const json_t *v, char *why, size_t whysz)
{
	const char	*p = json_string_value(v), *w = NULL;
	size_t		 len = json_string_length(v), i;
	regex_t		 re;
	int		 rc;

	if (len == 0) {
		snprintf(why, whysz, "must not be empty");
		return -1;
	}
	if (len > SCHEMA_MAX_PATTERN) {
		snprintf(why, whysz, "is longer than %d bytes",
		    SCHEMA_MAX_PATTERN);
		return -1;
	}
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e) {
			snprintf(why, whysz, "must be printable ASCII");
			return -1;
		}
	if (pattern_dialect(p, len, &w) != 0) {
		snprintf(why, whysz, "%s", w);
		return -1;
	}
	if ((rc = regcomp(&re, p, REG_EXTENDED | REG_NOSUB)) != 0) {
		char	 msg[96];

		regerror(rc, &re, msg, sizeof(msg));
		snprintf(why, whysz, "does not compile: %s", msg);
		return -1;
	}
	regfree(&re);
	return 0;
}

/* ---- shared helpers ---- */

static int
in_list(const char *s, const char *const *list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* Key of a json_object_foreach: 0 if it holds a NUL (jansson allows it). */
static int
key_clean(const char *key)
{
	return json_object_iter_key_len(json_object_key_to_iter(key)) ==
	    strlen(key);
}

/* 2^53: beyond it a double does not hold every integer. */
#define EXACT_MAX	9007199254740992.0

/* JSON Schema's integer: a number with no fractional part. */
static int
is_integral(const json_t *v)
{
	double	 d;

	if (json_is_integer(v))
		return 1;
	if (!json_is_real(v))
		return 0;
	d = json_real_value(v);
	if (!(d >= -EXACT_MAX && d <= EXACT_MAX))
		return 0;
	return d == (double)(long long)d;
}

static int
of_type(const char *type, const json_t *v)
{
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return is_integral(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	return 0;
}

/* Equal as JSON Schema sees it: 1 and 1.0 are the same number. */
static int
same_value(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* A non-negative integer no larger than max, or -1. */
static long long
small_uint(const json_t *v, long long max)
{
	long long	 n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	return (n < 0 || n > max) ? -1 : n;
}

/* ---- schema_check ---- */

int
jcheck_fail(struct jcheck *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, c->reasonsz, fmt, ap);
	va_end(ap);
	return -1;
}

size_t
jcheck_push(struct jcheck *c, const char *name)
{
	size_t	 mark = strlen(c->path);

	schema_path_member(c->path, c->pathsz, name);
	return mark;
}

size_t
jcheck_push_index(struct jcheck *c, size_t i)
{
	size_t	 mark = strlen(c->path);

	schema_path_index(c->path, c->pathsz, i);
	return mark;
}

void
jcheck_pop(struct jcheck *c, size_t mark)
{
	c->path[mark] = '\0';
}

/* A title or description: a string of at most max code points. */
static int
chk_text(struct jcheck *c, const json_t *v, size_t max)
{
	if (!json_is_string(v))
		return jcheck_fail(c, "must be a string");
	if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
		return jcheck_fail(c, "must not hold a NUL character");
	if (schema_utf8_len(json_string_value(v), json_string_length(v)) > max)
		return jcheck_fail(c, "is longer than %zu characters", max);
	return 0;
}

/* Check the keyword key of a property into p; -1 if unknown. */
static int
prop_gather(struct jcheck *c, struct prop *p, const char *key, const json_t *v)
{
	static const struct {
		const char	*kw;
		size_t		 off;
	} kws[] = {
		{ "title",	offsetof(struct prop, title) },
		{ "description", offsetof(struct prop, descr) },
		{ "secret",	offsetof(struct prop, secret) },
		{ "pattern",	offsetof(struct prop, pattern) },
		{ "format",	offsetof(struct prop, format) },
		{ "minLength",	offsetof(struct prop, minlen) },
		{ "maxLength",	offsetof(struct prop, maxlen) },
		{ "enum",	offsetof(struct prop, enm) },
		{ "default",	offsetof(struct prop, dflt) },
	};
	size_t	 i;

	if (strcmp(key, "type") == 0) {
		if (!json_is_string(v) || !in_list(json_string_value(v), types,
		    sizeof(types) / sizeof(types[0])))
			return jcheck_fail(c, "must be one of string, integer, "
			    "number, boolean");
		p->type = json_string_value(v);
		return 0;
	}
	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (strcmp(key, kws[i].kw) == 0) {
			*(const json_t **)((char *)p + kws[i].off) = v;
			return 0;
		}
	return jcheck_fail(c, "is not a keyword of this schema subset");
}

static void	 validate_prop(const struct prop *, const json_t *,
		    const char *, struct schema_errors *);

/* The keywords that only strings may have. */
static int
prop_string_kws(struct jcheck *c, const struct prop *p)
{
	char		 why[SCHEMA_REASON_MAX];
	long long	 min = 0, max = SCHEMA_MAX_LENGTH;
	size_t		 mark;

	if (p->pattern != NULL) {
		mark = jcheck_push(c, "pattern");
		if (!json_is_string(p->pattern))
			return jcheck_fail(c, "must be a string");
		if (pattern_check(p->pattern, why, sizeof(why)) != 0)
			return jcheck_fail(c, "%s", why);
		jcheck_pop(c, mark);
	}
	if (p->format != NULL) {
		mark = jcheck_push(c, "format");
		if (!json_is_string(p->format) ||
		    !in_list(json_string_value(p->format), formats,
		    sizeof(formats) / sizeof(formats[0])))
			return jcheck_fail(c, "must be one of uri, email, "
			    "hostname, uuid, date-time");
		jcheck_pop(c, mark);
	}
	if (p->minlen != NULL) {
		mark = jcheck_push(c, "minLength");
		if ((min = small_uint(p->minlen, SCHEMA_MAX_LENGTH)) < 0)
			return jcheck_fail(c, "must be an integer from 0 to %d",
			    SCHEMA_MAX_LENGTH);
		jcheck_pop(c, mark);
	}
	if (p->maxlen != NULL) {
		mark = jcheck_push(c, "maxLength");
		if ((max = small_uint(p->maxlen, SCHEMA_MAX_LENGTH)) < 0)
			return jcheck_fail(c, "must be an integer from 0 to %d",
			    SCHEMA_MAX_LENGTH);
		if (max < min)
			return jcheck_fail(c, "is less than minLength");
		jcheck_pop(c, mark);
	}
	return 0;
}

static int
prop_enum(struct jcheck *c, const struct prop *p)
{
	const json_t	*v;
	size_t		 i, j, mark, n;

	mark = jcheck_push(c, "enum");
	if (!json_is_array(p->enm) || (n = json_array_size(p->enm)) == 0 ||
	    n > SCHEMA_MAX_ENUM)
		return jcheck_fail(c, "must be an array of 1 to %d values",
		    SCHEMA_MAX_ENUM);
	if (p->secret != NULL && json_is_true(p->secret))
		return jcheck_fail(c, "is not allowed on a secret property "
		    "(its values would be public)");
	json_array_foreach(p->enm, i, v) {
		size_t	 m2 = strlen(c->path);

		schema_path_index(c->path, c->pathsz, i);
		if (!of_type(p->type, v))
			return jcheck_fail(c, "must be of the property's type");
		if (json_is_string(v) && memchr(json_string_value(v), '\0',
		    json_string_length(v)) != NULL)
			return jcheck_fail(c, "must not hold a NUL character");
		for (j = 0; j < i; j++)
			if (same_value(json_array_get(p->enm, j), v))
				return jcheck_fail(c, "repeats an earlier value");
		jcheck_pop(c, m2);
	}
	jcheck_pop(c, mark);
	return 0;
}

static int
prop_default(struct jcheck *c, const struct prop *p)
{
	struct schema_errors	 errs;
	char			 vpath[8] = "$";
	size_t			 mark;

	mark = jcheck_push(c, "default");
	if (p->secret != NULL && json_is_true(p->secret))
		return jcheck_fail(c, "is not allowed on a secret property "
		    "(it would be public)");
	memset(&errs, 0, sizeof(errs));
	validate_prop(p, p->dflt, vpath, &errs);
	if (errs.n != 0)
		return jcheck_fail(c, "does not satisfy the property: %s",
		    errs.e[0].reason);
	jcheck_pop(c, mark);
	return 0;
}

/* Gather the keywords of a checked property. */
static void
prop_load(const json_t *pv, struct prop *p)
{
	struct jcheck	 scratch;
	const char	*key;
	json_t		*v;
	char		 path[2], reason[2];

	scratch = (struct jcheck){ path, sizeof(path), reason, sizeof(reason) };
	memset(p, 0, sizeof(*p));
	json_object_foreach((json_t *)pv, key, v)
		(void)prop_gather(&scratch, p, key, v);
	if (p->type == NULL)
		p->type = "string";
}

static int
chk_property(struct jcheck *c, const json_t *pv, struct prop *p)
{
	const char	*key;
	json_t		*v;
	size_t		 mark;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(pv))
		return jcheck_fail(c, "must be an object");
	json_object_foreach((json_t *)pv, key, v) {
		mark = jcheck_push(c, key);
		if (!key_clean(key))
			return jcheck_fail(c, "is not a keyword of this schema "
			    "subset");
		if (prop_gather(c, p, key, v) != 0)
			return -1;
		jcheck_pop(c, mark);
	}
	if (p->type == NULL) {
		mark = jcheck_push(c, "type");
		return jcheck_fail(c, "is required");
	}
	if (p->title != NULL) {
		mark = jcheck_push(c, "title");
		if (chk_text(c, p->title, SCHEMA_MAX_TITLE) != 0)
			return -1;
		jcheck_pop(c, mark);
	}
	if (p->descr != NULL) {
		mark = jcheck_push(c, "description");
		if (chk_text(c, p->descr, SCHEMA_MAX_DESCR) != 0)
			return -1;
		jcheck_pop(c, mark);
	}
	if (p->secret != NULL && !json_is_boolean(p->secret)) {
		(void)jcheck_push(c, "secret");
		return jcheck_fail(c, "must be true or false");
	}
	if (strcmp(p->type, "string") != 0) {
		static const char *const strkw[] = {
			"pattern", "format", "minLength", "maxLength" };
		const json_t	*have[] = {
			p->pattern, p->format, p->minlen, p->maxlen };
		size_t		 i;

		for (i = 0; i < 4; i++)
			if (have[i] != NULL) {
				(void)jcheck_push(c, strkw[i]);
				return jcheck_fail(c, "applies only to strings");
			}
	} else if (prop_string_kws(c, p) != 0)
		return -1;
	if (p->enm != NULL && prop_enum(c, p) != 0)
		return -1;
	if (p->dflt != NULL && prop_default(c, p) != 0)
		return -1;
	return 0;
}

static int
chk_properties(struct jcheck *c, const json_t *props)
{
	struct prop	 p;
	const char	*key;
	json_t		*v;
	size_t		 mark;

	if (!json_is_object(props))
		return jcheck_fail(c, "must be an object");
	if (json_object_size(props) > SCHEMA_MAX_PROPS)
		return jcheck_fail(c, "has more than %d properties",
		    SCHEMA_MAX_PROPS);
	json_object_foreach((json_t *)props, key, v) {
		mark = jcheck_push(c, key);
		if (!key_clean(key) || !schema_name_ok(key, strlen(key)))
			return jcheck_fail(c, "is not a property name "
			    "([A-Za-z_][A-Za-z0-9_]{0,63})");
		if (chk_property(c, v, &p) != 0)
			return -1;
		jcheck_pop(c, mark);
	}
	return 0;
}

static int
chk_required(struct jcheck *c, const json_t *req, const json_t *props)
{
	const json_t	*v;
	size_t		 i, j, mark;

	if (!json_is_array(req))
		return jcheck_fail(c, "must be an array of property names");
	json_array_foreach(req, i, v) {
		mark = strlen(c->path);
		schema_path_index(c->path, c->pathsz, i);
		if (!json_is_string(v))
			return jcheck_fail(c, "must be a string");
		if (strlen(json_string_value(v)) != json_string_length(v) ||
		    json_object_get(props, json_string_value(v)) == NULL)
			return jcheck_fail(c, "names no property");
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(req, j), v))
				return jcheck_fail(c, "repeats an earlier name");
		jcheck_pop(c, mark);
	}
	return 0;
}

int
schema_check(const json_t *schema, char *path, size_t pathsz, char *reason,
    size_t reasonsz)
{
	struct jcheck	 c = { path, pathsz, reason, reasonsz };
	const json_t	*props, *req;
	const char	*key;
	json_t		*v;
	size_t		 mark;
	char		 dummy[1];

	if (pathsz == 0) {
		c.path = dummy;
		c.pathsz = sizeof(dummy);
	}
	c.path[0] = '\0';
	(void)path_put(c.path, c.pathsz, "$");
	if (reasonsz > 0)
		reason[0] = '\0';
	if (!json_is_object(schema))
		return jcheck_fail(&c, "must be an object");
	json_object_foreach((json_t *)schema, key, v) {
		mark = jcheck_push(&c, key);
		if (!key_clean(key))
			return jcheck_fail(&c, "is not a keyword of this schema "
			    "subset");
		if (strcmp(key, "type") == 0) {
			if (!json_is_string(v) ||
			    strcmp(json_string_value(v), "object") != 0)
				return jcheck_fail(&c, "must be \"object\"");
		} else if (strcmp(key, "title") == 0) {
			if (chk_text(&c, v, SCHEMA_MAX_TITLE) != 0)
				return -1;
		} else if (strcmp(key, "description") == 0) {
			if (chk_text(&c, v, SCHEMA_MAX_DESCR) != 0)
				return -1;
		} else if (strcmp(key, "additionalProperties") == 0) {
			if (!json_is_false(v))
				return jcheck_fail(&c, "must be false");
		} else if (strcmp(key, "properties") != 0 &&
		    strcmp(key, "required") != 0)
			return jcheck_fail(&c, "is not a keyword of this schema "
			    "subset");
		jcheck_pop(&c, mark);
	}
	if (json_object_get(schema, "type") == NULL) {
		(void)jcheck_push(&c, "type");
		return jcheck_fail(&c, "is required");
	}
	mark = jcheck_push(&c, "properties");
	if ((props = json_object_get(schema, "properties")) == NULL)
		return jcheck_fail(&c, "is required");
	if (chk_properties(&c, props) != 0)
		return -1;
	jcheck_pop(&c, mark);
	if ((req = json_object_get(schema, "required")) != NULL) {
		mark = jcheck_push(&c, "required");
		if (chk_required(&c, req, props) != 0)
			return -1;
		jcheck_pop(&c, mark);
	}
	if (reasonsz > 0)
		reason[0] = '\0';
	return 0;
}

/* ---- schema_validate ---- */

static void __attribute__((__format__(__printf__, 3, 4)))
add_error(struct schema_errors *errs, const char *path, const char *fmt, ...)
{
	struct schema_error	*e;
	va_list			 ap;

	if (errs->n == SCHEMA_MAX_ERRORS) {
		errs->truncated = 1;
		return;
	}
	e = &errs->e[errs->n++];
	snprintf(e->path, sizeof(e->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

static const char *
type_noun(const char *type)
{
	if (strcmp(type, "string") == 0)
		return "a string";
	if (strcmp(type, "integer") == 0)
		return "an integer";
	if (strcmp(type, "number") == 0)
		return "a number";
	return "true or false";
}

/* The string rules; s holds no NUL.  Reasons never quote s. */
static void
validate_string(const struct prop *p, const char *s, size_t len,
    const char *path, struct schema_errors *errs)
{
	size_t	 cps = schema_utf8_len(s, len);
	regex_t	 re;
	int	 rc;

	/* Whatever the schema says: this also bounds regexec's work. */
	if (cps > SCHEMA_MAX_LENGTH) {
		add_error(errs, path, "must be at most %d characters long",
		    SCHEMA_MAX_LENGTH);
		return;
	}

	if (p->minlen != NULL &&
	    cps < (size_t)json_integer_value(p->minlen))
		add_error(errs, path, "must be at least %lld characters long",
		    (long long)json_integer_value(p->minlen));
	if (p->maxlen != NULL &&
	    cps > (size_t)json_integer_value(p->maxlen))
		add_error(errs, path, "must be at most %lld characters long",
		    (long long)json_integer_value(p->maxlen));
	if (p->pattern != NULL) {
		if (pattern_compile(json_string_value(p->pattern), &re) != 0)
			add_error(errs, path, "cannot be checked: the "
			    "schema's pattern does not compile");
		else {
			rc = regexec(&re, s, 0, NULL, 0);
			regfree(&re);
			if (rc != 0)
				add_error(errs, path, "does not match the "
				    "required pattern");
		}
	}
	if (p->format != NULL &&
	    schema_format_ok(json_string_value(p->format), s, len) != 0)
		add_error(errs, path, "is not a valid %s",
		    json_string_value(p->format));
}

/* Validate v against a gathered (and checked) property. */
static void
validate_prop(const struct prop *p, const json_t *v, const char *path,
    struct schema_errors *errs)
{
	size_t	 i;
	int	 found = 0;

	if (!of_type(p->type, v)) {
		add_error(errs, path, "must be %s", type_noun(p->type));
		return;
	}
	if (json_is_string(v)) {
		if (memchr(json_string_value(v), '\0',
		    json_string_length(v)) != NULL) {
			add_error(errs, path, "must not hold a NUL character");
			return;
		}
		validate_string(p, json_string_value(v), json_string_length(v),
		    path, errs);
	}
	if (p->enm != NULL) {
		for (i = 0; i < json_array_size(p->enm) && !found; i++)
			found = same_value(json_array_get(p->enm, i), v);
		if (!found)
			add_error(errs, path, "must be one of the allowed "
			    "values");
	}
}

int
schema_validate(const json_t *schema, const json_t *value,
    struct schema_errors *errs)
{
	struct prop	 p;
	const json_t	*props, *req, *pv, *r;
	const char	*key;
	json_t		*v;
	char		 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	size_t		 i;

	memset(errs, 0, sizeof(*errs));
	if (schema_check(schema, path, sizeof(path), reason,
	    sizeof(reason)) != 0) {
		add_error(errs, "$", "cannot be checked: the provider's "
		    "schema is not valid");
		return -1;
	}
	if (!json_is_object(value)) {
		add_error(errs, "$", "must be an object");
		return -1;
	}
	props = json_object_get(schema, "properties");
	json_object_foreach((json_t *)value, key, v) {
		snprintf(path, sizeof(path), "$");
		schema_path_member(path, sizeof(path), key);
		if (!key_clean(key) || (pv = json_object_get(props, key)) ==
		    NULL) {
			add_error(errs, path, "is not a field of this form");
			continue;
		}
		prop_load(pv, &p);
		validate_prop(&p, v, path, errs);
	}
	req = json_object_get(schema, "required");
	json_array_foreach(req, i, r) {
		if (json_object_get(value, json_string_value(r)) != NULL)
			continue;
		snprintf(path, sizeof(path), "$");
		schema_path_member(path, sizeof(path), json_string_value(r));
		add_error(errs, path, "is required");
	}
	return errs->n == 0 ? 0 : -1;
}

int
schema_is_secret(const json_t *schema, const char *name)
{
	const json_t	*p;

	p = json_object_get(json_object_get(schema, "properties"), name);
	if (!json_is_object(p))
		return 1;
	return json_is_true(json_object_get(p, "secret"));
}

json_t *
schema_public_values(const json_t *schema, const json_t *values)
{
	json_t		*out, *v;
	const char	*key;

	if ((out = json_object()) == NULL)
		return NULL;
	json_object_foreach((json_t *)values, key, v) {
		if (!key_clean(key) || schema_is_secret(schema, key))
			continue;
		if (json_object_set_new(out, key, json_deep_copy(v)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

json_t *
schema_errors_json(const struct schema_errors *errs)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < errs->n && i < SCHEMA_MAX_ERRORS; i++)
		if (json_array_append_new(a, json_pack("{s:s, s:s}",
		    "path", errs->e[i].path,
		    "reason", errs->e[i].reason)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}
