/*
 * Output of the operator commands: tables, "key: value" views, JSON.
 *
 * Every string from the broker goes through sb_safe(), which keeps valid
 * printable UTF-8 and shows anything else (control characters, bytes that
 * are not UTF-8) as \xNN, so a hostile or broken broker cannot drive the
 * operator's terminal.  Column widths count characters, not bytes.
 */
#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/table.h"

/* A growing string that is always terminated, and its width on screen. */
struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 width;
};

static void
sb_raw(struct sbuf *b, const char *s, size_t n, size_t width)
{
	size_t	 cap;
	char	*np;

	if (n >= b->cap - b->len || b->p == NULL) {
		cap = b->cap == 0 ? 64 : b->cap;
		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2)
				errx(1, "out of memory");
			cap *= 2;
		}
		if ((np = realloc(b->p, cap)) == NULL)
			err(1, NULL);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	b->width += width;
}

/* Plain ASCII of ours. */
static void
sb_add(struct sbuf *b, const char *s)
{
	size_t	 n = strlen(s);

	sb_raw(b, s, n, n);
}

/*
 * The length of the UTF-8 sequence at s (at most left bytes) and its code
 * point, or 0 when it is not a valid, shortest-form sequence.
 */
static size_t
utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
	size_t		 n, i;
	uint32_t	 v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		v = s[0] & 0x1fU;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		v = s[0] & 0x0fU;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		v = s[0] & 0x07U;
	} else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3fU);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static void
sb_hex(struct sbuf *b, unsigned char c)
{
	char	 x[5];

	(void)snprintf(x, sizeof(x), "\\x%02x", c);
	sb_raw(b, x, 4, 4);
}

/* Untrusted text: printable characters as they are, the rest as \xNN. */
static void
sb_safe(struct sbuf *b, const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	uint32_t		 cp;

	while (i < len) {
		n = utf8_seq(u + i, len - i, &cp);
		if (n == 0) {
			sb_hex(b, u[i++]);
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			for (k = 0; k < n; k++)
				sb_hex(b, u[i + k]);
		} else
			sb_raw(b, s + i, n, 1);
		i += n;
	}
}

char *
table_safe(const char *s, size_t len)
{
	struct sbuf	 b = { NULL, 0, 0, 0 };

	sb_raw(&b, "", 0, 0);
	sb_safe(&b, s, len);
	return b.p;
}

/* A value as one cell: arrays joined by sep, objects as compact JSON. */
static void
render(struct sbuf *b, const json_t *v, const char *sep)
{
	char	 num[64];
	char	*s;
	size_t	 i;

	switch (v == NULL ? JSON_NULL : json_typeof(v)) {
	case JSON_STRING:
		sb_safe(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		(void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		sb_add(b, num);
		break;
	case JSON_REAL:
		(void)snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		sb_add(b, num);
		break;
	case JSON_TRUE:
		sb_add(b, "yes");
		break;
	case JSON_FALSE:
		sb_add(b, "no");
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0)
			sb_add(b, "-");
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				sb_add(b, sep);
			render(b, json_array_get(v, i), sep);
		}
		break;
	case JSON_OBJECT:
		if ((s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII)) ==
		    NULL)
			errx(1, "out of memory");
		sb_safe(b, s, strlen(s));
		free(s);
		break;
	case JSON_NULL:
	default:
		sb_add(b, "-");
		break;
	}
}

static void
pad(size_t n)
{
	while (n-- > 0)
		putchar(' ');
}

/* The rows of a table, aligned on the widest cell of each column. */
static void
print_cells(const struct sbuf *cell, const size_t *width, size_t nrows,
    size_t ncols)
{
	size_t	 r, c;

	for (r = 0; r < nrows; r++)
		for (c = 0; c < ncols; c++) {
			fputs(cell[r * ncols + c].p, stdout);
			if (c + 1 < ncols)
				pad(width[c] - cell[r * ncols + c].width + 2);
			else
				putchar('\n');
		}
}

int
table_list(const json_t *resp, const char *list, const struct column *cols,
    size_t ncols)
{
	const json_t	*arr, *row = NULL;
	struct sbuf	*cell, *cp;
	size_t		*width, nrows, r, c;
	int		 rv = 0;

	arr = json_object_get(resp, list);
	if (!json_is_array(arr)) {
		warnx("malformed answer from the broker: no \"%s\" array",
		    list);
		return -1;
	}
	nrows = json_array_size(arr) + 1;	/* and the header */
	if ((cell = calloc(nrows * ncols, sizeof(*cell))) == NULL ||
	    (width = calloc(ncols, sizeof(*width))) == NULL)
		err(1, NULL);
	for (r = 0; r < nrows && rv == 0; r++) {
		if (r > 0)
			row = json_array_get(arr, r - 1);
		if (r > 0 && !json_is_object(row)) {
			warnx("malformed answer from the broker: \"%s\" "
			    "element %zu is not an object", list, r - 1);
			rv = -1;
			break;
		}
		for (c = 0; c < ncols; c++) {
			cp = &cell[r * ncols + c];
			if (r == 0)
				sb_add(cp, cols[c].header);
			else
				render(cp, json_object_get(row, cols[c].key),
				    ",");
			if (cp->width > width[c])
				width[c] = cp->width;
		}
	}
	if (rv == 0)
		print_cells(cell, width, nrows, ncols);
	for (r = 0; r < nrows * ncols; r++)
		free(cell[r].p);
	free(cell);
	free(width);
	return rv;
}

int
table_show(const json_t *obj)
{
	struct sbuf	 key, val;
	const char	*k;
	void		*it;
	size_t		 w = 0;

	if (!json_is_object(obj)) {
		warnx("malformed answer from the broker: not an object");
		return -1;
	}
	/* jansson keeps members in the order the broker sent them. */
	for (it = json_object_iter((json_t *)obj); it != NULL;
	    it = json_object_iter_next((json_t *)obj, it)) {
		memset(&key, 0, sizeof(key));
		k = json_object_iter_key(it);
		sb_safe(&key, k, strlen(k));
		if (key.width > w)
			w = key.width;
		free(key.p);
	}
	for (it = json_object_iter((json_t *)obj); it != NULL;
	    it = json_object_iter_next((json_t *)obj, it)) {
		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		k = json_object_iter_key(it);
		sb_safe(&key, k, strlen(k));
		sb_add(&key, ":");
		render(&val, json_object_iter_value(it), ", ");
		printf("%s", key.p);
		pad(w + 3 - key.width);
		printf("%s\n", val.p);
		free(key.p);
		free(val.p);
	}
	return 0;
}

static int
write_all(const char *s, size_t len)
{
	ssize_t	 n;

	if (fflush(stdout) == EOF) {
		warn("stdout");
		return -1;
	}
	while (len > 0) {
		n = write(STDOUT_FILENO, s, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			warn("stdout");
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int
table_json(const json_t *v)
{
	char	*s;
	size_t	 len;
	int	 rv;

	if (v == NULL) {
		warnx("malformed answer from the broker: empty");
		return -1;
	}
	if ((s = json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII |
	    JSON_ENCODE_ANY)) == NULL)
		errx(1, "out of memory");
	len = strlen(s);
	rv = write_all(s, len);
	if (rv == 0)
		rv = write_all("\n", 1);
	explicit_bzero(s, len);
	free(s);
	return rv;
}

int
table_secret(const char *s)
{
	if (write_all(s, strlen(s)) == -1 || write_all("\n", 1) == -1)
		return -1;
	return 0;
}
