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
#include "unpriv/listen.h"
#include "unpriv/metrics.h"
#include "unpriv/scrape.h"

#define METRICS_BACKLOG	16

int
metrics_listen(const char *addr)
{
	if (addr_parse_local(addr, NULL, NULL) != ADDR_LOOPBACK) {
		log_warnx("metrics listen %s: not a numeric loopback address",
		    addr);
		return -1;
	}
	return listen_tcp(addr, METRICS_BACKLOG);
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
