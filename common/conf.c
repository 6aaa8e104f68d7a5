/*
 * The lexer and the table-driven statement parser of common/conf.h.
 *
 * The lexer turns the input into statements of tokens: a statement ends at
 * a newline (unless a "\" continues it), after a "{", or before a "}".
 * Macro definitions are consumed here; $name words are replaced by the
 * macro's value as a single string, never re-read as syntax, so a macro
 * cannot inject keywords, braces or further macros.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"

#define CONF_ECHO_MAX	64	/* bytes of a word repeated in a message */

struct conf_macro {
	char	*name;
	char	*value;
};

struct conf_seen {
	const char	*group;		/* from the caller's static table */
	int		 line;
};

void
conf_strfree(char **sp)
{
	if (*sp == NULL)
		return;
	explicit_bzero(*sp, strlen(*sp));
	free(*sp);
	*sp = NULL;
}

void
conf_strset(char **dst, char *s)
{
	conf_strfree(dst);
	*dst = s;
}

void
conf_init(struct conf *c, const char *name, const char *buf, size_t len,
    char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->name = name != NULL ? name : "(config)";
	c->buf = buf;
	c->len = buf != NULL ? len : 0;
	c->line = 1;
	c->err = err;
	c->errlen = err != NULL ? errlen : 0;
	if (c->errlen > 0)
		c->err[0] = '\0';
}

void
conf_free(struct conf *c)
{
	size_t	 i;

	for (i = 0; i < c->nmacros; i++) {
		conf_strfree(&c->macros[i].name);
		conf_strfree(&c->macros[i].value);
	}
	free(c->macros);
	c->macros = NULL;
	c->nmacros = 0;
	free(c->seen);
	c->seen = NULL;
	c->nseen = c->seencap = c->seenbase = 0;
	explicit_bzero(c->tokbuf, sizeof(c->tokbuf));
}

int
conf_error(struct conf *c, int line, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	if (c->failed)
		return -1;
	c->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->errlen == 0)
		return -1;
	if (line > 0)
		snprintf(c->err, c->errlen, "%s:%d: %s", c->name, line, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->name, msg);
	return -1;
}

/*
 * How a token is named in a message.  Strings are never repeated: a
 * database string or a macro may hold a password.
 */
static const char *
tokdesc(const struct conf_tok *t, char *buf, size_t bufsz)
{
	switch (t->type) {
	case CONF_WORD:
		snprintf(buf, bufsz, "\"%.*s%s\"", CONF_ECHO_MAX, t->text,
		    t->len > CONF_ECHO_MAX ? "..." : "");
		return buf;
	case CONF_STRING:
		return "a string";
	case CONF_LBRACE:
		return "\"{\"";
	case CONF_RBRACE:
		return "\"}\"";
	case CONF_EQUALS:
		return "\"=\"";
	}
	return "a token";
}

/* The same, after "unexpected": no article. */
static const char *
unexpected(const struct conf_tok *t, char *buf, size_t bufsz)
{
	return t->type == CONF_STRING ? "string" : tokdesc(t, buf, bufsz);
}

static const char *
what(const struct conf_stmt *st)
{
	return st->what != NULL ? st->what : "statement";
}

/* Lexer. */

static int
peekc(const struct conf *c)
{
	if (c->off >= c->len)
		return -1;
	return (unsigned char)c->buf[c->off];
}

/* Control characters (other than tab and newline) are never valid. */
static int
bad_char(int ch)
{
	return (ch >= 0 && ch < 0x20 && ch != '\t' && ch != '\n') ||
	    ch == 0x7f;
}

static int
word_char(int ch)
{
	if (ch <= ' ' || ch == 0x7f)
		return 0;
	return strchr("{}=#\"\\", ch) == NULL;
}

static int
add_tok(struct conf *c, struct conf_stmt *st, enum conf_toktype type,
    int line, const char *text, size_t len)
{
	struct conf_tok	*t;

	if (st->ntok == CONF_ARGS_MAX)
		return conf_error(c, line, "too many words in one statement");
	t = &st->tok[st->ntok];
	if ((t->text = malloc(len + 1)) == NULL)
		return conf_error(c, line, "out of memory");
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	t->len = len;
	t->type = type;
	t->line = line;
	st->ntok++;
	return 0;
}

static int
lex_string(struct conf *c, struct conf_stmt *st)
{
	int	 line = c->line, ch, r;
	size_t	 n = 0;

	c->off++;			/* the opening quote */
	for (;;) {
		ch = peekc(c);
		if (ch == -1 || ch == '\n')
			return conf_error(c, line, "unterminated quoted string");
		c->off++;
		if (ch == '"')
			break;
		if (ch == '\\') {
			ch = peekc(c);
			if (ch == -1 || ch == '\n')
				return conf_error(c, line,
				    "unterminated quoted string");
			if (ch != '"' && ch != '\\') {
				if (bad_char(ch))
					return conf_error(c, line,
					    "invalid character 0x%02x", ch);
				return conf_error(c, line, "invalid escape "
				    "\"\\%c\" in a quoted string", ch);
			}
			c->off++;
		} else if (bad_char(ch))
			return conf_error(c, line, "invalid character 0x%02x",
			    ch);
		if (n == CONF_TOKEN_MAX)
			return conf_error(c, line, "quoted string too long");
		c->tokbuf[n++] = (char)ch;
	}
	r = add_tok(c, st, CONF_STRING, line, c->tokbuf, n);
	explicit_bzero(c->tokbuf, n);
	return r;
}

static int
lex_word(struct conf *c, struct conf_stmt *st)
{
	size_t	 start = c->off, n;

	while (word_char(peekc(c)))
		c->off++;
	n = c->off - start;
	if (n > CONF_TOKEN_MAX)
		return conf_error(c, c->line, "word too long");
	return add_tok(c, st, CONF_WORD, c->line, c->buf + start, n);
}

static int
lex_punct(struct conf *c, struct conf_stmt *st, enum conf_toktype type)
{
	char	 ch = c->buf[c->off];

	if (add_tok(c, st, type, c->line, &ch, 1) == -1)
		return -1;
	c->off++;
	return 0;
}

/* One statement's tokens: 1, 0 at the end of input, -1 on error. */
static int
lex_stmt(struct conf *c, struct conf_stmt *st)
{
	int	 ch;

	for (;;) {
		switch (ch = peekc(c)) {
		case -1:
			return st->ntok > 0;
		case ' ':
		case '\t':
			c->off++;
			break;
		case '\n':
			c->off++;
			c->line++;
			if (st->ntok > 0)
				return 1;
			break;
		case '#':
			while ((ch = peekc(c)) != -1 && ch != '\n')
				c->off++;
			break;
		case '\\':
			if (c->off + 1 < c->len && c->buf[c->off + 1] == '\n') {
				c->off += 2;
				c->line++;
				break;
			}
			return conf_error(c, c->line,
			    "\"\\\" is not at the end of the line");
		case '{':
			return lex_punct(c, st, CONF_LBRACE) == -1 ? -1 : 1;
		case '}':
			if (st->ntok > 0)
				return 1;
			return lex_punct(c, st, CONF_RBRACE) == -1 ? -1 : 1;
		case '=':
			if (lex_punct(c, st, CONF_EQUALS) == -1)
				return -1;
			break;
		case '"':
			if (lex_string(c, st) == -1)
				return -1;
			break;
		default:
			if (bad_char(ch))
				return conf_error(c, c->line,
				    "invalid character 0x%02x", ch);
			if (lex_word(c, st) == -1)
				return -1;
			break;
		}
	}
}

/* Macros. */

static int
macro_name_ok(const char *s)
{
	const char	*p;

	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return 0;
	for (p = s + 1; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return p - s <= CONF_ECHO_MAX;
}

static struct conf_macro *
macro_find(struct conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nmacros; i++)
		if (strcmp(c->macros[i].name, name) == 0)
			return &c->macros[i];
	return NULL;
}

/* A $name word becomes the macro's value, as a string. */
static int
expand(struct conf *c, struct conf_tok *t)
{
	struct conf_macro	*m;
	char			*v;

	if (t->type != CONF_WORD || t->text[0] != '$')
		return 0;
	if (!macro_name_ok(t->text + 1))
		return conf_error(c, t->line, "invalid macro name \"%.*s\"",
		    CONF_ECHO_MAX, t->text);
	if ((m = macro_find(c, t->text + 1)) == NULL)
		return conf_error(c, t->line, "undefined macro \"%s\"",
		    t->text);
	if ((v = strdup(m->value)) == NULL)
		return conf_error(c, t->line, "out of memory");
	conf_strset(&t->text, v);
	t->len = strlen(v);
	t->type = CONF_STRING;
	return 0;
}

/* name = value: 1 if the statement defined a macro, 0 if it is not one. */
static int
macro_define(struct conf *c, struct conf_stmt *st)
{
	struct conf_tok		*name = &st->tok[0], *val = &st->tok[2];
	struct conf_macro	*m, *nm;
	char			 buf[CONF_ECHO_MAX + 8];

	if (st->ntok < 2 || st->tok[1].type != CONF_EQUALS ||
	    name->type != CONF_WORD)
		return 0;
	if (!macro_name_ok(name->text))
		return conf_error(c, name->line, "invalid macro name %s",
		    tokdesc(name, buf, sizeof(buf)));
	if (st->ntok < 3)
		return conf_error(c, st->tok[1].line,
		    "macro \"%s\": missing value", name->text);
	if (st->ntok > 3)
		return conf_error(c, st->tok[3].line,
		    "macro \"%s\": unexpected %s", name->text,
		    unexpected(&st->tok[3], buf, sizeof(buf)));
	if (expand(c, val) == -1)
		return -1;
	if (val->type != CONF_WORD && val->type != CONF_STRING)
		return conf_error(c, val->line,
		    "macro \"%s\": expected a value, got %s", name->text,
		    tokdesc(val, buf, sizeof(buf)));
	if ((m = macro_find(c, name->text)) != NULL) {
		/* Like OpenBSD: a later definition replaces an earlier one. */
		conf_strset(&m->value, val->text);
		val->text = NULL;
		return 1;
	}
	if (c->nmacros == CONF_MACROS_MAX)
		return conf_error(c, name->line, "too many macros");
	nm = reallocarray(c->macros, c->nmacros + 1, sizeof(*nm));
	if (nm == NULL)
		return conf_error(c, name->line, "out of memory");
	c->macros = nm;
	m = &c->macros[c->nmacros++];
	m->name = name->text;
	m->value = val->text;
	name->text = val->text = NULL;
	return 1;
}

void
conf_stmt_free(struct conf_stmt *st)
{
	size_t	 i;

	for (i = 0; i < st->ntok; i++)
		conf_strfree(&st->tok[i].text);
	st->ntok = st->pos = 0;
	st->what = NULL;
}

int
conf_next(struct conf *c, struct conf_stmt *st)
{
	size_t	 i;
	int	 r;

	memset(st, 0, sizeof(*st));
	if (c->failed)
		return -1;
	for (;;) {
		if ((r = lex_stmt(c, st)) != 1)
			break;
		if ((r = macro_define(c, st)) == 1) {
			conf_stmt_free(st);
			continue;
		}
		for (i = 0; r == 0 && i < st->ntok; i++)
			r = expand(c, &st->tok[i]);
		if (r == 0)
			return 1;
		break;
	}
	conf_stmt_free(st);
	return r;
}

/* Dispatch. */

/* How many leading words of phrase the statement has; *full if all. */
static size_t
phrase_match(const char *phrase, const struct conf_stmt *st, int *full)
{
	const struct conf_tok	*t;
	const char		*p = phrase, *e;
	size_t			 k = 0, wl;

	*full = 0;
	for (;;) {
		e = strchr(p, ' ');
		wl = e != NULL ? (size_t)(e - p) : strlen(p);
		if (k == st->ntok)
			return k;
		t = &st->tok[k];
		if (t->type != CONF_WORD || t->len != wl ||
		    memcmp(t->text, p, wl) != 0)
			return k;
		k++;
		if (e == NULL) {
			*full = 1;
			return k;
		}
		p = e + 1;
	}
}

/* The depth-th word of a phrase (as pointer and length), if any. */
static const char *
phrase_word(const char *phrase, size_t depth, size_t *wl)
{
	const char	*p = phrase, *e;

	for (; depth > 0; depth--) {
		if ((p = strchr(p, ' ')) == NULL)
			return NULL;
		p++;
	}
	e = strchr(p, ' ');
	*wl = e != NULL ? (size_t)(e - p) : strlen(p);
	return p;
}

/*
 * No row matches every word: either the first word is unknown, or the
 * statement went astray after some keywords ("root key foo"); then say
 * which words could follow.
 */
static int
no_match(struct conf *c, const struct conf_stmt *st,
    const struct conf_keyword *tab, size_t n, size_t depth)
{
	char		 prefix[256], alts[256], buf[CONF_ECHO_MAX + 8];
	const char	*w, *w2;
	size_t		 i, j, k, wl, wl2, nalt = 0, len;
	int		 full, dup;

	if (depth == 0)
		return conf_error(c, st->tok[0].line,
		    "unknown keyword \"%.*s%s\"", CONF_ECHO_MAX, st->tok[0].text,
		    st->tok[0].len > CONF_ECHO_MAX ? "..." : "");
	prefix[0] = alts[0] = '\0';
	for (k = 0; k < depth; k++) {
		len = strlen(prefix);
		snprintf(prefix + len, sizeof(prefix) - len, "%s%s",
		    k > 0 ? " " : "", st->tok[k].text);
	}
	for (i = 0; i < n; i++) {
		if (phrase_match(tab[i].phrase, st, &full) != depth ||
		    (w = phrase_word(tab[i].phrase, depth, &wl)) == NULL)
			continue;
		for (dup = 0, j = 0; j < i && !dup; j++)
			dup = phrase_match(tab[j].phrase, st, &full) == depth &&
			    (w2 = phrase_word(tab[j].phrase, depth, &wl2)) !=
			    NULL && wl2 == wl && memcmp(w, w2, wl) == 0;
		if (dup)
			continue;
		len = strlen(alts);
		snprintf(alts + len, sizeof(alts) - len, "%s%.*s",
		    nalt > 0 ? " or " : "", (int)wl, w);
		nalt++;
	}
	if (depth >= st->ntok)
		return conf_error(c, st->tok[st->ntok - 1].line,
		    "\"%s\": missing argument, expected %s", prefix, alts);
	return conf_error(c, st->tok[depth].line, "\"%s\": expected %s, got %s",
	    prefix, alts, tokdesc(&st->tok[depth], buf, sizeof(buf)));
}

/* Refuses a second statement of a group given once per scope. */
static int
check_once(struct conf *c, const struct conf_keyword *kw, int line)
{
	const char		*group = kw->group != NULL ? kw->group :
				    kw->phrase;
	struct conf_seen	*ns;
	size_t			 i;

	if (kw->flags & CONF_MULTI)
		return 0;
	for (i = c->seenbase; i < c->nseen; i++)
		if (strcmp(c->seen[i].group, group) == 0)
			return conf_error(c, line, "duplicate \"%s\" statement "
			    "(first on line %d)", group, c->seen[i].line);
	if (c->nseen == c->seencap) {
		ns = reallocarray(c->seen, c->seencap + 16, sizeof(*ns));
		if (ns == NULL)
			return conf_error(c, line, "out of memory");
		c->seen = ns;
		c->seencap += 16;
	}
	c->seen[c->nseen].group = group;
	c->seen[c->nseen].line = line;
	c->nseen++;
	return 0;
}

int
conf_dispatch(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *tab, size_t n, void *base)
{
	const struct conf_keyword	*kw = NULL;
	size_t				 i, depth, best = 0, words = 0;
	int				 full;
	char				 buf[CONF_ECHO_MAX + 8];

	if (st->ntok == 0)
		return 0;
	if (st->tok[0].type != CONF_WORD)
		return conf_error(c, st->tok[0].line,
		    "expected a keyword, got %s",
		    tokdesc(&st->tok[0], buf, sizeof(buf)));
	for (i = 0; i < n && kw == NULL; i++) {
		depth = phrase_match(tab[i].phrase, st, &full);
		if (full) {
			kw = &tab[i];
			words = depth;
		} else if (depth > best)
			best = depth;
	}
	if (kw == NULL)
		return no_match(c, st, tab, n, best);
	st->pos = words;
	st->what = kw->phrase;
	if (check_once(c, kw, st->tok[0].line) == -1)
		return -1;
	if (kw->parse(c, st, kw, base) == -1) {
		if (!c->failed)
			conf_error(c, st->tok[0].line, "\"%s\": invalid",
			    kw->phrase);
		return -1;
	}
	st->what = kw->phrase;
	return conf_end(c, st);
}

int
conf_parse(struct conf *c, const struct conf_keyword *tab, size_t n,
    void *base)
{
	struct conf_stmt	 st;
	int			 r;

	while ((r = conf_next(c, &st)) == 1) {
		if (st.tok[0].type == CONF_RBRACE)
			r = conf_error(c, st.tok[0].line, "unexpected \"}\"");
		else
			r = conf_dispatch(c, &st, tab, n, base);
		conf_stmt_free(&st);
		if (r == -1)
			return -1;
	}
	return r;
}

int
conf_block(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *tab, size_t n, void *base)
{
	struct conf_stmt	 in;
	struct conf_tok		*t;
	size_t			 savebase = c->seenbase, savenseen = c->nseen;
	char			 buf[CONF_ECHO_MAX + 8];
	int			 line, r;

	if (!conf_more(st))
		return conf_error(c, conf_line(st), "\"%s\": missing \"{\"",
		    what(st));
	t = &st->tok[st->pos];
	if (t->type != CONF_LBRACE)
		return conf_error(c, t->line, "\"%s\": expected \"{\", got %s",
		    what(st), tokdesc(t, buf, sizeof(buf)));
	line = t->line;
	st->pos++;
	if (c->depth == CONF_DEPTH_MAX)
		return conf_error(c, line, "blocks nested too deeply");
	c->depth++;
	c->seenbase = c->nseen;
	for (;;) {
		if ((r = conf_next(c, &in)) == 0)
			r = conf_error(c, line, "\"%s\": no \"}\" closes this "
			    "block", what(st));
		if (r == -1)
			break;
		if (in.tok[0].type == CONF_RBRACE) {
			conf_stmt_free(&in);
			r = 0;
			break;
		}
		r = conf_dispatch(c, &in, tab, n, base);
		conf_stmt_free(&in);
		if (r == -1)
			break;
	}
	c->depth--;
	c->seenbase = savebase;
	c->nseen = savenseen;
	return r;
}

/* Argument readers. */

int
conf_more(const struct conf_stmt *st)
{
	return st->pos < st->ntok;
}

int
conf_line(const struct conf_stmt *st)
{
	if (st->ntok == 0)
		return 0;
	if (st->pos < st->ntok)
		return st->tok[st->pos].line;
	return st->tok[st->ntok - 1].line;
}

int
conf_word(struct conf_stmt *st, const char *word)
{
	const struct conf_tok	*t;

	if (!conf_more(st))
		return 0;
	t = &st->tok[st->pos];
	if (t->type != CONF_WORD || strcmp(t->text, word) != 0)
		return 0;
	st->pos++;
	return 1;
}

int
conf_string(struct conf *c, struct conf_stmt *st, char **out)
{
	struct conf_tok	*t;
	char		 buf[CONF_ECHO_MAX + 8];

	*out = NULL;
	if (!conf_more(st))
		return conf_error(c, conf_line(st), "\"%s\": missing argument",
		    what(st));
	t = &st->tok[st->pos];
	if (t->type != CONF_WORD && t->type != CONF_STRING)
		return conf_error(c, t->line, "\"%s\": expected a string, "
		    "got %s", what(st), tokdesc(t, buf, sizeof(buf)));
	if (t->len == 0)
		return conf_error(c, t->line, "\"%s\": empty string", what(st));
	*out = t->text;
	t->text = NULL;
	st->pos++;
	return 0;
}

int
conf_path(struct conf *c, struct conf_stmt *st, char **out)
{
	int	 line = conf_line(st);

	if (conf_string(c, st, out) == -1)
		return -1;
	if ((*out)[0] != '/') {
		conf_error(c, line, "\"%s\": \"%.*s%s\" is not an absolute "
		    "path", what(st), CONF_ECHO_MAX, *out,
		    strlen(*out) > CONF_ECHO_MAX ? "..." : "");
		conf_strfree(out);
		return -1;
	}
	return 0;
}

int
conf_number(struct conf *c, struct conf_stmt *st, uint64_t min, uint64_t max,
    uint64_t *out)
{
	const struct conf_tok	*t;
	const char		*p;
	uint64_t		 v = 0, d;
	int			 over = 0;
	char			 buf[CONF_ECHO_MAX + 8];

	if (!conf_more(st))
		return conf_error(c, conf_line(st), "\"%s\": missing argument",
		    what(st));
	t = &st->tok[st->pos];
	if ((t->type != CONF_WORD && t->type != CONF_STRING) || t->len == 0 ||
	    strspn(t->text, "0123456789") != t->len)
		return conf_error(c, t->line, "\"%s\": expected a number, "
		    "got %s", what(st), tokdesc(t, buf, sizeof(buf)));
	for (p = t->text; *p != '\0'; p++) {
		d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
	}
	if (over || v < min || v > max)
		return conf_error(c, t->line, "\"%s\": %.*s%s is out of range "
		    "(%llu to %llu)", what(st), 24, t->text,
		    t->len > 24 ? "..." : "", (unsigned long long)min,
		    (unsigned long long)max);
	*out = v;
	st->pos++;
	return 0;
}

int
conf_end(struct conf *c, struct conf_stmt *st)
{
	char	 buf[CONF_ECHO_MAX + 8];

	if (!conf_more(st))
		return 0;
	return conf_error(c, st->tok[st->pos].line, "\"%s\": unexpected %s",
	    what(st), unexpected(&st->tok[st->pos], buf, sizeof(buf)));
}

/* Row handlers. */

static void *
field(void *base, const struct conf_keyword *kw)
{
	return (char *)base + kw->off;
}

int
conf_set_string(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	char	*s;

	if (conf_string(c, st, &s) == -1)
		return -1;
	conf_strset(field(base, kw), s);
	return 0;
}

int
conf_set_path(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	char	*s;

	if (conf_path(c, st, &s) == -1)
		return -1;
	conf_strset(field(base, kw), s);
	return 0;
}

int
conf_set_number(struct conf *c, struct conf_stmt *st,
    const struct conf_keyword *kw, void *base)
{
	uint64_t	 v;

	if (conf_number(c, st, kw->min, kw->max, &v) == -1)
		return -1;
	if (kw->unit != NULL)
		(void)conf_word(st, kw->unit);
	memcpy(field(base, kw), &v, sizeof(v));
	return 0;
}

void
conf_dump_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}
