/*
 * The plain-HTTP listener of a daemon's Prometheus metrics, on a socket
 * the daemon has bound (loopback only; the caller checks).
 *
 * GET or HEAD /metrics is answered with render()'s text (malloc'd, freed
 * here; NULL gives a 500); any other path is 404, any other method 405.
 * A libmicrohttpd daemon of its own with one thread and a few
 * connections: a scrape never holds up a daemon's other work, and a slow
 * or idle client holds one of these connections for a few seconds at
 * most: an idle one for MXSERVE_CONN_TIMEOUT, and one that sends its
 * request head a byte now and then (never idle) until a reaper thread
 * shuts it down, MXSERVE_HEAD_MAX after it began to wait for that head.
 * A request is answered as soon as its head is in; a body, which nothing
 * here takes, is never read.
 */
#ifndef DROMOS_COMMON_MXSERVE_H
#define DROMOS_COMMON_MXSERVE_H

#include <stddef.h>

#define MXSERVE_CONN_LIMIT	8u		/* scrapers at once */
#define MXSERVE_CONN_TIMEOUT	5u		/* seconds idle */
#define MXSERVE_HEAD_MAX	5u		/* seconds for a request head */
#define MXSERVE_CONN_MEMORY	((size_t)8192)	/* a GET's head */

typedef char	*(*mxserve_render)(void *arg, size_t *len);

struct mxserve;

/* NULL (logged) if the listener cannot start; listenfd is ours then. */
struct mxserve	*mxserve_start(int listenfd, mxserve_render, void *arg);
void		 mxserve_stop(struct mxserve *);

#endif /* DROMOS_COMMON_MXSERVE_H */
