/*
 * The gateway's Prometheus metrics (text format 0.0.4) and the plain-HTTP
 * listener that serves them at GET /metrics.
 *
 *	dromos_gateway_requests_total{route,method,code}	counter
 *	dromos_gateway_request_duration_seconds{route,method}	histogram
 *	dromos_gateway_upstream_duration_seconds		histogram
 *	dromos_gateway_upstream_errors_total{kind}		counter
 *	dromos_gateway_ratelimited_total{limit}			counter
 *	dromos_gateway_requests_in_flight			gauge
 *
 * Routes are the rows of gw_routes (the pattern, never a raw path), plus
 * route="unmatched" for requests refused before one was found.  Every
 * counter is a relaxed atomic: recording costs no lock.
 */
#ifndef DROMOS_GATEWAY_METRICS_H
#define DROMOS_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/upstream.h"

enum gw_limit {
	GW_LIMIT_CLIENT,
	GW_LIMIT_CONNECTION,
	GW_LIMIT_REFRESH,
};

/* route: an index of gw_routes, or gw_nroutes for unmatched. */
void	 metrics_request(size_t route, unsigned int status, uint64_t ns);
void	 metrics_upstream(uint64_t ns);
void	 metrics_upstream_error(enum up_error);
void	 metrics_ratelimited(enum gw_limit);
void	 metrics_in_flight(int delta);

/*
 * The exposition text, malloc'd; NULL when out of memory.  arg is unused:
 * the signature is common/mxserve.h's, which serves it.
 */
char	*metrics_render(void *arg, size_t *len);

#endif /* DROMOS_GATEWAY_METRICS_H */
