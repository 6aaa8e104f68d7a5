/*
 * scrape.c: the plain-HTTP listener of the broker's metrics
 * (unpriv/scrape.h).
 *
 * A libmicrohttpd daemon of its own with one thread: a scrape, which waits
 * for one keyholder round trip, never holds up the API's workers; a slow
 * or idle client holds one of a few connections of this daemon, for a few
 * seconds at most, and nothing of the API's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/addr.h"
#include "common/log.h"
#include "unpriv/khclient.h"
#include "unpriv/metrics.h"
#include "unpriv/scrape.h"

#define MX_CONN_LIMIT	8u		/* scrapers at once */
#define MX_CONN_TIMEOUT	5u		/* seconds idle */
#define MX_CONN_MEMORY	((size_t)8192)	/* a GET's head, no body */

struct metrics_server {
	struct MHD_Daemon	*mhd;
	struct khclient		*kh;
};

int
metrics_listen(const char *addr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	if (addr_parse_local(addr, &ss, &len) != ADDR_LOOPBACK) {
		log_warnx("metrics listen %s: not a numeric loopback address",
		    addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("metrics: socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 16) == -1) {
		log_warn("metrics listen %s", addr);
		close(fd);
		return -1;
	}
	return fd;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, char *body, size_t len,
    int owned)
{
	struct MHD_Response	*r;
	enum MHD_Result		 rv;

	r = MHD_create_response_from_buffer(len, body, owned ?
	    MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    status == MHD_HTTP_OK ? "text/plain; version=0.0.4; "
	    "charset=utf-8" : "text/plain") == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") == MHD_NO ||
	    MHD_add_response_header(r, "X-Content-Type-Options",
	    "nosniff") == MHD_NO ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED && MHD_add_response_header(r,
	    MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rv = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rv;
}

/* One round trip for the keyholder's counters, then the text. */
static enum MHD_Result
scrape(struct metrics_server *m, struct MHD_Connection *c)
{
	static char	 oom[] = "out of memory\n";
	uint64_t	 kh[KH_M_COUNT];
	char		*text;
	size_t		 len;
	int		 rv;

	if ((rv = kh_metrics(m->kh, kh)) != 0)
		log_debug("metrics: no keyholder counters: %s",
		    kh_strerror(rv));
	if ((text = metrics_render(rv == 0 ? kh : NULL, &len)) == NULL)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, oom,
		    strlen(oom), 0);
	return reply(c, MHD_HTTP_OK, text, len, 1);
}

static enum MHD_Result
metrics_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	static char	 notfound[] = "not found\n";
	static char	 notallowed[] = "method not allowed\n";

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	/*
	 * Answered as soon as the headers are in: a body, which nothing here
	 * takes, is never read (libmicrohttpd closes the connection instead).
	 */
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, notfound,
		    strlen(notfound), 0);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, notallowed,
		    strlen(notallowed), 0);
	return scrape(cls, c);
}

struct metrics_server *
metrics_start(int listenfd, struct khclient *kh)
{
	struct metrics_server	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->kh = kh;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL, 0, NULL, NULL, metrics_access, m,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listenfd,
	    MHD_OPTION_CONNECTION_LIMIT, MX_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, MX_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, MX_CONN_MEMORY,
	    MHD_OPTION_END);
	if (m->mhd == NULL) {
		log_warnx("cannot start the metrics listener");
		free(m);
		return NULL;
	}
	return m;
}

void
metrics_stop(struct metrics_server *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);	/* closes the listening socket */
	free(m);
}
