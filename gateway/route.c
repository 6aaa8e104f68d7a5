/*
 * The route table of the public API and the router over raw request
 * targets (gateway/route.h).
 */
#include <stdio.h>
#include <string.h>

#include "gateway/route.h"

/*
 * DESIGN §7, row by row.  Keep gateway/openapi.json in step: a unit test
 * and an end-to-end test compare the two.
 */
const struct gw_route gw_routes[] = {
	/* Liveness is the gateway's own; readiness asks the broker. */
	{ "GET", "/v1/health", NULL, 0, GW_LOCAL_HEALTH },
	{ "GET", "/v1/ready", "/ready", 0, GW_PROXY },
	{ "GET", "/v1/providers", "/providers", 0, GW_PROXY },
	{ "GET", "/v1/providers/{provider}", "/providers/{provider}", 0,
	    GW_PROXY },
	{ "GET", "/v1/providers/{provider}/schema",
	    "/providers/{provider}/schema", 0, GW_PROXY },
	{ "POST", "/v1/connect/sessions", "/connect/sessions", GW_F_JSON,
	    GW_PROXY },
	/*
	 * The page and its files are served here (gateway/connect.c); its
	 * script fetches the data from the routes around them.
	 */
	{ "GET", "/v1/connect", NULL, GW_F_QUERY, GW_LOCAL_CONNECT },
	{ "GET", "/v1/connect/connect.js", NULL, 0, GW_LOCAL_CONNECT },
	{ "GET", "/v1/connect/connect.css", NULL, 0, GW_LOCAL_CONNECT },
	/* The broker answers 302 to the provider; Location is passed back. */
	{ "GET", "/v1/auth/start", "/auth/start", GW_F_QUERY, GW_PROXY },
	/* The page's start: the session is the bearer, never in a URL. */
	{ "POST", "/v1/auth/start", "/auth/start", GW_F_JSON, GW_PROXY },
	{ "GET", "/v1/auth/callback/{provider}", "/auth/callback/{provider}",
	    GW_F_QUERY, GW_PROXY },
	{ "POST", "/v1/connections", "/connections", GW_F_JSON, GW_PROXY },
	{ "GET", "/v1/connections", "/connections", 0, GW_PROXY },
	{ "GET", "/v1/connections/{connection}", "/connections/{connection}",
	    GW_F_LIMIT_CONN, GW_PROXY },
	{ "DELETE", "/v1/connections/{connection}",
	    "/connections/{connection}", GW_F_LIMIT_CONN, GW_PROXY },
	{ "GET", "/v1/token/{connection}", "/token/{connection}",
	    GW_F_LIMIT_CONN, GW_PROXY },
	{ "POST", "/v1/token/{connection}/refresh",
	    "/token/{connection}/refresh",
	    GW_F_LIMIT_CONN | GW_F_LIMIT_REFRESH, GW_PROXY },
	{ "GET", "/v1/openapi.json", NULL, 0, GW_LOCAL_OPENAPI },
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);

/* One segment of a path or pattern: pointer and length. */
struct seg {
	const char	*p;
	size_t		 n;
};

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

int
gw_param_ok(const char *name, const char *v, size_t len)
{
	size_t	 i;
	int	 c;

	if (strcmp(name, "provider") == 0) {
		/* [a-z0-9_-]{1,64} */
		if (len == 0 || len > 64)
			return 0;
		for (i = 0; i < len; i++) {
			c = (unsigned char)v[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '_' || c == '-'))
				return 0;
		}
		return 1;
	}
	if (strcmp(name, "connection") == 0) {
		/* [A-Za-z0-9._-]{1,128}, and never a dot segment. */
		if (len == 0 || len > 128)
			return 0;
		if ((len == 1 && v[0] == '.') ||
		    (len == 2 && v[0] == '.' && v[1] == '.'))
			return 0;
		for (i = 0; i < len; i++) {
			c = (unsigned char)v[i];
			if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
				return 0;
		}
		return 1;
	}
	return 0;
}

const char *
gw_match_param(const struct gw_match *m, const char *name)
{
	size_t	 i;

	for (i = 0; i < m->nparams; i++)
		if (strcmp(m->param_names[i], name) == 0)
			return m->params[i];
	return NULL;
}

static int
refuse(struct gw_match *m, unsigned int status, const char *problem,
    const char *title, const char *detail)
{
	m->route = NULL;
	m->status = status;
	m->problem = problem;
	m->title = title;
	m->detail = detail;
	return -1;
}

static int
bad_path(struct gw_match *m, const char *detail)
{
	return refuse(m, 400, "invalid-path", "Invalid path", detail);
}

static int
not_found(struct gw_match *m)
{
	return refuse(m, 404, "not-found", "Not found", "no such resource");
}

/*
 * The path's segments.  The bytes were checked already; here empty
 * segments (a doubled or trailing slash) are unknown resources, and dot
 * segments are refused outright: they are never forwarded, decoded or not.
 */
static int
split_path(const char *path, size_t len, struct seg *segs, size_t *nsegs,
    struct gw_match *m)
{
	size_t	 i = 1, start, n = 0;

	while (i <= len) {
		start = i;
		while (i < len && path[i] != '/')
			i++;
		if (n == GW_SEGS_MAX)
			return not_found(m);
		segs[n].p = path + start;
		segs[n].n = i - start;
		if ((segs[n].n == 1 && segs[n].p[0] == '.') ||
		    (segs[n].n == 2 && segs[n].p[0] == '.' &&
		    segs[n].p[1] == '.'))
			return bad_path(m, "dot segments are not accepted");
		if (segs[n].n == 0)
			return not_found(m);
		n++;
		i++;
	}
	*nsegs = n;
	return 0;
}

/* Only unreserved characters and '/' in paths; no percent-encoding. */
static int
check_path_bytes(const char *path, size_t len, struct gw_match *m)
{
	size_t	 i;
	int	 c;

	if (len == 0 || path[0] != '/')
		return bad_path(m, "the request target must be an absolute "
		    "path");
	for (i = 0; i < len; i++) {
		c = (unsigned char)path[i];
		if (c == '%')
			return bad_path(m, "percent-encoded paths are not "
			    "accepted");
		if (!is_alnum(c) && c != '/' && c != '.' && c != '_' &&
		    c != '-' && c != '~')
			return bad_path(m, "the path has a character outside "
			    "[A-Za-z0-9._~/-]");
	}
	return 0;
}

/* RFC 3986 query characters, with well-formed percent-encoding. */
static int
query_ok(const char *q, size_t len)
{
	size_t	 i;
	int	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)q[i];
		if (c == '%') {
			if (i + 2 >= len || !is_hex(q[i + 1]) ||
			    !is_hex(q[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (is_alnum(c) || strchr("-._~!$&'()*+,;=:@/?", c) != NULL)
			continue;
		return 0;
	}
	return 1;
}

/*
 * Does the path match the pattern (1, or 0)?  Parameters are recorded in
 * m; a parameter segment matches any segment here and is judged later,
 * except that one too long to record makes a matching path -1.
 */
static int
pattern_match(const char *pattern, const struct seg *segs, size_t nsegs,
    struct gw_match *m)
{
	const char	*p = pattern + 1, *e;
	size_t		 k = 0, n;
	int		 toolong = 0;

	m->nparams = 0;
	for (;;) {
		e = strchr(p, '/');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (k == nsegs)
			return 0;
		if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
			if (m->nparams == GW_PARAMS_MAX)
				return 0;
			if (segs[k].n > GW_PARAM_MAX)
				toolong = 1;
			else {
				memcpy(m->params[m->nparams], segs[k].p,
				    segs[k].n);
				m->params[m->nparams][segs[k].n] = '\0';
			}
			m->param_names[m->nparams++] = NULL;
		} else if (segs[k].n != n || memcmp(segs[k].p, p, n) != 0)
			return 0;
		k++;
		if (e == NULL)
			break;
		p = e + 1;
	}
	if (k != nsegs)
		return 0;
	return toolong ? -1 : 1;
}

/* Fill in the parameter names of the matched pattern. */
static void
param_names(const char *pattern, struct gw_match *m)
{
	static const char *const names[] = { "provider", "connection" };
	const char	*p = pattern;
	size_t		 k = 0, i, n;

	while (k < m->nparams && (p = strchr(p, '{')) != NULL) {
		p++;
		n = strcspn(p, "}");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i]) == n &&
			    memcmp(names[i], p, n) == 0)
				m->param_names[k] = names[i];
		k++;
	}
}

static void
allow_add(char *allow, size_t sz, const char *method)
{
	size_t	 n = strlen(allow), ml = strlen(method);
	const char *p;

	for (p = allow; (p = strstr(p, method)) != NULL; p += ml)
		if ((p == allow || p[-1] == ' ') &&
		    (p[ml] == ',' || p[ml] == '\0'))
			return;
	snprintf(allow + n, sz - n, "%s%s", n > 0 ? ", " : "", method);
}

/* "/token/{connection}" with the values, then "?query" if forwarded. */
static int
build_upstream(const struct gw_route *r, struct gw_match *m)
{
	const char	*p = r->upstream, *e, *v;
	size_t		 o = 0, n;
	char		 name[32];

	while (*p != '\0') {
		if (*p == '{' && (e = strchr(p, '}')) != NULL &&
		    (size_t)(e - p - 1) < sizeof(name)) {
			n = (size_t)(e - p - 1);
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if ((v = gw_match_param(m, name)) == NULL)
				return -1;
			n = strlen(v);
			if (o + n >= sizeof(m->upstream))
				return -1;
			memcpy(m->upstream + o, v, n);
			o += n;
			p = e + 1;
			continue;
		}
		if (o + 1 >= sizeof(m->upstream))
			return -1;
		m->upstream[o++] = *p++;
	}
	if (m->query != NULL) {
		if (o + 1 + m->querylen >= sizeof(m->upstream))
			return -1;
		m->upstream[o++] = '?';
		memcpy(m->upstream + o, m->query, m->querylen);
		o += m->querylen;
	}
	m->upstream[o] = '\0';
	return 0;
}

/* The matched route's parameters match their patterns. */
static int
check_params(const struct gw_route *r, struct gw_match *m)
{
	size_t	 i;

	param_names(r->pattern, m);
	for (i = 0; i < m->nparams; i++) {
		if (m->param_names[i] == NULL)
			return refuse(m, 500, "internal", "Internal error",
			    "the route table is inconsistent");
		if (!gw_param_ok(m->param_names[i], m->params[i],
		    strlen(m->params[i])))
			return refuse(m, 400, "invalid-parameter",
			    "Invalid parameter",
			    strcmp(m->param_names[i], "provider") == 0 ?
			    "a provider id is 1-64 of [a-z0-9_-]" :
			    "a connection id is 1-128 of [A-Za-z0-9._-]");
	}
	return 0;
}

/* The matched route's parameters and query are acceptable. */
static int
check_match(const struct gw_route *r, struct gw_match *m)
{
	if (check_params(r, m) == -1)
		return -1;
	if (!(r->flags & GW_F_QUERY)) {
		/* Not forwarded, so not judged either. */
		m->query = NULL;
		m->querylen = 0;
	} else if (m->query != NULL && (m->querylen > GW_QUERY_MAX ||
	    !query_ok(m->query, m->querylen)))
		return refuse(m, 400, "invalid-query", "Invalid query string",
		    "the query string is not well formed");
	if (r->upstream != NULL && build_upstream(r, m) == -1)
		return refuse(m, 414, "target-too-long",
		    "Request target too long", "the request target is too long");
	return 0;
}

int
gw_route_match(const char *method, const char *target, struct gw_match *m)
{
	struct seg	 segs[GW_SEGS_MAX];
	const char	*q;
	size_t		 tlen, plen, nsegs, i, found = gw_nroutes;
	int		 r, options;

	memset(m, 0, sizeof(*m));
	if (method == NULL || target == NULL)
		return bad_path(m, "no request target");
	tlen = strnlen(target, GW_TARGET_MAX + 1);
	if (tlen > GW_TARGET_MAX)
		return refuse(m, 414, "target-too-long",
		    "Request target too long", "the request target is too long");
	if (memchr(target, '#', tlen) != NULL)
		return bad_path(m, "a request target has no fragment");
	q = memchr(target, '?', tlen);
	plen = q != NULL ? (size_t)(q - target) : tlen;
	if (q != NULL) {
		m->query = q + 1;
		m->querylen = tlen - plen - 1;
	}
	if (plen > GW_PATH_MAX)
		return refuse(m, 414, "target-too-long",
		    "Request target too long", "the path is too long");
	if (check_path_bytes(target, plen, m) == -1 ||
	    split_path(target, plen, segs, &nsegs, m) == -1)
		return -1;

	options = strcmp(method, "OPTIONS") == 0;
	for (i = 0; i < gw_nroutes; i++) {
		if ((r = pattern_match(gw_routes[i].pattern, segs, nsegs,
		    m)) == -1)
			return refuse(m, 400, "invalid-parameter",
			    "Invalid parameter", "a path parameter is too "
			    "long");
		if (r == 0)
			continue;
		if (strcmp(gw_routes[i].method, method) == 0) {
			found = i;
			break;
		}
		if (options && found == gw_nroutes)
			found = i;
		allow_add(m->allow, sizeof(m->allow), gw_routes[i].method);
	}
	if (found == gw_nroutes) {
		if (m->allow[0] == '\0')
			return not_found(m);
		allow_add(m->allow, sizeof(m->allow), "OPTIONS");
		return refuse(m, 405, "method-not-allowed",
		    "Method not allowed",
		    "this resource does not support that method");
	}
	/* Matched again: the loop may have overwritten the parameters. */
	(void)pattern_match(gw_routes[found].pattern, segs, nsegs, m);
	m->route = &gw_routes[found];
	m->index = found;
	if (options) {
		/* For CORS: every method of this path. */
		m->allow[0] = '\0';
		for (i = 0; i < gw_nroutes; i++)
			if (pattern_match(gw_routes[i].pattern, segs, nsegs,
			    m) == 1)
				allow_add(m->allow, sizeof(m->allow),
				    gw_routes[i].method);
		allow_add(m->allow, sizeof(m->allow), "OPTIONS");
		(void)pattern_match(gw_routes[found].pattern, segs, nsegs, m);
		m->query = NULL;
		m->querylen = 0;
		return check_params(m->route, m);
	}
	if (check_match(m->route, m) == -1)
		return -1;
	return 0;
}
