/*
 * The broker's metrics listener: plain HTTP on a loopback TCP address
 * (dromos.conf "metrics listen"), GET or HEAD /metrics only.  Each scrape
 * fetches the keyholder's counters (one KH_METRICS round trip) and answers
 * metrics_render()'s text; any other path is 404, any other method 405.
 */
#ifndef DROMOS_UNPRIV_SCRAPE_H
#define DROMOS_UNPRIV_SCRAPE_H

struct khclient;
struct mxserve;

/*
 * A listening socket on addr, which must be a numeric loopback address
 * (common/addr.h); -1 (logged) otherwise or when it cannot be bound.
 * Before the sandbox.
 */
int			 metrics_listen(const char *addr);
/*
 * Serve on listenfd (common/mxserve.h), which is closed when stopped with
 * mxserve_stop(); NULL on failure (the descriptor is then the caller's).
 */
struct mxserve		*metrics_start(int listenfd, struct khclient *);

#endif /* DROMOS_UNPRIV_SCRAPE_H */
