/* The OAuth consent routes (consent.c). */
#ifndef DROMOS_UNPRIV_CONSENT_H
#define DROMOS_UNPRIV_CONSENT_H

#include <microhttpd.h>

struct http_req;

enum MHD_Result	 route_auth_start(struct http_req *);	/* GET /auth/start */
enum MHD_Result	 route_auth_start_post(struct http_req *); /* POST /auth/start */
enum MHD_Result	 route_auth_callback(struct http_req *); /* GET /auth/callback/{p} */

#endif /* DROMOS_UNPRIV_CONSENT_H */
