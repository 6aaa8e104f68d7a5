/*
 * scrape.c: the plain-HTTP listener of the broker's metrics
 * (unpriv/scrape.h).
 *
 * The server is common/mxserve.c's, with a thread of its own: a scrape,
 * which waits for one keyholder round trip, never holds up the API's
 * workers.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/mxserve.h"
#include "unpriv/khclient.h"
#include "unpriv/metrics.h"
#include "unpriv/scrape.h"

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

/*
 * The text of a scrape: one keyholder round trip for its counters, then
 * ours (dromos_keyholder_up 0 when the round trip fails).
 */
static char *
render(void *arg, size_t *len)
{
	struct khclient	*kh = arg;
	uint64_t	 v[KH_M_COUNT];
	int		 rv;

	if ((rv = kh_metrics(kh, v)) != 0)
		log_debug("metrics: no keyholder counters: %s",
		    kh_strerror(rv));
	return metrics_render(rv == 0 ? v : NULL, len);
}

struct mxserve *
metrics_start(int listenfd, struct khclient *kh)
{
	return mxserve_start(listenfd, render, kh);
}
