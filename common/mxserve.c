/*
 * mxserve.c: the metrics listener every daemon shares (common/mxserve.h).
 *
 * The reaper.  libmicrohttpd's timeout closes a connection that sends
 * nothing, not one that sends a byte of its request head now and then; a
 * few of those would hold every connection of the listener for good.  So
 * each connection is tracked from the moment it waits for a head, and a
 * thread shuts down those still waiting after MXSERVE_HEAD_MAX.  The
 * list's mutex is held by the reaper while it calls shutdown(2) and by
 * the close notification, which libmicrohttpd makes before it closes the
 * descriptor: a descriptor number is never shut down after its reuse.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/mxserve.h"

#define CTYPE_METRICS	"text/plain; version=0.0.4; charset=utf-8"

#define REAP_EVERY_MS	500

/* A connection, from its start to its close. */
struct mxconn {
	struct mxconn	*next;
	struct mxconn	*prev;
	int		 fd;
	int		 waiting;	/* for a request head... */
	time_t		 since;		/* ...since then (monotonic) */
};

struct mxserve {
	struct MHD_Daemon	*mhd;
	mxserve_render		 render;
	void			*arg;
	pthread_mutex_t		 mtx;
	struct mxconn		*conns;
	pthread_t		 reaper;
	int			 stop[2];	/* a pipe: the reaper ends */
};

static time_t
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The connection's record, NULL if it has none. */
static struct mxconn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* It waits for a request head from now on (1), or has one (0). */
static void
conn_waiting(struct mxserve *m, struct MHD_Connection *c, int waiting)
{
	struct mxconn	*mc;

	if ((mc = conn_of(c)) == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	mc->waiting = waiting;
	mc->since = now_s();
	pthread_mutex_unlock(&m->mtx);
}

static void
notify_cb(void *cls, struct MHD_Connection *c, void **sctx,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo	*ci;
	struct mxserve			*m = cls;
	struct mxconn			*mc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		/* Untracked, it still has libmicrohttpd's idle timeout. */
		if (ci == NULL || (mc = calloc(1, sizeof(*mc))) == NULL)
			return;
		mc->fd = ci->connect_fd;
		mc->waiting = 1;
		mc->since = now_s();
		pthread_mutex_lock(&m->mtx);
		if ((mc->next = m->conns) != NULL)
			mc->next->prev = mc;
		m->conns = mc;
		pthread_mutex_unlock(&m->mtx);
		*sctx = mc;
		return;
	}
	if ((mc = *sctx) == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	if (mc->prev != NULL)
		mc->prev->next = mc->next;
	else
		m->conns = mc->next;
	if (mc->next != NULL)
		mc->next->prev = mc->prev;
	pthread_mutex_unlock(&m->mtx);
	free(mc);
	*sctx = NULL;
}

/* A request ended: a kept-alive connection waits for the next head. */
static void
completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)con_cls;
	(void)toe;
	conn_waiting(cls, c, 1);
}

static void *
reaper(void *arg)
{
	struct mxserve	*m = arg;
	struct mxconn	*mc;
	struct pollfd	 pfd;
	time_t		 now;

	pfd.fd = m->stop[0];
	pfd.events = POLLIN;
	while (poll(&pfd, 1, REAP_EVERY_MS) != 1) {
		now = now_s();
		pthread_mutex_lock(&m->mtx);
		for (mc = m->conns; mc != NULL; mc = mc->next)
			if (mc->waiting && now - mc->since >=
			    (time_t)MXSERVE_HEAD_MAX) {
				(void)shutdown(mc->fd, SHUT_RDWR);
				mc->waiting = 0;
			}
		pthread_mutex_unlock(&m->mtx);
	}
	return NULL;
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
	conn_waiting(m, c, 0);
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

static void
stop_reaper(struct mxserve *m)
{
	ssize_t	 n;

	n = write(m->stop[1], "x", 1);
	(void)n;
	pthread_join(m->reaper, NULL);
}

struct mxserve *
mxserve_start(int listenfd, mxserve_render render, void *arg)
{
	struct mxserve	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->render = render;
	m->arg = arg;
	if (pthread_mutex_init(&m->mtx, NULL) != 0) {
		free(m);
		return NULL;
	}
	if (pipe2(m->stop, O_CLOEXEC) == -1) {
		log_warn("metrics listener: pipe2");
		pthread_mutex_destroy(&m->mtx);
		free(m);
		return NULL;
	}
	/* It only ever sees the list, empty until connections come. */
	if ((errno = pthread_create(&m->reaper, NULL, reaper, m)) != 0) {
		log_warn("metrics listener: reaper thread");
		goto fail;
	}
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL, 0, NULL, NULL, access_cb, m,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)listenfd,
	    MHD_OPTION_CONNECTION_LIMIT, MXSERVE_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, MXSERVE_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, MXSERVE_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_cb, m,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, m,
	    MHD_OPTION_END);
	if (m->mhd == NULL) {
		log_warnx("cannot start the metrics listener");
		stop_reaper(m);
		goto fail;
	}
	return m;
fail:
	close(m->stop[0]);
	close(m->stop[1]);
	pthread_mutex_destroy(&m->mtx);
	free(m);
	return NULL;
}

void
mxserve_stop(struct mxserve *m)
{
	if (m == NULL)
		return;
	stop_reaper(m);
	MHD_stop_daemon(m->mhd);	/* closes the listening socket */
	close(m->stop[0]);
	close(m->stop[1]);
	pthread_mutex_destroy(&m->mtx);
	free(m);
}
