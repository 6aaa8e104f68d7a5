/*
 * The connect page (gateway/connect.h): not written yet.
 */
#include <microhttpd.h>

#include "gateway/connect.h"
#include "gateway/server.h"

enum MHD_Result
connect_page(struct gw_req *r)
{
	return gw_problem(r, 501, "not-implemented", "Not implemented",
	    "the connect page is not available yet");
}
