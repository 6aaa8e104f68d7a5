/*
 * The connect page, GET /v1/connect?session=... (DESIGN §7): the page an
 * end user's browser opens to connect providers.  A hook for now: the
 * route, its place in the table and the OpenAPI document exist, and the
 * answer is 501 until the page (gateway/www/) is written.
 *
 * The handler runs after the route, headers, query string and body were
 * checked; r->match.query holds the raw query string (well-formed RFC
 * 3986, not decoded).  It answers with gw_answer(), setting its own
 * Content-Security-Policy through gw_answer.csp (the API's forbids
 * everything a page needs).
 */
#ifndef DROMOS_GATEWAY_CONNECT_H
#define DROMOS_GATEWAY_CONNECT_H

#include <microhttpd.h>

struct gw_req;

enum MHD_Result	 connect_page(struct gw_req *);

#endif /* DROMOS_GATEWAY_CONNECT_H */
