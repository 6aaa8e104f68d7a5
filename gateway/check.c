/*
 * Header, request id and body checks of the gateway (gateway/check.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gateway/check.h"
#include "gateway/route.h"

static int
refuse(struct gw_refusal *f, unsigned int status, const char *problem,
    const char *title, const char *detail)
{
	f->status = status;
	f->problem = problem;
	f->title = title;
	f->detail = detail;
	return -1;
}

static int
bad_header(struct gw_refusal *f, const char *detail)
{
	return refuse(f, 400, "invalid-header", "Invalid header", detail);
}

/* RFC 9110 tchar. */
static int
tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static int
name_is(const struct gw_hdr *h, const char *name)
{
	return h->namelen == strlen(name) &&
	    strncasecmp(h->name, name, h->namelen) == 0;
}

/* Visible ASCII, obs-text, space and tab only. */
static int
value_ok(const char *v, size_t len)
{
	size_t	 i;
	int	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Without surrounding blanks, equals word (case-insensitively). */
static int
value_is(const char *v, size_t len, const char *word)
{
	size_t	 wl = strlen(word);

	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return len == wl && strncasecmp(v, word, wl) == 0;
}

int
gw_parse_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t	 n = 0;
	size_t		 i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/* Headers the gateway forwards or acts on: one of each at most. */
static const char **
single_slot(const struct gw_hdr *h, struct gw_hdrinfo *info)
{
	if (name_is(h, "Authorization"))
		return &info->authorization;
	if (name_is(h, "Content-Type"))
		return &info->content_type;
	if (name_is(h, "X-Request-Id"))
		return &info->request_id;
	if (name_is(h, "Accept"))
		return &info->accept;
	if (name_is(h, "Origin"))
		return &info->origin;
	if (name_is(h, "Access-Control-Request-Method"))
		return &info->acr_method;
	return NULL;
}

int
gw_headers_check(const struct gw_hdr *hdrs, size_t n, uint64_t body_limit,
    struct gw_hdrinfo *info, struct gw_refusal *f)
{
	const struct gw_hdr	*h;
	const char		**slot;
	size_t			 i, j, nte = 0, ncl = 0, nhost = 0;

	memset(info, 0, sizeof(*info));
	memset(f, 0, sizeof(*f));
	if (n > GW_HEADERS_MAX)
		return refuse(f, 431, "too-many-headers",
		    "Request header fields too large",
		    "the request has too many header fields");
	for (i = 0; i < n; i++) {
		h = &hdrs[i];
		if (h->name == NULL || h->namelen == 0)
			return bad_header(f, "a header has no name");
		for (j = 0; j < h->namelen; j++)
			if (!tchar((unsigned char)h->name[j]))
				return bad_header(f, "a header name is not a "
				    "token");
		if (h->value == NULL || !value_ok(h->value, h->valuelen))
			return bad_header(f, "a header value holds a control "
			    "character");
		if (name_is(h, "Content-Length")) {
			if (++ncl > 1)
				return bad_header(f, "Content-Length is "
				    "repeated");
			if (gw_parse_length(h->value, h->valuelen,
			    &info->content_length) == -1)
				return bad_header(f, "Content-Length is not a "
				    "number");
			info->has_length = 1;
		} else if (name_is(h, "Transfer-Encoding")) {
			if (++nte > 1)
				return bad_header(f, "Transfer-Encoding is "
				    "repeated");
			if (!value_is(h->value, h->valuelen, "chunked"))
				return bad_header(f, "the only transfer coding "
				    "accepted is chunked");
			info->chunked = 1;
		} else if (name_is(h, "Host")) {
			if (++nhost > 1)
				return bad_header(f, "Host is repeated");
		} else if ((slot = single_slot(h, info)) != NULL) {
			if (*slot != NULL)
				return bad_header(f, "a header the gateway "
				    "uses is repeated");
			*slot = h->value;
		}
	}
	if (info->has_length && info->chunked)
		return bad_header(f, "Transfer-Encoding and Content-Length "
		    "together");
	if (info->has_length && info->content_length > body_limit)
		return refuse(f, 413, "too-large", "Request body too large",
		    "the body exceeds the size limit");
	return 0;
}

int
gw_reqid_ok(const char *s)
{
	size_t	 n;
	int	 c;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n == GW_REQID_MAX)
			return 0;
		c = (unsigned char)s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

/*
 * Random bytes for request ids, drawn RNDPOOL at a time: one getrandom(2)
 * for 32 ids rather than one each.  Each thread has its own; bytes are
 * wiped as they are taken.
 */
#define RNDPOOL	512
static _Thread_local unsigned char	 rndpool[RNDPOOL];
static _Thread_local size_t		 rndleft;

void
gw_reqid(const char *given, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	*rnd;
	size_t		 i;

	if (gw_reqid_ok(given)) {
		snprintf(out, GW_REQID_MAX + 1, "%s", given);
		return;
	}
	if (rndleft < 16) {
		arc4random_buf(rndpool, sizeof(rndpool));
		rndleft = sizeof(rndpool);
	}
	rndleft -= 16;
	rnd = rndpool + rndleft;
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[32] = '\0';
	explicit_bzero(rnd, 16);
}

int
gw_ctype_json(const char *ct)
{
	size_t	 n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

int
gw_body_check(unsigned int flags, const char *content_type,
    const unsigned char *body, size_t len, struct gw_refusal *f)
{
	json_error_t	 err;
	json_t		*doc;
	int		 ok;

	memset(f, 0, sizeof(*f));
	if (!(flags & GW_F_JSON)) {
		if (len > 0)
			return refuse(f, 400, "unexpected-body",
			    "Unexpected body", "this request takes no body");
		return 0;
	}
	if (!gw_ctype_json(content_type))
		return refuse(f, 415, "unsupported-media-type",
		    "Unsupported media type",
		    "the body must be application/json");
	doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
	ok = doc != NULL && json_is_object(doc);
	json_decref(doc);
	/* The error text may quote the body, which may hold a secret. */
	explicit_bzero(&err, sizeof(err));
	if (!ok)
		return refuse(f, 400, "malformed-json", "Malformed JSON",
		    "the body is not a JSON object");
	return 0;
}
