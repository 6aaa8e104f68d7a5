/*
 * The connect page and its files, served from memory (gateway/connect.h).
 */
#include <stddef.h>
#include <string.h>

#include <microhttpd.h>

#include "gateway/connect.h"
#include "gateway/route.h"
#include "gateway/server.h"

struct asset {
	const char		*pattern;	/* the route's, in gw_routes */
	const char		*type;
	const unsigned char	*body;
	const size_t		*len;
	const char		*csp;		/* NULL: the API's */
};

static const struct asset assets[] = {
	{ "/v1/connect", "text/html; charset=utf-8", gw_www_connect_html,
	    &gw_www_connect_html_len, GW_CSP_PAGE },
	{ "/v1/connect/connect.js", "text/javascript; charset=utf-8",
	    gw_www_connect_js, &gw_www_connect_js_len, NULL },
	{ "/v1/connect/connect.css", "text/css; charset=utf-8",
	    gw_www_connect_css, &gw_www_connect_css_len, NULL },
};

enum MHD_Result
connect_page(struct gw_req *r)
{
	struct gw_answer	 a;
	size_t			 i;

	for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (strcmp(r->match.route->pattern, assets[i].pattern) != 0)
			continue;
		memset(&a, 0, sizeof(a));
		a.status = MHD_HTTP_OK;
		a.content_type = assets[i].type;
		a.body = assets[i].body;
		a.len = *assets[i].len;
		a.persistent = 1;
		a.csp = assets[i].csp;
		return gw_answer(r, &a);
	}
	/* A GW_LOCAL_CONNECT row without a file: the table is wrong. */
	return gw_problem(r, 500, "internal", "Internal error",
	    "no such page");
}
