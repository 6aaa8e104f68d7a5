/*
 * The public /v1 API of the gateway as one table (DESIGN §7), and the
 * router that matches a raw request target against it.
 *
 * /v1 is the contract; the broker's internal paths may change.  The
 * mapping from one to the other lives in this table and nowhere else:
 * each row names the public method and path, the broker path it is
 * forwarded to (or none, when the gateway answers itself), and what is
 * checked on the way.  Path parameters are written {provider} and
 * {connection}; each name has one pattern (gw_param_ok).
 *
 * The router works on the raw request target as the client sent it (no
 * percent-decoding has happened), so what it checks is what would be
 * forwarded: a path is /-separated segments of [A-Za-z0-9._~-], never
 * "." or "..", never percent-encoded.  Nothing here allocates; the
 * matcher is pure, for the unit tests and the fuzzer.
 */
#ifndef DROMOS_GATEWAY_ROUTE_H
#define DROMOS_GATEWAY_ROUTE_H

#include <stddef.h>

#define GW_TARGET_MAX	4096	/* bytes in a request target */
#define GW_PATH_MAX	1024	/* bytes in its path */
#define GW_QUERY_MAX	2048	/* bytes in its query string */
#define GW_SEGS_MAX	8	/* segments in a path */
#define GW_PARAMS_MAX	2
#define GW_PARAM_MAX	128	/* the longest parameter (a connection id) */
#define GW_UPATH_MAX	(GW_PATH_MAX + 1 + GW_QUERY_MAX + 1)

/* Route flags. */
#define GW_F_JSON	0x01	/* a JSON object body is required */
#define GW_F_QUERY	0x04	/* the query string is forwarded verbatim */
#define GW_F_LIMIT_CONN	0x08	/* the per-connection rate limit applies */
#define GW_F_LIMIT_REFRESH 0x10	/* the refresh rate limit applies too */

/* Who answers a route. */
enum gw_local {
	GW_PROXY = 0,		/* the broker, at upstream */
	GW_LOCAL_HEALTH,	/* liveness of the gateway itself */
	GW_LOCAL_OPENAPI,	/* the embedded OpenAPI document */
	GW_LOCAL_CONNECT,	/* the connect page (gateway/connect.c) */
};

struct gw_route {
	const char	*method;
	const char	*pattern;	/* "/v1/token/{connection}" */
	const char	*upstream;	/* "/token/{connection}"; NULL: local */
	unsigned int	 flags;
	enum gw_local	 local;
};

extern const struct gw_route	gw_routes[];
extern const size_t		gw_nroutes;

/* What the router made of a request, or why it refused it. */
struct gw_match {
	const struct gw_route	*route;		/* NULL when refused */
	size_t			 index;		/* of route in gw_routes */
	unsigned int		 status;	/* 0, or the answer: 400/404/405 */
	const char		*problem;	/* problem type name */
	const char		*title;
	const char		*detail;
	char			 allow[64];	/* for 405 */
	const char		*query;		/* after '?', or NULL */
	size_t			 querylen;
	size_t			 nparams;
	const char		*param_names[GW_PARAMS_MAX];
	char			 params[GW_PARAMS_MAX][GW_PARAM_MAX + 1];
	char			 upstream[GW_UPATH_MAX];	/* path?query */
};

/*
 * Match method and target (the raw request-target).  Returns 0 with
 * m->route set and m->upstream built for proxied routes, or -1 with
 * m->status, m->problem, m->title and m->detail saying what to answer
 * (m->allow for 405).  OPTIONS matches any route whose path matches (for
 * CORS preflight); m->route is then the first such row.
 */
int	 gw_route_match(const char *method, const char *target,
	    struct gw_match *m);

/* A parameter value is valid for its name: 1 or 0. */
int	 gw_param_ok(const char *name, const char *value, size_t len);

/* The value of a parameter by name, or NULL. */
const char *gw_match_param(const struct gw_match *, const char *name);

#endif /* DROMOS_GATEWAY_ROUTE_H */
