/*
 * http.c: the plumbing of the broker's HTTP servers.
 *
 * libmicrohttpd calls http_access() once when a request's headers are in,
 * again for every piece of its body, and a last time with no data.  The
 * first call checks what can be checked from the headers (route, method,
 * declared length); the body is collected up to HTTP_BODY_MAX and wiped
 * when the request ends, since captured credentials travel in it; the last
 * call parses it and runs the route's handler.
 *
 * Nothing a client sends is echoed into an answer, and the access log has
 * the matched route pattern, never a query string.
 *
 * Threads.  A handler blocks (on the database, on the keyholder), and
 * while it does, the other connections of its thread wait.  A pool of
 * libmicrohttpd workers sharing the listening socket spreads connections
 * unevenly (a worker that wakes first takes a burst of them, and some get
 * none), so each worker here is a daemon of its own with one thread and
 * no listening socket, and a thread of ours accepts and hands connections
 * to the workers in turn.
 *
 * TLS.  A server made by http_start_tls() has workers with libmicrohttpd's
 * TLS (GnuTLS), which asks for a client certificate but accepts a client
 * without one and never checks the one it gets.  libmicrohttpd (0.9.75)
 * makes each connection's GnuTLS session before it reads a byte and then
 * tells us, MHD_CONNECTION_NOTIFY_STARTED, so tls_started() makes the
 * certificate compulsory and verifies it in the handshake (tls_verify):
 * a client without a certificate that the client CA signed, valid now
 * and for client authentication, fails the handshake and gets no HTTP
 * answer.  Each request checks again that its connection's certificate
 * was verified (nothing else could have let it in, but a handshake
 * without our callback must never reach a route).  With client CRLs
 * (crlset.h, read again when their file changes), tls_verify() also
 * refuses a client whose certificate one of them revokes, and every
 * client while one of them has expired: a revocation list past its next
 * update no longer says who is revoked.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "common/addr.h"
#include "common/jsonmem.h"
#include "common/log.h"
#include "unpriv/broker.h"
#include "unpriv/crlset.h"
#include "unpriv/http.h"
#include "unpriv/khclient.h"
#include "unpriv/metrics.h"

#define HTTP_CONN_LIMIT		1024u		/* over all workers */
#define HTTP_CONN_TIMEOUT	30u		/* seconds idle */
/*
 * libmicrohttpd zeroes a connection's memory pool for every request, so
 * it is kept small: it holds the request head and a read buffer, while
 * bodies (HTTP_BODY_MAX) are collected in memory of ours.
 */
#define HTTP_CONN_MEMORY	((size_t)16 * 1024)
#define HTTP_WORKERS_MAX	64u
/*
 * TLS 1.3 only, and no session tickets: every connection makes a full
 * handshake, with its client certificate (a resumed one would skip it).
 */
#define HTTP_TLS_PRIORITIES	"NORMAL:-VERS-ALL:+VERS-TLS1.3:%NO_TICKETS"
#define HTTP_TLS_OPTS		5
/* How long http_stop() waits for suspended requests. */
#define HTTP_STOP_WAIT_MS	(KH_TIMEOUT_DEFAULT + 1000)

struct http_server {
	const char		*name;
	const struct http_route	*routes;
	size_t			 nroutes;
	struct broker		*b;
	int			 listenfd;
	int			 stop[2];	/* a pipe: the acceptor stops */
	pthread_t		 acceptor;
	int			 accepting;	/* the thread runs */
	struct MHD_Daemon	*w[HTTP_WORKERS_MAX];
	unsigned int		 nw;
	unsigned int		 next;		/* the worker of the next one */
	int			 mbase;		/* metrics_routes() */
	int			 tls;		/* http_start_tls() */
	/* The workers' TLS options (MHD_OPTION_ARRAY), only while starting. */
	struct MHD_OptionItem	 tlsopt[HTTP_TLS_OPTS];
	atomic_uint		 suspended;	/* requests in http_suspend() */
	atomic_int		 stopping;	/* http_stop() has begun */
	atomic_uint		 inflight;	/* received, not yet completed */
	struct crlset		*crls;		/* the clients', or NULL */
};

/*
 * A connection of a TLS server, from MHD_CONNECTION_NOTIFY_STARTED to
 * MHD_CONNECTION_NOTIFY_CLOSED (its socket context): what its handshake
 * did, for the one line logged when it ends without a request.
 */
struct http_tlsconn {
	struct http_server	*srv;
	char			 peer[ADDR_TEXT_MAX];
	unsigned int		 last_in;	/* handshake message, + 1 */
	int			 verify_ran;
	int			 verified;
	time_t			 judged;	/* against the CRLs; monotonic */
	unsigned long		 requests;
};

/* Per-request state, from the first call to the completion callback. */
struct http_ctx {
	struct http_req		 req;
	const struct http_route	*route;
	unsigned char		*body;
	size_t			 bodylen;
	size_t			 bodysz;
	int			 too_large;
	struct timespec		 start;
	struct http_server	*srv;
	/* Set by http_suspend(), run once http_resume() has woken it. */
	enum MHD_Result		(*cont)(struct http_req *, void *);
	void			*cont_arg;
};
/* Set by http_drain(): every answer closes its connection. */
static atomic_int	 draining;

static enum MHD_Result
add_retry_after(struct MHD_Response *resp, long seconds)
{
	char	 v[24];

	snprintf(v, sizeof(v), "%ld", seconds);
	return MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

static enum MHD_Result
respond(struct http_req *r, unsigned int status, const char *ctype,
    const char *body, size_t len, const char *allow, const char *location)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 rv;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if ((ctype != NULL && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_NO) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") == MHD_NO ||
	    MHD_add_response_header(resp, "X-Content-Type-Options",
	    "nosniff") == MHD_NO ||
	    MHD_add_response_header(resp, "X-Request-Id",
	    r->request_id) == MHD_NO ||
	    (allow != NULL && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_ALLOW, allow) == MHD_NO) ||
	    (location != NULL && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_LOCATION, location) == MHD_NO) ||
	    (r->retry_after > 0 && add_retry_after(resp, r->retry_after) ==
	    MHD_NO) || (atomic_load(&draining) && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_CONNECTION, "close") == MHD_NO)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = status;
	rv = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return rv;
}

static enum MHD_Result
respond_doc(struct http_req *r, unsigned int status, const char *ctype,
    json_t *doc, const char *allow)
{
	char		*body;
	size_t		 len;
	enum MHD_Result	 rv;

	if (doc == NULL)
		return MHD_NO;
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (body == NULL)
		return MHD_NO;
	len = strlen(body);
	rv = respond(r, status, ctype, body, len, allow, NULL);
	/* A credential payload is a secret: do not leave it in the heap. */
	jsonmem_strfree(body);
	return rv;
}

enum MHD_Result
http_json(struct http_req *r, unsigned int status, json_t *doc)
{
	return respond_doc(r, status, "application/json", doc, NULL);
}

enum MHD_Result
http_empty(struct http_req *r, unsigned int status)
{
	return respond(r, status, NULL, "", 0, NULL, NULL);
}

enum MHD_Result
http_redirect(struct http_req *r, const char *location)
{
	return respond(r, MHD_HTTP_FOUND, NULL, "", 0, NULL, location);
}

enum MHD_Result
http_html(struct http_req *r, unsigned int status, const char *html)
{
	return respond(r, status, "text/html; charset=utf-8", html,
	    strlen(html), NULL, NULL);
}

static enum MHD_Result
problem_allow(struct http_req *r, unsigned int status, const char *type,
    const char *title, const char *detail, json_t *errors, const char *allow)
{
	char	 uri[128];
	json_t	*doc;

	snprintf(uri, sizeof(uri), "%s%s", PROBLEM_BASE, type);
	doc = json_pack("{s:s, s:s, s:i, s:s}", "type", uri, "title", title,
	    "status", (int)status, "detail", detail);
	if (doc != NULL && errors != NULL)
		json_object_set_new(doc, "errors", errors);
	else if (errors != NULL)
		json_decref(errors);
	if (doc != NULL && r->request_id[0] != '\0')
		json_object_set_new(doc, "request_id",
		    json_string(r->request_id));
	return respond_doc(r, status, "application/problem+json", doc, allow);
}

enum MHD_Result
http_problem(struct http_req *r, unsigned int status, const char *type,
    const char *title, const char *detail)
{
	return problem_allow(r, status, type, title, detail, NULL, NULL);
}

enum MHD_Result
http_problem_errors(struct http_req *r, unsigned int status,
    const char *type, const char *title, const char *detail, json_t *errors)
{
	return problem_allow(r, status, type, title, detail, errors, NULL);
}

enum MHD_Result
http_unavailable(struct http_req *r, const char *detail)
{
	return http_problem(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
	    "Service unavailable", detail);
}

enum MHD_Result
http_internal(struct http_req *r)
{
	return http_problem(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
	    "Internal error", "the broker could not complete the request");
}

enum MHD_Result
http_not_found(struct http_req *r, const char *detail)
{
	return http_problem(r, MHD_HTTP_NOT_FOUND, "not-found", "Not found",
	    detail);
}

const char *
http_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

int
http_id_valid(const char *s, size_t max)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '.' &&
		    s[n] != '_' && s[n] != '-')
			return 0;
	return n > 0 && n <= max;
}

/*
 * Match path against pattern; {} segments become parameters.  A parameter
 * never spans a '/', and "." or ".." are never parameters.
 */
static int
route_match(const char *pattern, const char *path, struct http_req *r)
{
	const char	*p = pattern, *s = path, *end;
	size_t		 n;

	r->nparams = 0;
	while (*p != '\0') {
		if (p[0] == '{' && p[1] == '}') {
			if ((end = strchr(s, '/')) == NULL)
				end = s + strlen(s);
			n = (size_t)(end - s);
			if (n == 0 || r->nparams == HTTP_PARAMS_MAX ||
			    (n == 1 && s[0] == '.') ||
			    (n == 2 && s[0] == '.' && s[1] == '.'))
				return 0;
			if ((r->params[r->nparams] = strndup(s, n)) == NULL)
				return 0;
			r->nparams++;
			p += 2;
			s = end;
			continue;
		}
		if (*p++ != *s++)
			return 0;
	}
	return *s == '\0';
}

static void
params_free(struct http_req *r)
{
	size_t	 i;

	for (i = 0; i < r->nparams; i++) {
		free(r->params[i]);
		r->params[i] = NULL;
	}
	r->nparams = 0;
}

static int
method_matches(const char *want, const char *method)
{
	if (strcmp(want, method) == 0)
		return 1;
	return strcmp(want, MHD_HTTP_METHOD_GET) == 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static void
allow_add(char *allow, size_t sz, const char *name)
{
	size_t	 n = strlen(allow);

	if (strstr(allow, name) == NULL)
		snprintf(allow + n, sz - n, "%s%s", n > 0 ? ", " : "", name);
}

/* Find the route; on no match say 404 or 405 (with Allow). */
static const struct http_route *
route_find(struct http_server *srv, struct http_req *r, char *allow,
    size_t allowsz)
{
	size_t	 i;

	allow[0] = '\0';
	for (i = 0; i < srv->nroutes; i++) {
		if (!route_match(srv->routes[i].pattern, r->path, r)) {
			params_free(r);
			continue;
		}
		if (method_matches(srv->routes[i].method, r->method))
			return &srv->routes[i];
		params_free(r);
		allow_add(allow, allowsz, srv->routes[i].method);
		if (strcmp(srv->routes[i].method, MHD_HTTP_METHOD_GET) == 0)
			allow_add(allow, allowsz, MHD_HTTP_METHOD_HEAD);
	}
	return NULL;
}

/*
 * Keep a sane X-Request-Id; otherwise make one: 24 hex digits, a random
 * prefix drawn once per thread and the thread's count of requests.  An id
 * names a request in the logs and nothing relies on its being unguessable,
 * while drawing random bytes for every request cost more than all the
 * rest of its bookkeeping.
 */
static _Thread_local uint64_t	 rid_prefix;
static _Thread_local uint32_t	 rid_count;
static _Thread_local int	 rid_drawn;

static void
request_id(struct http_req *r)
{
	const char	*given = http_header(r, "X-Request-Id");

	if (given != NULL && http_id_valid(given, HTTP_REQID_MAX)) {
		snprintf(r->request_id, sizeof(r->request_id), "%s", given);
		return;
	}
	if (!rid_drawn) {
		if (RAND_bytes((unsigned char *)&rid_prefix,
		    sizeof(rid_prefix)) != 1)
			rid_prefix = 0;
		rid_drawn = 1;
	}
	snprintf(r->request_id, sizeof(r->request_id), "%016llx%08lx",
	    (unsigned long long)rid_prefix, (unsigned long)rid_count++);
}

static void
ctx_free(struct http_ctx *ctx)
{
	if (ctx->body != NULL) {
		explicit_bzero(ctx->body, ctx->bodysz);
		free(ctx->body);
	}
	if (ctx->req.body != NULL)
		json_decref(ctx->req.body);
	free(ctx->req.client);
	params_free(&ctx->req);
	free(ctx);
}

static int
body_append(struct http_ctx *ctx, const char *data, size_t len)
{
	unsigned char	*nb;
	size_t		 nsz;

	if (ctx->too_large || len > HTTP_BODY_MAX - ctx->bodylen) {
		ctx->too_large = 1;
		return 0;
	}
	if (ctx->bodylen + len > ctx->bodysz) {
		nsz = ctx->bodysz ? ctx->bodysz : 1024;
		while (nsz < ctx->bodylen + len)
			nsz *= 2;
		if (nsz > HTTP_BODY_MAX)
			nsz = HTTP_BODY_MAX;
		/* Not realloc: the old buffer is wiped before it goes. */
		if ((nb = malloc(nsz)) == NULL)
			return -1;
		if (ctx->body != NULL) {
			memcpy(nb, ctx->body, ctx->bodylen);
			explicit_bzero(ctx->body, ctx->bodysz);
			free(ctx->body);
		}
		ctx->body = nb;
		ctx->bodysz = nsz;
	}
	memcpy(ctx->body + ctx->bodylen, data, len);
	ctx->bodylen += len;
	return 0;
}

static enum MHD_Result
too_large(struct http_req *r)
{
	return http_problem(r, MHD_HTTP_CONTENT_TOO_LARGE, "too-large",
	    "Request body too large", "the body exceeds the size limit");
}

/* The headers are in: pick the route, refuse what we can already. */
static enum MHD_Result
begin(struct http_server *srv, struct http_ctx *ctx)
{
	struct http_req	*r = &ctx->req;
	const char	*cl;
	char		 allow[128], *end;
	unsigned long long n;

	request_id(r);
	if (broker_keyholder_dead(srv->b))
		return http_unavailable(r, "the keyholder is gone");
	ctx->route = route_find(srv, r, allow, sizeof(allow));
	if (ctx->route == NULL) {
		if (allow[0] != '\0')
			return problem_allow(r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method-not-allowed", "Method not allowed",
			    "this resource does not support that method",
			    NULL, allow);
		return http_not_found(r, "no such resource");
	}
	r->route = ctx->route->pattern;
	if ((cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0' || n > HTTP_BODY_MAX)
			return too_large(r);
	}
	return MHD_YES;
}

/* The whole request is in: parse the body, run the handler. */
static enum MHD_Result
finish(struct http_server *srv, struct http_ctx *ctx)
{
	struct http_req	*r = &ctx->req;
	const char	*ct;
	json_error_t	 err;

	if (ctx->too_large)
		return too_large(r);
	if (broker_keyholder_dead(srv->b))
		return http_unavailable(r, "the keyholder is gone");
	if (ctx->route->flags & HTTP_JSON) {
		ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
			return http_problem(r,
			    MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "unsupported-media-type", "Unsupported media type",
			    "the body must be application/json");
		r->body = json_loadb((const char *)ctx->body, ctx->bodylen,
		    JSON_REJECT_DUPLICATES, &err);
		if (r->body == NULL || !json_is_object(r->body))
			return http_problem(r, MHD_HTTP_BAD_REQUEST,
			    "malformed-json", "Malformed JSON",
			    "the body is not a JSON object");
	} else if (ctx->bodylen > 0)
		return http_problem(r, MHD_HTTP_BAD_REQUEST, "unexpected-body",
		    "Unexpected body", "this request takes no body");
	return ctx->route->handler(r);
}

/* TLS connections (see the top of this file). */

/*
 * Anyone who can reach the port can get refused at will: ten warnings,
 * then one a second, with a count of those left out.
 */
static struct log_throttle	 tls_refusals = LOG_THROTTLE_INITIALIZER(1000,
    10);

/* Whole seconds of the monotonic clock. */
static time_t
mono_sec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct http_tlsconn *
tls_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* libmicrohttpd makes its connection the session's pointer. */
static struct http_tlsconn *
tls_conn_of_session(gnutls_session_t s)
{
	struct MHD_Connection	*c = gnutls_session_get_ptr(s);

	return c != NULL ? tls_conn_of(c) : NULL;
}

/* Only a client certificate will do (RFC 5280 id-kp-clientAuth). */
static const gnutls_typed_vdata_st	 tls_purpose[] = {
	{ .type = GNUTLS_DT_KEY_PURPOSE_OID,
	  .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT },
};

/*
 * The client's certificate chain against the client CA (the trust list
 * of the workers' credentials), the clock and the client CRLs, as a
 * client certificate.  Non-zero fails the handshake.  Runs once the
 * client proved it holds the key (after its CertificateVerify); never
 * runs for a client that sent no certificate, which GNUTLS_CERT_REQUIRE
 * has failed already.
 */
static int
tls_verify(gnutls_session_t s)
{
	struct http_tlsconn	*tc = tls_conn_of_session(s);
	gnutls_datum_t		 why;
	const char		*revoked = NULL;
	unsigned int		 status = 0, n = 0;
	int			 rv;

	rv = gnutls_certificate_verify_peers(s,
	    (gnutls_typed_vdata_st *)(uintptr_t)tls_purpose, 1, &status);
	if (tc == NULL)
		return -1;	/* no server to check the CRLs of */
	tc->verify_ran = 1;
	if (rv == GNUTLS_E_SUCCESS && status == 0 &&
	    gnutls_certificate_get_peers(s, &n) != NULL && n > 0 &&
	    (tc->srv->crls == NULL ||
	    (revoked = crlset_check(tc->srv->crls, s)) == NULL)) {
		tc->verified = 1;
		tc->judged = mono_sec();
		return 0;
	}
	if (revoked != NULL)
		log_warnx_throttled(&tls_refusals, "%s: TLS client %s "
		    "refused: %s", tc->srv->name, tc->peer, revoked);
	else if (rv != GNUTLS_E_SUCCESS)
		log_warnx_throttled(&tls_refusals, "%s: TLS "
		    "client %s refused: its certificate cannot be verified: "
		    "%s", tc->srv->name, tc->peer, gnutls_strerror(rv));
	else if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &why, 0) == GNUTLS_E_SUCCESS) {
		log_warnx_throttled(&tls_refusals, "%s: TLS "
		    "client %s refused: %s", tc->srv->name, tc->peer,
		    (const char *)why.data);
		gnutls_free(why.data);
	} else
		log_warnx_throttled(&tls_refusals, "%s: TLS "
		    "client %s refused: its certificate does not verify "
		    "(status 0x%x)", tc->srv->name, tc->peer, status);
	return -1;
}

/* Remembers the last handshake message the client sent, for the log. */
static int
tls_hook(gnutls_session_t s, unsigned int htype, unsigned int when,
    unsigned int incoming, const gnutls_datum_t *msg)
{
	struct http_tlsconn	*tc;

	(void)when;
	(void)msg;
	if (incoming && (tc = tls_conn_of_session(s)) != NULL)
		tc->last_in = htype + 1;
	return 0;
}

static void
tls_peer(struct MHD_Connection *c, char *buf, size_t sz)
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	char				 a[INET6_ADDRSTRLEN];

	snprintf(buf, sz, "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)ci->client_addr;
		if (inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)) != NULL)
			snprintf(buf, sz, "%s:%u", a, ntohs(sin->sin_port));
	} else if (ci->client_addr->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)
		    ci->client_addr;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a)) != NULL)
			snprintf(buf, sz, "[%s]:%u", a, ntohs(sin6->sin6_port));
	}
}

/*
 * A new connection: its session exists and has not read a byte.  Should
 * any of this fail, the connection still cannot make a request: none gets
 * past tls_request_ok() without tls_verify() having passed.
 */
static void
tls_started(struct http_server *srv, struct MHD_Connection *c, void **sctx)
{
	const union MHD_ConnectionInfo	*ci;
	struct http_tlsconn		*tc;
	gnutls_session_t		 s;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		log_warn("%s: a TLS connection", srv->name);
		return;
	}
	tc->srv = srv;
	tls_peer(c, tc->peer, sizeof(tc->peer));
	*sctx = tc;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || (s = ci->tls_session) == NULL) {
		log_warnx("%s: TLS connection from %s has no session", srv->name,
		    tc->peer);
		return;
	}
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(s, tls_verify);
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_ANY,
	    GNUTLS_HOOK_POST, tls_hook);
}

/* Why a connection ended without a request, when tls_verify() has not said. */
static void
tls_log_end(const struct http_tlsconn *tc)
{
	unsigned int	 last = tc->last_in;

	if (last == 0)
		log_debug("%s: TLS client %s: no TLS handshake (nothing sent, "
		    "or not TLS)", tc->srv->name, tc->peer);
	else if (last == GNUTLS_HANDSHAKE_CERTIFICATE_PKT + 1 &&
	    !tc->verify_ran)
		log_warnx_throttled(&tls_refusals, "%s: TLS "
		    "client %s refused: no client certificate", tc->srv->name,
		    tc->peer);
	else if (last == GNUTLS_HANDSHAKE_FINISHED + 1 && tc->verified)
		log_debug("%s: TLS client %s closed without a request",
		    tc->srv->name, tc->peer);
	else
		log_debug("%s: TLS client %s: handshake failed after its %s",
		    tc->srv->name, tc->peer,
		    gnutls_handshake_description_get_name(
		    (gnutls_handshake_description_t)(last - 1)));
}

/* The session is gone by now (libmicrohttpd frees it first). */
static void
tls_closed(struct http_tlsconn *tc)
{
	if (tc == NULL)
		return;
	if (tc->requests == 0 && (tc->verified || !tc->verify_ran))
		tls_log_end(tc);
	explicit_bzero(tc, sizeof(*tc));
	free(tc);
}

static void
http_notify(void *cls, struct MHD_Connection *c, void **sctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct http_server	*srv = cls;

	if (!srv->tls)
		return;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		tls_started(srv, c, sctx);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		tls_closed(*sctx);
		*sctx = NULL;
	}
}

/*
 * A kept-alive connection outlives its handshake's verdict: once a second
 * at most, its certificate is judged again against the client CRLs in
 * force (read again if their file changed), so that a revocation, or an
 * expired list, also ends connections made before it.
 */
static int
tls_still_let_in(struct http_server *srv, struct MHD_Connection *c,
    struct http_tlsconn *tc)
{
	const union MHD_ConnectionInfo	*ci;
	const char			*why;
	time_t				 now = mono_sec();

	if (srv->crls == NULL || tc->judged == now)
		return 1;
	tc->judged = now;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		why = "its session is gone";
	else if ((why = crlset_check(srv->crls, ci->tls_session)) == NULL)
		return 1;
	log_warnx_throttled(&tls_refusals, "%s: TLS client %s refused on "
	    "its open connection: %s; closing", srv->name, tc->peer, why);
	return 0;
}

/* Before a request of a TLS server is looked at. */
static int
tls_request_ok(struct http_server *srv, struct MHD_Connection *c)
{
	struct http_tlsconn	*tc = tls_conn_of(c);

	if (tc == NULL || !tc->verified) {
		log_warnx("%s: TLS client %s: a request without a verified "
		    "client certificate; closing", srv->name,
		    tc != NULL ? tc->peer : "?");
		return 0;
	}
	if (!tls_still_let_in(srv, c, tc))
		return 0;
	tc->requests++;
	return 1;
}

int
http_suspend(struct http_req *r, enum MHD_Result (*cont)(struct http_req *,
    void *), void *arg)
{
	struct http_ctx	*ctx = (struct http_ctx *)(void *)r;

	/* Counted first: http_stop() sets stopping, then waits for 0. */
	atomic_fetch_add(&ctx->srv->suspended, 1);
	if (atomic_load(&ctx->srv->stopping)) {
		atomic_fetch_sub(&ctx->srv->suspended, 1);
		return -1;
	}
	ctx->cont = cont;
	ctx->cont_arg = arg;
	MHD_suspend_connection(r->conn);
	return 0;
}

void
http_resume(struct http_req *r)
{
	MHD_resume_connection(r->conn);
}

/* Back from http_suspend(): the handler's second half answers. */
static enum MHD_Result
resumed(struct http_server *srv, struct http_ctx *ctx)
{
	enum MHD_Result	(*cont)(struct http_req *, void *) = ctx->cont;

	ctx->cont = NULL;
	atomic_fetch_sub(&srv->suspended, 1);
	return cont(&ctx->req, ctx->cont_arg);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server	*srv = cls;
	struct http_ctx		*ctx = *con_cls;

	(void)version;
	if (ctx == NULL) {
		/* No verified client certificate: close, answer nothing. */
		if (srv->tls && !tls_request_ok(srv, c))
			return MHD_NO;
		if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &ctx->start);
		metrics_in_flight(srv->mbase, 1);
		atomic_fetch_add(&srv->inflight, 1);
		ctx->srv = srv;
		ctx->req.conn = c;
		ctx->req.b = srv->b;
		ctx->req.method = method;
		ctx->req.path = url;
		*con_cls = ctx;
		return begin(srv, ctx);
	}
	if (ctx->cont != NULL)
		return resumed(srv, ctx);
	if (ctx->req.status != 0) {
		/* Answered already (an early refusal): drain. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (body_append(ctx, upload_data, *upload_data_size) == -1)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return finish(srv, ctx);
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server	*srv = cls;
	struct http_ctx		*ctx = *con_cls;
	struct timespec		 now;
	char			 status[8], ms[32];
	double			 d;

	(void)c;
	if (ctx == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	d = (double)(now.tv_sec - ctx->start.tv_sec) * 1e3 +
	    (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e6;
	snprintf(status, sizeof(status), "%u", ctx->req.status);
	snprintf(ms, sizeof(ms), "%.3f", d);
	metrics_request(srv->mbase, ctx->route != NULL ?
	    (size_t)(ctx->route - srv->routes) : srv->nroutes,
	    ctx->req.status, d > 0 ? (uint64_t)(d * 1e6) : 0);
	metrics_in_flight(srv->mbase, -1);
	atomic_fetch_sub(&srv->inflight, 1);
	log_kv(LOGL_INFO, "request", "server", srv->name, "method",
	    ctx->req.method, "route", ctx->req.route ? ctx->req.route : "-",
	    "status", status, "ms", ms, "request_id", ctx->req.request_id,
	    "conn", ctx->req.connection ? ctx->req.connection : "-",
	    "end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" :
	    "aborted", NULL);
	ctx_free(ctx);
	*con_cls = NULL;
}

static void http_mhdlog(void *, const char *, va_list)
    __attribute__((__format__(__printf__, 2, 0)));

/*
 * Messages that say nothing is wrong, or nothing we have not said better.
 * On the unix-domain sockets libmicrohttpd tries TCP options and fails,
 * three messages for every response (it never learns).
 * Every failed TLS handshake gets the same message, whatever failed and
 * with no client named: tls_verify() and tls_closed() say which and who.
 */
static int
mhd_noise(const char *msg)
{
	static const char *const noise[] = {
		"Setting TCP_NODELAY option to ON state failed",
		"Setting TCP_CORK option to OFF state failed",
		"Failed to push the data from buffers to the network",
		"Error: received handshake message out of context",
	};
	size_t	 i;

	for (i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (strncmp(msg, noise[i], strlen(noise[i])) == 0)
			return 1;
	return 0;
}

static void
http_mhdlog(void *cls, const char *fmt, va_list ap)
{
	char	 msg[512];
	size_t	 n;

	(void)cls;
	/*
	 * The noise starts with its format's text, and comes with every
	 * response on a unix socket: not even formatted unless it is shown.
	 */
	if (log_getverbose() == 0 && mhd_noise(fmt))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (mhd_noise(msg))
		log_debug("httpd: %s", msg);
	else
		log_warnx("httpd: %s", msg);
}

/*
 * A worker: one thread, no listening socket, connections from us.  The
 * TLS options (an empty list for a plain server) come last, after
 * MHD_USE_TLS has been seen, which they need.
 */
static struct MHD_Daemon *
worker_start(struct http_server *srv, unsigned int limit)
{
	/* TURBO: read and write before polling; the sockets do not block. */
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG | (srv->tls ? MHD_USE_TLS : 0),
	    0, NULL, NULL, http_access, srv,
	    /* First, so that every message of MHD's comes to us. */
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhdlog, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, http_notify, srv,
	    MHD_OPTION_ARRAY, srv->tlsopt,
	    MHD_OPTION_END);
}

/* Accept a waiting connection and give it to the next worker. */
static void
accept_one(struct http_server *srv)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd, one = 1;

	if ((fd = accept4(srv->listenfd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
			break;
		default:
			/* Out of descriptors, say: do not spin on it. */
			log_warn("%s: accept", srv->name);
			(void)poll(NULL, 0, 100);
			break;
		}
		return;
	}
	/*
	 * An answer of the TLS server is several records; with Nagle the
	 * last waits for the gateway's delayed ACK (tens of ms).
	 */
	if (ss.ss_family != AF_UNIX && setsockopt(fd, IPPROTO_TCP,
	    TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("%s: TCP_NODELAY: %s", srv->name, strerror(errno));
	/* libmicrohttpd closes it if it cannot take it. */
	if (MHD_add_connection(srv->w[srv->next], fd, (struct sockaddr *)&ss,
	    len) != MHD_YES)
		log_warn("%s: a connection could not be added", srv->name);
	srv->next = (srv->next + 1) % srv->nw;
}

static void *
acceptor(void *arg)
{
	struct http_server	*srv = arg;
	struct pollfd		 pfd[2];

	pfd[0].fd = srv->listenfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = srv->stop[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: poll", srv->name);
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[0].revents & (POLLERR | POLLNVAL)) {
			log_warnx("%s: the listening socket failed", srv->name);
			break;
		}
		if (pfd[0].revents & POLLIN)
			accept_one(srv);
	}
	return NULL;
}

static void
tls_options(struct http_server *srv, const struct http_tls *tls)
{
	const struct {
		enum MHD_OPTION	 opt;
		const char	*s;
	} o[HTTP_TLS_OPTS - 1] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, tls->cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, tls->key },
		{ MHD_OPTION_HTTPS_MEM_TRUST, tls->ca },
		{ MHD_OPTION_HTTPS_PRIORITIES, HTTP_TLS_PRIORITIES },
	};
	size_t	 i;

	srv->tls = 1;
	for (i = 0; i < HTTP_TLS_OPTS - 1; i++) {
		srv->tlsopt[i].option = o[i].opt;
		srv->tlsopt[i].value = 0;
		srv->tlsopt[i].ptr_value = (void *)(uintptr_t)o[i].s;
	}
	srv->tlsopt[i].option = MHD_OPTION_END;
}

static struct http_server *
server_start(const char *name, int listenfd, const struct http_route *routes,
    size_t nroutes, struct broker *b, unsigned int nthreads,
    const struct http_tls *tls)
{
	struct http_server	*srv;
	unsigned int		 i, limit;
	int			 fl;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warn("%s", __func__);
		(void)close(listenfd);
		return NULL;
	}
	srv->name = name;
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->b = b;
	srv->listenfd = listenfd;
	srv->stop[0] = srv->stop[1] = -1;
	srv->tlsopt[0].option = MHD_OPTION_END;
	if (tls != NULL)
		tls_options(srv, tls);
	if (tls != NULL && tls->crl != NULL && (srv->crls = crlset_new(name,
	    tls->crl_path, tls->crl, tls->ca)) == NULL)
		goto fail;
	srv->mbase = metrics_routes(name, routes, nroutes);
	srv->nw = nthreads == 0 ? 1 : nthreads > HTTP_WORKERS_MAX ?
	    HTTP_WORKERS_MAX : nthreads;
	limit = (HTTP_CONN_LIMIT + srv->nw - 1) / srv->nw;
	for (i = 0; i < srv->nw; i++)
		if ((srv->w[i] = worker_start(srv, limit)) == NULL) {
			log_warnx("cannot start the %s HTTP server", name);
			goto fail;
		}
	/* The PEM text is the caller's again, to wipe. */
	memset(srv->tlsopt, 0, sizeof(srv->tlsopt));
	srv->tlsopt[0].option = MHD_OPTION_END;
	if ((fl = fcntl(listenfd, F_GETFL)) == -1 ||
	    fcntl(listenfd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    pipe2(srv->stop, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("%s", __func__);
		goto fail;
	}
	if ((errno = pthread_create(&srv->acceptor, NULL, acceptor, srv)) !=
	    0) {
		log_warn("%s: pthread_create", __func__);
		goto fail;
	}
	srv->accepting = 1;
	return srv;
 fail:
	http_stop(srv);
	return NULL;
}

struct http_server *
http_start(const char *name, int listenfd, const struct http_route *routes,
    size_t nroutes, struct broker *b, unsigned int nthreads)
{
	return server_start(name, listenfd, routes, nroutes, b, nthreads,
	    NULL);
}

struct http_server *
http_start_tls(const char *name, int listenfd,
    const struct http_route *routes, size_t nroutes, struct broker *b,
    unsigned int nthreads, const struct http_tls *tls)
{
	if (tls == NULL || tls->cert == NULL || tls->key == NULL ||
	    tls->ca == NULL) {
		errno = EINVAL;
		(void)close(listenfd);
		return NULL;
	}
	return server_start(name, listenfd, routes, nroutes, b, nthreads,
	    tls);
}

/* The acceptor ends; the listening socket stays (http_stop closes it). */
static void
stop_accepting(struct http_server *srv)
{
	ssize_t	 n;

	if (!srv->accepting)
		return;
	n = write(srv->stop[1], "x", 1);
	(void)n;
	pthread_join(srv->acceptor, NULL);
	srv->accepting = 0;
}

void
http_drain(struct http_server *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&draining, 1);
	stop_accepting(srv);
	/* Refused from now on, rather than left in the backlog. */
	if (srv->listenfd != -1) {
		close(srv->listenfd);
		srv->listenfd = -1;
	}
}

unsigned int
http_inflight(const struct http_server *srv)
{
	return srv != NULL ? atomic_load(&srv->inflight) : 0;
}

void
http_stop(struct http_server *srv)
{
	unsigned int	 i;

	if (srv == NULL)
		return;
	stop_accepting(srv);
	/*
	 * libmicrohttpd must not stop with a connection suspended.  The
	 * connections it still has may make requests until it stops, so
	 * no new one is suspended from now on (they take the slow way);
	 * each one suspended waits for the keyholder, which answers or fails
	 * within its timeout (the channel's reader runs until
	 * kh_client_free()).
	 */
	atomic_store(&srv->stopping, 1);
	for (i = 0; atomic_load(&srv->suspended) > 0 &&
	    i < HTTP_STOP_WAIT_MS; i++)
		usleep(1000);
	if (atomic_load(&srv->suspended) > 0)
		log_warnx("%s: %u requests still wait for the keyholder",
		    srv->name, atomic_load(&srv->suspended));
	for (i = 0; i < srv->nw; i++)
		if (srv->w[i] != NULL)
			MHD_stop_daemon(srv->w[i]);
	if (srv->stop[0] != -1) {
		close(srv->stop[0]);
		close(srv->stop[1]);
	}
	/* Ours now, as it was libmicrohttpd's to close before. */
	if (srv->listenfd != -1)
		close(srv->listenfd);
	crlset_free(srv->crls);
	free(srv);
}
