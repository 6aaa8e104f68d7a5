/*
 * The public server of dromos-gateway (gateway/server.h).
 *
 * libmicrohttpd calls us four ways for each request:
 *	the URI log callback, with the raw request target, before anything
 *	    is decoded: it makes the request's state and keeps the target;
 *	the access handler, once the headers are in: everything that can be
 *	    judged from the target and headers is judged (route, method,
 *	    parameters, headers, declared length, rate limits), and a refusal
 *	    is answered before the body is read;
 *	the access handler again for each piece of the body, kept up to the
 *	    limit, and a last time when it is complete: the body is judged,
 *	    then the request is answered here or forwarded to the broker;
 *	the completion callback: one access-log line, the metrics, and the
 *	    request's memory wiped (a capture's body holds credentials).
 *
 * Event loops.  Each of a few threads runs a libmicrohttpd daemon of its
 * own (external epoll mode, its own listening socket of a SO_REUSEPORT
 * group, so the kernel spreads the clients) and its own connections to
 * the broker (gateway/upstream.h), in one epoll set: a request forwarded
 * to the broker suspends its client connection, and the broker's answer
 * resumes it, without a thread waiting for either.  A loop keeps the
 * access-log lines of its requests and writes them together before it
 * sleeps and when it stops.
 *
 * Draining (gw_server_drain()): each loop stops accepting (its listening
 * socket is closed, so the clients go to another gateway of the same
 * SO_REUSEPORT group, or are refused), answers with "Connection: close",
 * and ends once none of its requests is left; idle kept-alive connections
 * are closed then.  Nothing in flight is cut short by a drain: only by
 * gw_server_stop(), which answers what still waits for the broker (503).
 *
 * Slow clients: libmicrohttpd's connection timeout closes a connection
 * that sends nothing for the client timeout, but not one that sends a
 * byte now and then.  So each connection is tracked from the moment it
 * waits for a request, and gw_server_reap() shuts down those that have
 * not delivered a complete request within the timeout.  The connection
 * list's mutex is held by the reaper while it calls shutdown(2) and by
 * the close notification, which libmicrohttpd makes before it closes the
 * descriptor: a descriptor number is never shut down after reuse.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/jsonmem.h"
#include "common/log.h"
#include "gateway/brokertls.h"
#include "gateway/check.h"
#include "gateway/connect.h"
#include "gateway/metrics.h"
#include "gateway/ratelimit.h"
#include "gateway/route.h"
#include "gateway/server.h"
#include "gateway/upstream.h"

#define CONN_LIMIT		1000u		/* over all loops */
#define BROKER_CONNS		256u		/* over all loops */
/*
 * libmicrohttpd wipes a connection's memory pool after every request, so
 * it is kept to what a request head needs (the broker's is as small).
 */
#define CONN_MEMORY		((size_t)16 * 1024)
#define TLS_PRIORITIES		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define HSTS			"max-age=31536000"
#define CORS_ALLOW_HEADERS	"Authorization, Content-Type, Accept, " \
				"X-Request-Id"
#define CORS_EXPOSE_HEADERS	"X-Request-Id, Retry-After, Location"
#define CORS_MAX_AGE		"600"

/* What the loops are told when their stop eventfd rings. */
enum srv_state {
	SRV_SERVING,
	SRV_DRAINING,		/* stop accepting, end when nothing is left */
	SRV_STOPPING,		/* end now */
};

/* A client connection, for the slow-client reaper. */
enum sock_state {
	SOCK_WAITING,		/* for a whole request: the clock runs */
	SOCK_BUSY,		/* the request is in: handling, answering */
	SOCK_KILLED,		/* shut down by the reaper */
};

struct gw_sock {
	int			 fd;
	enum sock_state		 state;
	uint64_t		 since;		/* ms */
	struct gw_sock		*prev, *next;
};

/* What a loop's epoll events are about. */
enum {
	EV_MHD,
	EV_UPSTREAM,
	EV_STOP,
};

struct gw_loop {
	struct gw_server	*srv;
	struct MHD_Daemon	*mhd;
	struct upstream		*up;		/* NULL: stopping */
	int			 ep;
	int			 stop;		/* an eventfd */
	int			 up_ms;		/* the next broker deadline */
	int			 resumed;	/* connections, this round */
	int			 draining;	/* not accepting; closing */
	atomic_uint		 inflight;	/* requests begun, not ended */
	pthread_t		 thread;
	int			 running;
	struct log_batch	 log;
};

struct gw_server {
	const struct gw_conf	*conf;
	struct gw_broker	*broker;	/* NULL: the unix socket */
	struct gw_limits	 limits;
	int			 tls;
	uint64_t		 timeout_ms;
	pthread_mutex_t		 socks_mu;
	struct gw_sock		*socks;
	struct gw_loop		*loops;
	unsigned int		 nloops;
	atomic_int		 state;		/* enum srv_state */
	atomic_uint		 drained;	/* loops that have ended so */
};

/* A body MHD sends and then gives back to us to wipe. */
struct owned {
	void	*p;
	size_t	 len;
};

static uint64_t
mono_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
elapsed_ns(const struct timespec *since)
{
	struct timespec	 now;
	int64_t		 d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d = (int64_t)(now.tv_sec - since->tv_sec) * 1000000000 +
	    (int64_t)(now.tv_nsec - since->tv_nsec);
	return d > 0 ? (uint64_t)d : 0;
}

/* Answers. */

static void
owned_free(void *cls)
{
	struct owned	*o = cls;

	explicit_bzero(o->p, o->len);
	free(o->p);
	free(o);
}

/* A body handed over (the broker's answer): all its allocation wiped. */
static void
body_free(void *p)
{
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static struct MHD_Response *
make_response(const struct gw_answer *a)
{
	struct MHD_Response	*resp;
	struct owned		*o;
	void			*copy;

	if (a->owned && a->body != NULL) {
		copy = (void *)(uintptr_t)a->body;
		if (a->len == 0) {
			body_free(copy);
			return MHD_create_response_from_buffer(0,
			    (void *)(uintptr_t)"", MHD_RESPMEM_PERSISTENT);
		}
		if ((resp = MHD_create_response_from_buffer_with_free_callback(
		    a->len, copy, body_free)) == NULL)
			body_free(copy);
		return resp;
	}
	if (a->persistent || a->len == 0)
		return MHD_create_response_from_buffer(a->len,
		    (void *)(uintptr_t)(a->len ? a->body : ""),
		    MHD_RESPMEM_PERSISTENT);
	/* Our own copy, wiped when MHD is done with it. */
	if ((o = malloc(sizeof(*o))) == NULL)
		return NULL;
	if ((copy = malloc(a->len)) == NULL) {
		free(o);
		return NULL;
	}
	memcpy(copy, a->body, a->len);
	o->p = copy;
	o->len = a->len;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(a->len,
	    copy, owned_free, o);
	if (resp == NULL)
		owned_free(o);
	return resp;
}

static int
add(struct MHD_Response *resp, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	return MHD_add_response_header(resp, name, value) == MHD_YES ? 0 : -1;
}

/* What every answer carries: security headers, the request id, CORS. */
static int
common_headers(struct gw_req *r, struct MHD_Response *resp, const char *csp)
{
	const struct gw_conf	*cf = r->srv->conf;

	if (add(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == -1 ||
	    add(resp, "X-Content-Type-Options", "nosniff") == -1 ||
	    add(resp, "Referrer-Policy", "no-referrer") == -1 ||
	    add(resp, "X-Frame-Options", "DENY") == -1 ||
	    add(resp, "Content-Security-Policy", csp != NULL ? csp :
	    GW_CSP_API) == -1 ||
	    (r->srv->tls && add(resp, "Strict-Transport-Security", HSTS) ==
	    -1) ||
	    (r->request_id[0] != '\0' && add(resp, "X-Request-Id",
	    r->request_id) == -1) ||
	    (r->loop->draining && add(resp, MHD_HTTP_HEADER_CONNECTION,
	    "close") == -1))
		return -1;
	if (cf->ncors > 0 && add(resp, "Vary", "Origin") == -1)
		return -1;
	if (r->cors_origin != NULL &&
	    (add(resp, "Access-Control-Allow-Origin", r->cors_origin) == -1 ||
	    add(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS) ==
	    -1))
		return -1;
	return 0;
}

enum MHD_Result
gw_answer(struct gw_req *r, const struct gw_answer *a)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 rv;

	if ((resp = make_response(a)) == NULL)
		return MHD_NO;
	if (add(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type) == -1 ||
	    add(resp, MHD_HTTP_HEADER_LOCATION, a->location) == -1 ||
	    add(resp, MHD_HTTP_HEADER_RETRY_AFTER, a->retry_after) == -1 ||
	    add(resp, MHD_HTTP_HEADER_ALLOW, a->allow) == -1 ||
	    common_headers(r, resp, a->csp) == -1) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = a->status;
	rv = MHD_queue_response(r->conn, a->status, resp);
	MHD_destroy_response(resp);
	return rv;
}

static enum MHD_Result
problem_full(struct gw_req *r, unsigned int status, const char *type,
    const char *title, const char *detail, const char *allow,
    const char *retry_after)
{
	struct gw_answer	 a;
	enum MHD_Result		 rv;
	char			 uri[128];
	json_t			*doc;
	char			*body;

	snprintf(uri, sizeof(uri), "%s%s", PROBLEM_BASE, type);
	doc = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", uri, "title",
	    title, "status", (int)status, "detail", detail, "request_id",
	    r->request_id);
	if (doc == NULL)
		return MHD_NO;
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (body == NULL)
		return MHD_NO;
	memset(&a, 0, sizeof(a));
	a.status = status;
	a.content_type = "application/problem+json";
	a.body = body;
	a.len = strlen(body);
	a.allow = allow;
	a.retry_after = retry_after;
	rv = gw_answer(r, &a);
	jsonmem_strfree(body);
	return rv;
}

enum MHD_Result
gw_problem(struct gw_req *r, unsigned int status, const char *type,
    const char *title, const char *detail)
{
	return problem_full(r, status, type, title, detail, NULL, NULL);
}

static enum MHD_Result
refusal(struct gw_req *r, const struct gw_refusal *f)
{
	return gw_problem(r, f->status, f->problem, f->title, f->detail);
}

/* Connection tracking for the reaper. */

static uint64_t
mono_ms(void)
{
	return mono_ns() / 1000000u;
}

static struct gw_sock *
sock_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

static void
sock_set(struct gw_server *srv, struct MHD_Connection *c,
    enum sock_state state)
{
	struct gw_sock	*s;

	if ((s = sock_of(c)) == NULL)
		return;
	pthread_mutex_lock(&srv->socks_mu);
	if (s->state != SOCK_KILLED) {
		s->state = state;
		s->since = mono_ms();
	}
	pthread_mutex_unlock(&srv->socks_mu);
}

static void
notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct gw_server		*srv = ((struct gw_loop *)cls)->srv;
	struct gw_sock			*s;
	const union MHD_ConnectionInfo	*ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (s = calloc(1, sizeof(*s))) == NULL)
			return;
		s->fd = ci->connect_fd;
		s->state = SOCK_WAITING;
		s->since = mono_ms();
		pthread_mutex_lock(&srv->socks_mu);
		s->next = srv->socks;
		if (srv->socks != NULL)
			srv->socks->prev = s;
		srv->socks = s;
		pthread_mutex_unlock(&srv->socks_mu);
		*socket_context = s;
		return;
	}
	if ((s = *socket_context) == NULL)
		return;
	pthread_mutex_lock(&srv->socks_mu);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&srv->socks_mu);
	free(s);
	*socket_context = NULL;
}

void
gw_server_reap(struct gw_server *srv)
{
	struct gw_sock	*s;
	uint64_t	 now = mono_ms();
	unsigned int	 n = 0;

	pthread_mutex_lock(&srv->socks_mu);
	for (s = srv->socks; s != NULL; s = s->next) {
		if (s->state != SOCK_WAITING || now - s->since < srv->timeout_ms)
			continue;
		/* MHD sees the end of the stream and closes it itself. */
		(void)shutdown(s->fd, SHUT_RDWR);
		s->state = SOCK_KILLED;
		n++;
	}
	pthread_mutex_unlock(&srv->socks_mu);
	if (n > 0)
		log_debug("closed %u connection%s that did not send a whole "
		    "request in time", n, n == 1 ? "" : "s");
}

/* Request life cycle. */

_Static_assert(offsetof(struct gw_req, resp) + sizeof(struct up_response) ==
    sizeof(struct gw_req), "the broker's answer ends struct gw_req");

static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct gw_loop	*lp = cls;
	struct gw_req	*r;

	/* All but the broker's answer, whose kilobytes up_init() skips. */
	if ((r = malloc(sizeof(*r))) == NULL)
		return NULL;
	memset(r, 0, offsetof(struct gw_req, resp));
	up_init(&r->resp);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->loop = lp;
	r->srv = lp->srv;
	r->conn = c;
	/* Longer than any route allows: the router refuses it. */
	r->target = strndup(uri != NULL ? uri : "", GW_TARGET_MAX + 1);
	metrics_in_flight(1);
	atomic_fetch_add_explicit(&lp->inflight, 1, memory_order_relaxed);
	return r;
}

struct hdr_list {
	struct gw_hdr	 h[GW_HEADERS_MAX];
	size_t		 n;		/* seen, even past the array */
	const char	*reqid;		/* the first X-Request-Id */
};

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct hdr_list	*l = cls;

	(void)kind;
	if (l->reqid == NULL && key_size == 12 &&
	    strncasecmp(key, "X-Request-Id", 12) == 0)
		l->reqid = value;
	if (l->n < GW_HEADERS_MAX) {
		l->h[l->n].name = key;
		l->h[l->n].namelen = key_size;
		l->h[l->n].value = value;
		l->h[l->n].valuelen = value_size;
	}
	l->n++;
	return MHD_YES;
}

static void
client_key(struct gw_req *r, unsigned char key[GW_RATEKEY_LEN])
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr		*sa;

	if (r->hdr.authorization != NULL) {
		gw_ratekey("client", r->hdr.authorization,
		    strlen(r->hdr.authorization), key);
		return;
	}
	/* No credential: the peer's address stands for the client. */
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = ci != NULL ? ci->client_addr : NULL;
	if (sa != NULL && sa->sa_family == AF_INET)
		gw_ratekey("address", &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, sizeof(struct in_addr), key);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		gw_ratekey("address", &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, sizeof(struct in6_addr), key);
	else
		gw_ratekey("address", "", 0, key);
}

static enum MHD_Result
limited(struct gw_req *r, enum gw_limit which, unsigned int wait)
{
	char	 ra[16];

	metrics_ratelimited(which);
	snprintf(ra, sizeof(ra), "%u", wait);
	return problem_full(r, 429, "rate-limited", "Too many requests",
	    which == GW_LIMIT_CLIENT ? "this client is over its rate limit" :
	    which == GW_LIMIT_CONNECTION ? "this connection is over its rate "
	    "limit" : "this connection is over its refresh rate limit", NULL,
	    ra);
}

/* The rate limits of a proxied route: MHD_YES to go on, or answered. */
static int
check_limits(struct gw_req *r, enum MHD_Result *answered)
{
	const struct gw_limits	*l = &r->srv->limits;
	const struct gw_route	*rt = r->match.route;
	unsigned char		 key[GW_RATEKEY_LEN];
	const char		*conn;
	uint64_t		 now = mono_ns();
	unsigned int		 wait;

	if (l->client != NULL) {
		client_key(r, key);
		if ((wait = ratelimit_take(l->client, key, now)) != 0) {
			*answered = limited(r, GW_LIMIT_CLIENT, wait);
			return -1;
		}
	}
	conn = gw_match_param(&r->match, "connection");
	if (conn == NULL)
		return 0;
	if ((rt->flags & GW_F_LIMIT_CONN) && l->connection != NULL) {
		gw_ratekey("connection", conn, strlen(conn), key);
		if ((wait = ratelimit_take(l->connection, key, now)) != 0) {
			*answered = limited(r, GW_LIMIT_CONNECTION, wait);
			return -1;
		}
	}
	if ((rt->flags & GW_F_LIMIT_REFRESH) && l->refresh != NULL) {
		gw_ratekey("refresh", conn, strlen(conn), key);
		if ((wait = ratelimit_take(l->refresh, key, now)) != 0) {
			*answered = limited(r, GW_LIMIT_REFRESH, wait);
			return -1;
		}
	}
	return 0;
}

/* Is method one of the ", "-separated list? */
static int
method_listed(const char *list, const char *method)
{
	size_t	 ml = strlen(method), n;

	while (*list != '\0') {
		n = strcspn(list, ",");
		if (n == ml && strncmp(list, method, ml) == 0)
			return 1;
		list += n;
		while (*list == ',' || *list == ' ')
			list++;
	}
	return 0;
}

/* A CORS preflight: the path's methods; CORS headers for our origins. */
static enum MHD_Result
preflight(struct gw_req *r)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 rv;
	const char		*m = r->hdr.acr_method;
	int			 ok = r->cors_origin != NULL && m != NULL &&
				    method_listed(r->match.allow, m);

	if ((resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"",
	    MHD_RESPMEM_PERSISTENT)) == NULL)
		return MHD_NO;
	if (!ok)
		r->cors_origin = NULL;
	if (add(resp, MHD_HTTP_HEADER_ALLOW, r->match.allow) == -1 ||
	    common_headers(r, resp, NULL) == -1 ||
	    (ok && (add(resp, "Access-Control-Allow-Methods",
	    r->match.allow) == -1 ||
	    add(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS) ==
	    -1 || add(resp, "Access-Control-Max-Age", CORS_MAX_AGE) == -1))) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = MHD_HTTP_NO_CONTENT;
	rv = MHD_queue_response(r->conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	return rv;
}

/* The headers are in: judge everything but the body. */
static enum MHD_Result
begin(struct gw_server *srv, struct gw_req *r, const char *method)
{
	struct hdr_list		 hl;
	struct gw_refusal	 f;
	enum MHD_Result		 answered;

	snprintf(r->method, sizeof(r->method), "%s", method);
	hl.n = 0;
	hl.reqid = NULL;
	/* One pass over the headers, the request id among them. */
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, collect_header,
	    &hl);
	gw_reqid(hl.reqid, r->request_id);
	if (gw_headers_check(hl.h, hl.n, srv->conf->body_limit, &r->hdr,
	    &f) == -1)
		return refusal(r, &f);
	if (srv->conf->ncors > 0 && gw_cors_allowed(srv->conf, r->hdr.origin))
		r->cors_origin = r->hdr.origin;
	if (r->target == NULL)
		return gw_problem(r, 500, "internal", "Internal error",
		    "out of memory");
	if (gw_route_match(r->method, r->target, &r->match) == -1)
		return problem_full(r, r->match.status, r->match.problem,
		    r->match.title, r->match.detail,
		    r->match.status == 405 ? r->match.allow : NULL, NULL);
	if (strcmp(r->method, "OPTIONS") == 0)
		return preflight(r);
	if (r->match.route->local == GW_PROXY &&
	    check_limits(r, &answered) == -1)
		return answered;
	return MHD_YES;
}

static int
body_append(struct gw_req *r, const char *data, size_t len)
{
	unsigned char	*nb;
	size_t		 nsz, limit = (size_t)r->srv->conf->body_limit;

	if (r->too_large || len > limit - r->bodylen) {
		r->too_large = 1;
		return 0;
	}
	if (r->bodylen + len > r->bodysz) {
		nsz = r->bodysz ? r->bodysz : 1024;
		while (nsz < r->bodylen + len)
			nsz *= 2;
		if (nsz > limit)
			nsz = limit;
		/* Not realloc: the old buffer is wiped before it goes. */
		if ((nb = malloc(nsz)) == NULL)
			return -1;
		if (r->body != NULL) {
			memcpy(nb, r->body, r->bodylen);
			explicit_bzero(r->body, r->bodysz);
			free(r->body);
		}
		r->body = nb;
		r->bodysz = nsz;
	}
	memcpy(r->body + r->bodylen, data, len);
	r->bodylen += len;
	return 0;
}

static enum MHD_Result
upstream_failed(struct gw_req *r, enum up_error e)
{
	metrics_upstream_error(e);
	log_kv(LOGL_WARN, "upstream failed", "request_id", r->request_id,
	    "error", up_errname(e), NULL);
	if (e == UP_EPROTO)
		return gw_problem(r, 502, "upstream-invalid", "Bad gateway",
		    "the broker's answer could not be understood");
	if (e == UP_EINVAL)
		return gw_problem(r, 500, "internal", "Internal error",
		    "the request could not be forwarded");
	return gw_problem(r, 503, "upstream-unavailable",
	    "Service unavailable", "the broker cannot be reached");
}

/* The broker's answer is in (or the exchange failed): the connection on. */
static void
proxied(void *arg, enum up_error e, int reused)
{
	struct gw_req	*r = arg;

	(void)reused;
	r->upstream_ns = mono_ns() - r->upstream_t0;
	r->upstream_error = e;
	r->proxy = PROXY_DONE;
	MHD_resume_connection(r->conn);
	r->loop->resumed = 1;
}

/*
 * Forward to the broker: the connection waits, suspended, for proxied();
 * libmicrohttpd then calls us again and answer() passes the answer on.
 */
static enum MHD_Result
proxy(struct gw_req *r)
{
	struct up_request	 q;
	enum up_error		 e;

	if (r->loop->up == NULL)
		return upstream_failed(r, UP_ECONNECT);	/* stopping */
	memset(&q, 0, sizeof(q));
	q.method = r->method;
	q.target = r->match.upstream;
	q.request_id = r->request_id;
	q.authorization = r->hdr.authorization;
	q.accept = r->hdr.accept;
	if (r->bodylen > 0) {
		q.content_type = r->hdr.content_type;
		q.body = r->body;
		q.bodylen = r->bodylen;
	}
	r->upstream_t0 = mono_ns();
	if ((e = upstream_start(r->loop->up, &q, &r->resp, proxied, r)) !=
	    UP_OK)
		return upstream_failed(r, e);
	r->proxy = PROXY_WAITING;
	MHD_suspend_connection(r->conn);
	return MHD_YES;
}

static enum MHD_Result
answer(struct gw_req *r)
{
	struct up_response	*resp = &r->resp;
	struct gw_answer	 a;
	enum MHD_Result		 rv;

	r->proxy = PROXY_ANSWERED;
	metrics_upstream(r->upstream_ns);
	if (r->upstream_error != UP_OK)
		return upstream_failed(r, r->upstream_error);
	r->upstream_status = resp->status;
	memset(&a, 0, sizeof(a));
	a.status = resp->status;
	a.content_type = resp->content_type[0] != '\0' ?
	    resp->content_type : NULL;
	/* The body goes to the response as it is: no copy. */
	a.body = resp->body;
	a.len = resp->bodylen;
	a.owned = 1;
	resp->body = NULL;
	resp->bodylen = 0;
	if (resp->status >= 300 && resp->status < 400 &&
	    resp->location[0] != '\0')
		a.location = resp->location;
	if (resp->retry_after[0] != '\0')
		a.retry_after = resp->retry_after;
	if (resp->status == 405 && resp->allow[0] != '\0')
		a.allow = resp->allow;
	if (a.content_type != NULL &&
	    strncasecmp(a.content_type, "text/html", 9) == 0)
		a.csp = GW_CSP_BROKER_PAGE;
	rv = gw_answer(r, &a);
	up_clear(resp);
	return rv;
}

static enum MHD_Result
local_health(struct gw_req *r)
{
	static const char	 ok[] = "{\"status\":\"ok\"}";
	struct gw_answer	 a;

	memset(&a, 0, sizeof(a));
	a.status = 200;
	a.content_type = "application/json";
	a.body = ok;
	a.len = sizeof(ok) - 1;
	a.persistent = 1;
	return gw_answer(r, &a);
}

static enum MHD_Result
local_openapi(struct gw_req *r)
{
	struct gw_answer	 a;

	memset(&a, 0, sizeof(a));
	a.status = 200;
	a.content_type = "application/json";
	a.body = gw_openapi;
	a.len = gw_openapi_len;
	a.persistent = 1;
	return gw_answer(r, &a);
}

/* The whole request is in. */
static enum MHD_Result
finish(struct gw_server *srv, struct gw_req *r)
{
	struct gw_refusal	 f;

	sock_set(srv, r->conn, SOCK_BUSY);
	if (r->too_large)
		return gw_problem(r, 413, "too-large", "Request body too large",
		    "the body exceeds the size limit");
	if (gw_body_check(r->match.route->flags, r->hdr.content_type, r->body,
	    r->bodylen, &f) == -1)
		return refusal(r, &f);
	switch (r->match.route->local) {
	case GW_LOCAL_HEALTH:
		return local_health(r);
	case GW_LOCAL_OPENAPI:
		return local_openapi(r);
	case GW_LOCAL_CONNECT:
		return connect_page(r);
	case GW_PROXY:
		break;
	}
	return proxy(r);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct gw_server	*srv = ((struct gw_loop *)cls)->srv;
	struct gw_req		*r = *con_cls;

	(void)url;		/* decoded by MHD: we route the raw target */
	(void)version;
	if (r == NULL)
		return MHD_NO;	/* out of memory in uri_log() */
	if (r->proxy == PROXY_DONE)
		return answer(r);
	if (r->proxy != PROXY_NONE)
		return MHD_YES;	/* not expected while suspended */
	if (!r->started) {
		r->started = 1;
		r->conn = c;
		return begin(srv, r, method);
	}
	if (r->status != 0) {
		/* Refused already: what follows is not read. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (body_append(r, upload_data, *upload_data_size) == -1)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return finish(srv, r);
}

/* Nanoseconds as milliseconds with three decimals, in integers. */
static void
millis(char *buf, size_t len, uint64_t ns)
{
	uint64_t	 us = ns / 1000u;

	snprintf(buf, len, "%llu.%03llu", (unsigned long long)(us / 1000u),
	    (unsigned long long)(us % 1000u));
}

static void
log_request(struct gw_req *r, uint64_t ns, enum MHD_RequestTerminationCode toe)
{
	const struct gw_route	*rt = r->match.route;
	char			 status[8], ms[32], ust[8], ums[32];

	snprintf(status, sizeof(status), "%u", r->status);
	millis(ms, sizeof(ms), ns);
	snprintf(ust, sizeof(ust), "%u", r->upstream_status);
	millis(ums, sizeof(ums), r->upstream_ns);
	/* The route's pattern: never the raw path, never a query. */
	log_kv_batch(&r->loop->log, LOGL_INFO, "request",
	    "method", r->method[0] ? r->method : "-",
	    "route", rt != NULL ? rt->pattern : "-", "status", status,
	    "ms", ms, "request_id", r->request_id[0] ? r->request_id : "-",
	    "upstream_status", r->upstream_status ? ust : "-",
	    "upstream_ms", r->upstream_status ? ums : "-",
	    "end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" :
	    "aborted", NULL);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct gw_loop		*lp = cls;
	struct gw_server	*srv = lp->srv;
	struct gw_req		*r = *con_cls;
	uint64_t		 ns;

	sock_set(srv, c, SOCK_WAITING);
	if (r == NULL)
		return;
	atomic_fetch_sub_explicit(&lp->inflight, 1, memory_order_relaxed);
	ns = elapsed_ns(&r->start);
	/* Not started: the client went away before its headers were in. */
	if (r->started) {
		log_request(r, ns, toe);
		metrics_request(r->match.route != NULL ? r->match.index :
		    gw_nroutes, r->status, ns);
	}
	metrics_in_flight(-1);
	if (r->proxy == PROXY_WAITING) {
		/*
		 * libmicrohttpd ends no suspended connection; should it, the
		 * exchange in flight still points here: kept, not freed.
		 */
		log_warnx("a request ended while it waited for the broker");
		*con_cls = NULL;
		return;
	}
	up_clear(&r->resp);
	if (r->body != NULL) {
		explicit_bzero(r->body, r->bodysz);
		free(r->body);
	}
	free(r->target);
	explicit_bzero(r, offsetof(struct gw_req, resp));
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *, const char *, va_list)
    __attribute__((__format__(__printf__, 2, 0)));

/* MHD's complaints are mostly about clients: debug level. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	 msg[512];
	size_t	 n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("httpd: %s", msg);
}

/* Event loops. */

static int
loop_watch(struct gw_loop *lp, int fd, uint64_t what)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = what;
	return epoll_ctl(lp->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* How long to sleep: until MHD's next timeout or the broker's deadline. */
static int
loop_timeout(struct gw_loop *lp)
{
	MHD_UNSIGNED_LONG_LONG	 mt;
	int			 ms = lp->up_ms;

	if (MHD_get_timeout(lp->mhd, &mt) == MHD_YES &&
	    (ms < 0 || mt < (MHD_UNSIGNED_LONG_LONG)ms))
		ms = mt > INT_MAX ? INT_MAX : (int)mt;
	return ms;
}

/*
 * One round: the broker's answers resume their connections, libmicrohttpd
 * reads, answers and suspends, and the requests it forwarded are sent.
 * A resumed connection is not an event of libmicrohttpd's epoll set in
 * this mode: whoever resumes one makes MHD_run() run again.
 */
static void
loop_round(struct gw_loop *lp, int up_ready)
{
	lp->up_ms = upstream_run(lp->up, up_ready);
	do {
		lp->resumed = 0;
		MHD_run(lp->mhd);
		if (upstream_pending(lp->up))
			lp->up_ms = upstream_run(lp->up, 0);
	} while (lp->resumed);
}

/*
 * Stop accepting: the listening socket is closed, so that new clients go
 * to the other members of the SO_REUSEPORT group (another gateway).
 */
static void
loop_drain(struct gw_loop *lp)
{
	MHD_socket	 fd;

	lp->draining = 1;
	if ((fd = MHD_quiesce_daemon(lp->mhd)) == MHD_INVALID_SOCKET)
		log_warnx("an event loop could not stop accepting");
	else
		close(fd);
}

/* The stop eventfd rang: a drain, or the end.  1: end the loop now. */
static int
loop_signalled(struct gw_loop *lp)
{
	uint64_t	 v;

	if (read(lp->stop, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_warn("event loop: eventfd");
	if (atomic_load(&lp->srv->state) == SRV_STOPPING)
		return 1;
	if (!lp->draining)
		loop_drain(lp);
	return 0;
}

static void *
loop_main(void *arg)
{
	struct gw_loop		*lp = arg;
	struct epoll_event	 ev[8];
	int			 i, n, ms, up_ready;

	for (;;) {
		/* Lines wait while there is work, never while we sleep. */
		if ((ms = loop_timeout(lp)) != 0)
			log_batch_flush(&lp->log);
		n = epoll_wait(lp->ep, ev, 8, ms);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");	/* a loop must not just stop */
		up_ready = 0;
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == EV_STOP && loop_signalled(lp))
				goto stop;
			if (ev[i].data.u64 == EV_UPSTREAM)
				up_ready = 1;
		}
		loop_round(lp, up_ready);
		if (lp->draining && atomic_load_explicit(&lp->inflight,
		    memory_order_relaxed) == 0) {
			atomic_fetch_add(&lp->srv->drained, 1);
			goto stop;
		}
	}
 stop:
	/* What waits for the broker is answered (503), then all is shut. */
	upstream_free(lp->up);
	lp->up = NULL;
	MHD_run(lp->mhd);
	MHD_run(lp->mhd);
	MHD_stop_daemon(lp->mhd);
	lp->mhd = NULL;
	log_batch_flush(&lp->log);
	return NULL;
}

static void
loop_free(struct gw_loop *lp)
{
	if (lp->mhd != NULL)
		MHD_stop_daemon(lp->mhd);
	upstream_free(lp->up);
	if (lp->ep != -1)
		close(lp->ep);
	if (lp->stop != -1)
		close(lp->stop);
	log_batch_flush(&lp->log);
}

static struct MHD_Daemon *
loop_daemon(struct gw_loop *lp, int listenfd, const char *cert,
    const char *key, unsigned int limit)
{
	struct gw_server	*srv = lp->srv;
	unsigned int		 flags;

	/* TURBO: read and write before polling; the sockets do not block. */
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG;
	if (srv->tls)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL,
	    access_handler, lp,
	    /* First, so that every message of MHD's comes to us. */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listenfd,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)srv->conf->client_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_log, lp,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, lp,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, lp,
	    /* Plain HTTP: the list ends here and the TLS options go unread. */
	    srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
	    MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
	    MHD_OPTION_END);
}

static X509_STORE *
verify_store(void *arg)
{
	return gw_broker_verify_store(arg);
}

/* The loop's client to the broker: its unix socket, or over TLS. */
static struct upstream *
loop_upstream(struct gw_server *srv)
{
	const struct gw_broker	*b = srv->broker;
	struct up_tls		 t;
	unsigned int		 ms;
	size_t			 nconns;

	ms = (unsigned int)srv->conf->broker_timeout * 1000u;
	nconns = BROKER_CONNS / srv->nloops;
	if (nconns == 0)
		nconns = 1;
	if (b == NULL)
		return upstream_new(srv->conf->broker_socket, ms, nconns);
	memset(&t, 0, sizeof(t));
	t.addrs = b->addrs;
	t.naddrs = b->naddrs;
	t.ctx = b->ctx;
	t.sni = b->sni;
	t.label = b->label;
	t.verify_store = verify_store;
	t.verify_arg = srv->broker;
	return upstream_new_tls(&t, ms, nconns);
}

static int
loop_init(struct gw_loop *lp, int listenfd, const char *cert,
    const char *key)
{
	struct gw_server		*srv = lp->srv;
	const union MHD_DaemonInfo	*di;

	lp->ep = lp->stop = -1;
	lp->up_ms = -1;
	if ((lp->up = loop_upstream(srv)) == NULL) {
		log_warnx("the broker's client: out of memory");
		close(listenfd);
		return -1;
	}
	if ((lp->mhd = loop_daemon(lp, listenfd, cert, key,
	    (CONN_LIMIT + srv->nloops - 1) / srv->nloops)) == NULL) {
		log_warnx("cannot start the HTTP%s server", srv->tls ? "S" :
		    "");
		close(listenfd);
		return -1;
	}
	if ((di = MHD_get_daemon_info(lp->mhd,
	    MHD_DAEMON_INFO_EPOLL_FD)) == NULL ||
	    (lp->ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (lp->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    loop_watch(lp, di->epoll_fd, EV_MHD) == -1 ||
	    loop_watch(lp, upstream_fd(lp->up), EV_UPSTREAM) == -1 ||
	    loop_watch(lp, lp->stop, EV_STOP) == -1) {
		log_warn("event loop");
		return -1;
	}
	return 0;
}

struct gw_server *
gw_server_start(const struct gw_conf *cf, const int *listenfds,
    unsigned int nloops, const char *cert, const char *key,
    struct gw_broker *broker, const struct gw_limits *limits)
{
	struct gw_server	*srv;
	unsigned int		 i;

	if (nloops == 0 || (srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	if ((srv->loops = calloc(nloops, sizeof(*srv->loops))) == NULL ||
	    pthread_mutex_init(&srv->socks_mu, NULL) != 0) {
		free(srv->loops);
		free(srv);
		return NULL;
	}
	srv->conf = cf;
	srv->broker = broker;
	srv->limits = *limits;
	srv->tls = cert != NULL;
	srv->timeout_ms = cf->client_timeout * 1000u;
	srv->nloops = nloops;
	for (i = 0; i < nloops; i++) {
		srv->loops[i].srv = srv;
		srv->loops[i].ep = srv->loops[i].stop = -1;
	}
	for (i = 0; i < nloops; i++)
		if (loop_init(&srv->loops[i], listenfds[i], cert, key) == -1) {
			/* The sockets not yet given to a loop. */
			while (++i < nloops)
				close(listenfds[i]);
			goto fail;
		}
	for (i = 0; i < nloops; i++) {
		if ((errno = pthread_create(&srv->loops[i].thread, NULL,
		    loop_main, &srv->loops[i])) != 0) {
			log_warn("pthread_create");
			goto fail;
		}
		srv->loops[i].running = 1;
	}
	return srv;
 fail:
	gw_server_stop(srv);
	return NULL;
}

/* Ring every running loop's stop eventfd; state says what for. */
static void
loops_signal(struct gw_server *srv, enum srv_state state)
{
	uint64_t	 one = 1;
	unsigned int	 i;

	atomic_store(&srv->state, state);
	for (i = 0; i < srv->nloops; i++)
		if (srv->loops[i].running &&
		    write(srv->loops[i].stop, &one, sizeof(one)) !=
		    (ssize_t)sizeof(one))
			log_warn("cannot signal an event loop");
}

void
gw_server_drain(struct gw_server *srv)
{
	loops_signal(srv, SRV_DRAINING);
}

unsigned int
gw_server_inflight(struct gw_server *srv)
{
	unsigned int	 i, n = 0;

	for (i = 0; i < srv->nloops; i++)
		n += atomic_load_explicit(&srv->loops[i].inflight,
		    memory_order_relaxed);
	return n;
}

int
gw_server_drained(struct gw_server *srv)
{
	return atomic_load(&srv->drained) == srv->nloops;
}

void
gw_server_stop(struct gw_server *srv)
{
	unsigned int	 i;

	if (srv == NULL)
		return;
	loops_signal(srv, SRV_STOPPING);
	for (i = 0; i < srv->nloops; i++) {
		if (srv->loops[i].running)
			pthread_join(srv->loops[i].thread, NULL);
		loop_free(&srv->loops[i]);
	}
	pthread_mutex_destroy(&srv->socks_mu);
	free(srv->loops);
	free(srv);
}
