/*
 * An OAuth callback query from untrusted bytes.  oauth_callback_parse
 * must never crash and never read past the query; what it accepts must
 * have a state and exactly one of a code and an error, each within its
 * length and byte class; what it refuses must say why.  The same pairs,
 * fed one by one through oauth_callback_add (the path for arguments a
 * server library has decoded), must give the same verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unpriv/oauth.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_class(const char *s, size_t max, int lo, int hi)
{
	size_t	 i, len = strlen(s);

	if (len > max)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			abort();
}

static void
check(const struct oauth_callback *cb)
{
	int	 code = (cb->seen & OAUTH_CB_CODE) != 0;
	int	 err = (cb->seen & OAUTH_CB_ERROR) != 0;

	if (!(cb->seen & OAUTH_CB_STATE) || cb->state[0] == '\0' ||
	    code == err)
		abort();
	if (code && cb->code[0] == '\0')
		abort();
	if (err && (cb->error[0] == '\0' || cb->error_code == OAUTH_AE_NONE))
		abort();
	check_class(cb->code, OAUTH_CODE_MAX, 0x20, 0x7e);
	check_class(cb->state, OAUTH_STATE_MAX, 0x20, 0x7e);
	check_class(cb->iss, OAUTH_URL_SIZE - 1, 0x21, 0x7e);
	check_class(cb->error, OAUTH_ERROR_MAX, 0x20, 0x7e);
	check_class(cb->error_description, OAUTH_ERRDESC_MAX, 0x20, 0x7e);
	check_class(cb->error_uri, OAUTH_URL_SIZE - 1, 0x21, 0x7e);
}

/*
 * Split and decode the query like a server library would, with a decoder
 * of our own that refuses what the parser refuses, and feed the pairs.
 */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
decode(const char *s, size_t n, char *out, size_t *olen)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] != '%')
			out[o++] = s[i];
		else if (n - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0
		    || (lo = hexval((unsigned char)s[i + 2])) < 0 ||
		    (hi == 0 && lo == 0))
			return -1;
		else {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	*olen = o;
	return 0;
}

static int
by_pairs(const char *q, size_t len, struct oauth_callback *cb, char *buf)
{
	const char	*p = q, *amp, *eq, *end = q + len;
	size_t		 nl, vl = 0;

	oauth_callback_init(cb);
	if (len == 0 || len > OAUTH_QUERY_MAX)
		return -1;
	for (;;) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			return -1;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (decode(p, (size_t)((eq ? eq : amp) - p), buf, &nl) == -1 ||
		    (eq != NULL && decode(eq + 1, (size_t)(amp - eq - 1),
		    buf + nl, &vl) == -1))
			return -1;
		if (oauth_callback_add(cb, buf, nl, eq ? buf + nl : NULL,
		    vl) == -1)
			return -1;
		if (amp == end)
			break;
		p = amp + 1;
	}
	return oauth_callback_finish(cb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oauth_callback	 cb, cb2;
	char			*q, *buf;
	int			 rc;

	if (size > OAUTH_QUERY_MAX + 16 || (q = malloc(size + 1)) == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	rc = oauth_callback_parse(q, &cb);
	if (rc == 0)
		check(&cb);
	else if (rc != -1 || cb.why == NULL)
		abort();
	/* An embedded NUL ends the query for the parser. */
	if ((buf = malloc(size + 1)) != NULL) {
		if (by_pairs(q, strlen(q), &cb2, buf) != rc)
			abort();
		if (rc == 0 && (strcmp(cb.code, cb2.code) != 0 ||
		    strcmp(cb.state, cb2.state) != 0 ||
		    strcmp(cb.error, cb2.error) != 0))
			abort();
		free(buf);
	}
	oauth_callback_clear(&cb);
	oauth_callback_clear(&cb2);
	free(q);
	return 0;
}
