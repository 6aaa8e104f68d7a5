/*
 * The connect page (DESIGN §7): GET /v1/connect?session=... and the two
 * files it loads, GET /v1/connect/connect.js and /v1/connect/connect.css.
 * The page (gateway/www/) is plain HTML, CSS and JavaScript compiled into
 * the gateway at build time (gateway/module.mk): the sandboxed gateway
 * opens no file.  The page holds no data; its script asks the API for the
 * session's providers with the session as its bearer token.
 *
 * The handler runs after the route, headers, query string and body were
 * checked.  The query string is not read here: the script reads the
 * session from the address itself and then removes it.  Answers carry a
 * strict Content-Security-Policy (GW_CSP_PAGE) through gw_answer.csp.
 */
#ifndef DROMOS_GATEWAY_CONNECT_H
#define DROMOS_GATEWAY_CONNECT_H

#include <stddef.h>

#include <microhttpd.h>

/* Same-origin script, style and fetch; no inline code, form or frame. */
#define GW_CSP_PAGE	"default-src 'none'; script-src 'self'; " \
			"style-src 'self'; connect-src 'self'; " \
			"img-src 'self'; form-action 'none'; " \
			"frame-ancestors 'none'; base-uri 'none'"

struct gw_req;

/* Answers any route whose gw_local is GW_LOCAL_CONNECT. */
enum MHD_Result	 connect_page(struct gw_req *);

/* The files of gateway/www/, NUL-terminated; _len excludes the NUL. */
extern const unsigned char	gw_www_connect_html[];
extern const size_t		gw_www_connect_html_len;
extern const unsigned char	gw_www_connect_css[];
extern const size_t		gw_www_connect_css_len;
extern const unsigned char	gw_www_connect_js[];
extern const size_t		gw_www_connect_js_len;

#endif /* DROMOS_GATEWAY_CONNECT_H */
