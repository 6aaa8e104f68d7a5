/*
 * http.c: routes of the internal HTTP server, and its errors as RFC 9457
 * problem documents.
 *
 * Request handlers run on libmicrohttpd's threads and may block on the
 * keyholder (bounded by its timeout).  Nothing a client sends is echoed
 * into a response, and no response carries key material: the health probe
 * is random bytes that are wiped after the check.
 */
#include <sys/types.h>
#include <sys/random.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "unpriv/http.h"
#include "unpriv/khclient.h"

/* Stable problem type URIs: the suffix names the problem. */
#define PROBLEM_BASE	"tag:dromos,2025:problem:"

#define HTTP_CONN_LIMIT		1024u
#define HTTP_CONN_TIMEOUT	30u		/* seconds idle */
#define HTTP_CONN_MEMORY	((size_t)32 * 1024)

#define PROBE_LEN	32

struct http_server {
	struct MHD_Daemon	*mhd;
	struct khclient		*kh;
};

struct route {
	const char	*path;
	const char	*method;	/* GET routes also answer HEAD */
	enum MHD_Result	(*handler)(struct http_server *,
			    struct MHD_Connection *);
};

static enum MHD_Result	route_health(struct http_server *,
			    struct MHD_Connection *);

static const struct route routes[] = {
	{ "/health",	MHD_HTTP_METHOD_GET,	route_health },
};

/* Queue body (copied) with our usual headers. */
static enum MHD_Result
respond(struct MHD_Connection *c, unsigned int status, const char *ctype,
    const char *body, const char *allow)
{
	struct MHD_Response	*r;
	enum MHD_Result		 rv;

	r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") == MHD_NO ||
	    MHD_add_response_header(r, "X-Content-Type-Options",
	    "nosniff") == MHD_NO ||
	    (allow != NULL && MHD_add_response_header(r,
	    MHD_HTTP_HEADER_ALLOW, allow) == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rv = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rv;
}

static enum MHD_Result
respond_json(struct MHD_Connection *c, unsigned int status,
    const char *ctype, json_t *doc, const char *allow)
{
	char		*body;
	enum MHD_Result	 rv;

	if (doc == NULL)
		return MHD_NO;
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (body == NULL)
		return MHD_NO;
	rv = respond(c, status, ctype, body, allow);
	free(body);
	return rv;
}

/* An RFC 9457 problem document; type, title and detail are ours. */
static enum MHD_Result
problem(struct MHD_Connection *c, unsigned int status, const char *type,
    const char *title, const char *detail, const char *allow)
{
	char	 uri[128];

	snprintf(uri, sizeof(uri), "%s%s", PROBLEM_BASE, type);
	return respond_json(c, status, "application/problem+json",
	    json_pack("{s:s, s:s, s:i, s:s}", "type", uri, "title", title,
	    "status", (int)status, "detail", detail), allow);
}

static enum MHD_Result
unavailable(struct MHD_Connection *c, const char *detail)
{
	return problem(c, MHD_HTTP_SERVICE_UNAVAILABLE,
	    "keyholder-unavailable", "Keyholder unavailable", detail, NULL);
}

/*
 * GET /health: seal random bytes and open them again, so a 200 means the
 * keyholder is up, holds a keyring, and both directions of the channel
 * carry the right bytes.
 */
static enum MHD_Result
route_health(struct http_server *srv, struct MHD_Connection *c)
{
	static const struct kh_ad ad = {
		.purpose = "health", .table = "health", .row = "probe",
		.column = "value",
	};
	unsigned char	 probe[PROBE_LEN], opened[PROBE_LEN];
	unsigned char	 sealed[PROBE_LEN + KH_SEAL_OVERHEAD];
	size_t		 sealedlen, openedlen = 0;
	int		 rv, err, same = 0;

	if (getrandom(probe, sizeof(probe), 0) != (ssize_t)sizeof(probe)) {
		log_warn("health: getrandom");
		return problem(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "Internal error", "no random bytes for the probe", NULL);
	}
	rv = kh_seal(srv->kh, &ad, probe, sizeof(probe), sealed,
	    sizeof(sealed), &sealedlen, NULL);
	if (rv == 0)
		rv = kh_open(srv->kh, &ad, sealed, sealedlen, opened,
		    sizeof(opened), &openedlen);
	err = errno;
	if (rv == 0)
		same = openedlen == sizeof(probe) &&
		    CRYPTO_memcmp(probe, opened, sizeof(probe)) == 0;
	explicit_bzero(probe, sizeof(probe));
	explicit_bzero(opened, sizeof(opened));
	explicit_bzero(sealed, sizeof(sealed));

	if (rv == -1)
		log_warnx("health: %s: %s", kh_strerror(rv), strerror(err));
	else if (rv != 0)
		log_warnx("health: %s", kh_strerror(rv));
	if (rv != 0) {
		return unavailable(c, rv == -1 ?
		    "the keyholder did not answer" :
		    "the keyholder refused the health probe");
	}
	if (!same) {
		log_warnx("health: the probe did not open to itself");
		return unavailable(c, "the health probe did not round-trip");
	}
	return respond_json(c, MHD_HTTP_OK, "application/json",
	    json_pack("{s:s, s:s}", "status", "ok", "keyholder", "ok"), NULL);
}

static int
method_matches(const char *want, const char *method)
{
	if (strcmp(want, method) == 0)
		return 1;
	return strcmp(want, MHD_HTTP_METHOD_GET) == 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* Append ", name" (or just name) to an Allow list. */
static void
allow_add(char *allow, size_t sz, const char *name)
{
	size_t	 n = strlen(allow);

	snprintf(allow + n, sz - n, "%s%s", n > 0 ? ", " : "", name);
}

static enum MHD_Result
dispatch(struct http_server *srv, struct MHD_Connection *c, const char *url,
    const char *method)
{
	char	 allow[64];
	size_t	 i;

	if (kh_client_dead(srv->kh))
		return unavailable(c, "the keyholder is gone; restarting");
	allow[0] = '\0';
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, url) != 0)
			continue;
		if (method_matches(routes[i].method, method))
			return routes[i].handler(srv, c);
		allow_add(allow, sizeof(allow), routes[i].method);
		if (strcmp(routes[i].method, MHD_HTTP_METHOD_GET) == 0)
			allow_add(allow, sizeof(allow), MHD_HTTP_METHOD_HEAD);
	}
	if (allow[0] != '\0')
		return problem(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method-not-allowed", "Method not allowed",
		    "this resource does not support that method", allow);
	return problem(c, MHD_HTTP_NOT_FOUND, "not-found", "Not found",
	    "no such resource", NULL);
}

/*
 * libmicrohttpd calls this once when the headers are in, then again for
 * each piece of a body.  Every route answers from the headers alone, so the
 * first call queues the response and the body, if any, is discarded.
 */
static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server	*srv = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	if (*con_cls != NULL)
		return MHD_YES;
	*con_cls = srv;
	log_debug("%s %s", method, url);
	return dispatch(srv, c, url, method);
}

static void http_mhdlog(void *, const char *, va_list)
    __attribute__((__format__(__printf__, 2, 0)));

static void
http_mhdlog(void *cls, const char *fmt, va_list ap)
{
	char	 msg[512];
	size_t	 n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warnx("httpd: %s", msg);
}

struct http_server *
http_start(int listenfd, struct khclient *kh, unsigned int nthreads)
{
	struct http_server	*srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warn("%s", __func__);
		return NULL;
	}
	srv->kh = kh;
	if (nthreads == 0)
		nthreads = 1;
	srv->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    http_access, srv,
	    /* First, so that every message of MHD's comes to us. */
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhdlog, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listenfd,
	    MHD_OPTION_THREAD_POOL_SIZE, nthreads,
	    MHD_OPTION_CONNECTION_LIMIT, HTTP_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
	    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		log_warnx("cannot start the HTTP server");
		free(srv);
		return NULL;
	}
	return srv;
}

void
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	MHD_stop_daemon(srv->mhd);
	free(srv);
}
