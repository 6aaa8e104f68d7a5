/*
 * The gateway's public HTTP(S) server (libmicrohttpd in a few epoll event
 * loops): every request is checked (gateway/route.h, gateway/check.h),
 * limited (gateway/ratelimit.h), then answered here or forwarded to the
 * broker (gateway/upstream.h), and logged once.
 *
 * Handlers of local routes (the connect page, gateway/connect.c) answer
 * through gw_answer() and gw_problem(), which add the security headers,
 * the request id and CORS; struct gw_req tells them what was checked.
 */
#ifndef DROMOS_GATEWAY_SERVER_H
#define DROMOS_GATEWAY_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "gateway/check.h"
#include "gateway/config.h"
#include "gateway/route.h"
#include "gateway/upstream.h"

#define PROBLEM_BASE	"urn:dromos:problem:"

/* The API's Content-Security-Policy; a page sets its own. */
#define GW_CSP_API	"default-src 'none'; frame-ancestors 'none'"
/*
 * A page the broker writes for the end user (the OAuth callback's
 * result): the connect page's stylesheet, and nothing else.
 */
#define GW_CSP_BROKER_PAGE "default-src 'none'; style-src 'self'; " \
			"form-action 'none'; frame-ancestors 'none'; " \
			"base-uri 'none'"

struct gw_broker;
struct gw_loop;
struct gw_server;
struct ratelimit;

/* A request's exchange with the broker. */
enum gw_proxy {
	PROXY_NONE,
	PROXY_WAITING,		/* sent; the connection is suspended */
	PROXY_DONE,		/* the answer (or the error) is in */
	PROXY_ANSWERED,
};

/* One request, from its request line to its access-log line. */
struct gw_req {
	struct gw_server	*srv;
	struct gw_loop		*loop;
	struct MHD_Connection	*conn;
	char			*target;	/* raw, as the client sent it */
	char			 method[16];
	char			 request_id[GW_REQID_MAX + 1];
	struct gw_match		 match;
	struct gw_hdrinfo	 hdr;
	const char		*cors_origin;	/* configured and sent, or NULL */
	unsigned char		*body;
	size_t			 bodylen;
	size_t			 bodysz;
	int			 too_large;
	int			 started;
	unsigned int		 status;	/* answered; 0: not yet */
	unsigned int		 upstream_status;
	uint64_t		 upstream_ns;
	struct timespec		 start;
	enum gw_proxy		 proxy;
	uint64_t		 upstream_t0;
	enum up_error		 upstream_error;
	struct up_response	 resp;
};

/* An answer; NULL members are left out. */
struct gw_answer {
	unsigned int		 status;
	const char		*content_type;
	const void		*body;
	size_t			 len;
	int			 persistent;	/* body outlives the response */
	int			 owned;		/* body is malloc'd: given away */
	const char		*csp;		/* NULL: GW_CSP_API */
	const char		*location;
	const char		*retry_after;
	const char		*allow;
};

/*
 * An owned body belongs to the answer from the call on, even when it
 * fails: it is wiped and freed once sent (or at once).  Other bodies are
 * copied unless persistent.
 */
enum MHD_Result	 gw_answer(struct gw_req *, const struct gw_answer *);
enum MHD_Result	 gw_problem(struct gw_req *, unsigned int status,
		    const char *type, const char *title, const char *detail);

struct gw_limits {
	struct ratelimit	*client;	/* NULL: off */
	struct ratelimit	*connection;
	struct ratelimit	*refresh;
};

/*
 * Serve with nloops event loops, each on its listening socket of
 * listenfds (one SO_REUSEPORT group), which the server owns from now on.
 * cert and key (PEM, NUL-terminated) are used during the call only: the
 * caller may wipe them afterwards.  NULL cert: plain HTTP (the
 * configuration allowed it on loopback only).  broker: the broker over
 * TLS (it must outlive the server); NULL: its unix socket, from the
 * configuration.
 */
struct gw_server	*gw_server_start(const struct gw_conf *,
			    const int *listenfds, unsigned int nloops,
			    const char *cert, const char *key,
			    struct gw_broker *broker,
			    const struct gw_limits *);
/*
 * Close connections that have not delivered a whole request within the
 * client timeout (slow clients).  Call about once a second.
 */
void			 gw_server_reap(struct gw_server *);
/*
 * Drain: stop accepting, answer with "Connection: close", and let each
 * loop end once the requests it has are answered.  gw_server_drained()
 * says when all have; gw_server_inflight() counts what is left.
 */
void			 gw_server_drain(struct gw_server *);
int			 gw_server_drained(struct gw_server *);
unsigned int		 gw_server_inflight(struct gw_server *);
/* End now: what waits for the broker is answered 503. */
void			 gw_server_stop(struct gw_server *);

/* The embedded OpenAPI document (gateway/openapi.json, build time). */
extern const unsigned char	gw_openapi[];
extern const size_t		gw_openapi_len;

#endif /* DROMOS_GATEWAY_SERVER_H */
