/*
 * mxserve.c: the metrics listener every daemon shares (common/mxserve.h).
 */
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/mxserve.h"

#define CTYPE_METRICS	"text/plain; version=0.0.4; charset=utf-8"

struct mxserve {
	struct MHD_Daemon	*mhd;
	mxserve_render		 render;
	void			*arg;
};

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
	    status == MHD_HTTP_OK ? CTYPE_METRICS : "text/plain") == MHD_NO ||
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

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	static char	 notfound[] = "not found\n";
	static char	 notallowed[] = "method not allowed\n";
	static char	 oom[] = "out of memory\n";
	struct mxserve	*m = cls;
	char		*text;
	size_t		 len;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, notfound,
		    strlen(notfound), 0);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, notallowed,
		    strlen(notallowed), 0);
	if ((text = m->render(m->arg, &len)) == NULL)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, oom,
		    strlen(oom), 0);
	return reply(c, MHD_HTTP_OK, text, len, 1);
}

struct mxserve *
mxserve_start(int listenfd, mxserve_render render, void *arg)
{
	struct mxserve	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->render = render;
	m->arg = arg;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL, 0, NULL, NULL, access_cb, m,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listenfd,
	    MHD_OPTION_CONNECTION_LIMIT, MXSERVE_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, MXSERVE_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, MXSERVE_CONN_MEMORY,
	    MHD_OPTION_END);
	if (m->mhd == NULL) {
		log_warnx("cannot start the metrics listener");
		free(m);
		return NULL;
	}
	return m;
}

void
mxserve_stop(struct mxserve *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);	/* closes the listening socket */
	free(m);
}
