/*
 * A request from untrusted bytes through the gateway's checks: the router
 * (gw_route_match), the header checks (gw_headers_check), the request id
 * (gw_reqid) and the body check (gw_body_check), as the server calls them.
 * The input is
 *
 *	METHOD \n TARGET \n Name: value \n ... \n \n BODY
 *
 * Beyond not crashing, what is accepted must be safe to forward: a
 * proxied route's broker path is made of its pattern and parameters that
 * match their patterns, with no dot segment, no percent sign, no control
 * character or space; a refusal is a 4xx the server knows how to send.
 * The same bytes go to the broker response parser (up_parse_head).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/check.h"
#include "gateway/route.h"
#include "gateway/upstream.h"

#define LIMIT	65536

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_upstream(const struct gw_match *m)
{
	const char	*u = m->upstream, *q;
	size_t		 i, plen;

	if (m->route->upstream == NULL)
		return;
	if (u[0] != '/')
		abort();
	q = strchr(u, '?');
	plen = q != NULL ? (size_t)(q - u) : strlen(u);
	for (i = 0; i < strlen(u); i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			abort();
	for (i = 0; i < plen; i++)
		if (u[i] == '%' || u[i] == '#' || u[i] == '\\')
			abort();
	if (memmem(u, plen, "/../", 4) != NULL ||
	    memmem(u, plen, "/./", 3) != NULL ||
	    (plen >= 3 && memcmp(u + plen - 3, "/..", 3) == 0) ||
	    (plen >= 2 && memcmp(u + plen - 2, "/.", 2) == 0))
		abort();
	if (q != NULL && !(m->route->flags & GW_F_QUERY))
		abort();
}

static void
check_match(const char *method, int rv, const struct gw_match *m)
{
	size_t	 i;

	if (rv == 0) {
		if (m->route == NULL || m->status != 0 ||
		    m->route != &gw_routes[m->index])
			abort();
		for (i = 0; i < m->nparams; i++)
			if (m->param_names[i] == NULL ||
			    !gw_param_ok(m->param_names[i], m->params[i],
			    strlen(m->params[i])))
				abort();
		/* A preflight is answered here: nothing is built to forward. */
		if (strcmp(method, "OPTIONS") != 0)
			check_upstream(m);
		return;
	}
	if (rv != -1 || m->route != NULL || m->problem == NULL ||
	    m->detail == NULL)
		abort();
	if (m->status != 400 && m->status != 404 && m->status != 405 &&
	    m->status != 414)
		abort();
	if (m->status == 405 && m->allow[0] == '\0')
		abort();
}

/* "Name: value" lines up to an empty one; returns where the body starts. */
static const char *
headers(const char *p, const char *end, struct gw_hdr *h, size_t *n)
{
	const char	*nl, *colon, *v;

	*n = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl == p)
			return nl + 1;
		if (*n < GW_HEADERS_MAX + 2 &&
		    (colon = memchr(p, ':', (size_t)(nl - p))) != NULL) {
			v = colon + 1;
			while (v < nl && *v == ' ')
				v++;
			h[*n].name = p;
			h[*n].namelen = (size_t)(colon - p);
			h[*n].value = v;
			h[*n].valuelen = (size_t)(nl - v);
			(*n)++;
		}
		p = nl + 1;
	}
	return end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_hdr		 h[GW_HEADERS_MAX + 2];
	struct gw_hdrinfo	 info;
	struct gw_refusal	 f;
	struct gw_match		 m;
	struct up_response	 resp;
	struct up_framing	 fr;
	char			*buf, *method, *target, *nl, *end;
	char			 reqid[GW_REQID_MAX + 1], rid[GW_REQID_MAX + 8];
	const char		*body;
	size_t			 n, i;
	int			 rv;

	(void)up_parse_head((const char *)data, size, 0, &resp, &fr);
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	method = buf;
	if ((nl = memchr(method, '\n', size)) == NULL)
		goto out;
	*nl = '\0';
	target = nl + 1;
	if ((nl = memchr(target, '\n', (size_t)(end - target))) == NULL)
		nl = end;
	*nl = '\0';
	body = headers(nl < end ? nl + 1 : end, end, h, &n);

	rv = gw_route_match(method, target, &m);
	check_match(method, rv, &m);

	/* The header values as the server sees them: NUL-terminated. */
	for (i = 0; i < n; i++)
		((char *)h[i].value)[h[i].valuelen] = '\0';
	if (gw_headers_check(h, n, LIMIT, &info, &f) == 0) {
		if ((info.has_length && info.content_length > LIMIT) ||
		    (info.has_length && info.chunked))
			abort();
	} else if (f.status != 400 && f.status != 413 && f.status != 431)
		abort();
	for (i = 0; i < n && i < 4; i++) {
		snprintf(rid, sizeof(rid), "%.*s", (int)h[i].valuelen,
		    h[i].value);
		gw_reqid(rid, reqid);
		if (!gw_reqid_ok(reqid))
			abort();
	}
	if (rv == 0 && gw_body_check(m.route->flags, "application/json",
	    (const unsigned char *)body, (size_t)(end - body), &f) == -1 &&
	    f.status != 400 && f.status != 415)
		abort();
 out:
	free(buf);
	return 0;
}
