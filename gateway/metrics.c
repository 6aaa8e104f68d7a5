/*
 * Counters, histograms and their exposition (gateway/metrics.h).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/histogram.h"
#include "gateway/metrics.h"
#include "gateway/route.h"

#define ROUTES_MAX	64		/* rows of gw_routes, plus unmatched */
#define STATUS_MIN	100u
#define STATUS_N	500u		/* 100 to 599 */

static atomic_uint_fast64_t	 requests[ROUTES_MAX][STATUS_N];
static struct histogram		 durations[ROUTES_MAX];
static struct histogram		 upstream_hist;
static atomic_uint_fast64_t	 upstream_errors[UP_NERRORS];
static atomic_uint_fast64_t	 limited[3];
static atomic_int_fast64_t	 in_flight;

static const char *const limit_names[] = { "client", "connection",
    "refresh" };

_Static_assert(sizeof(limit_names) / sizeof(limit_names[0]) == 3,
    "one name per enum gw_limit");

static size_t
route_slot(size_t route)
{
	if (route > gw_nroutes || gw_nroutes + 1 > ROUTES_MAX)
		return ROUTES_MAX - 1;
	return route;
}

void
metrics_request(size_t route, unsigned int status, uint64_t ns)
{
	size_t	 r = route_slot(route);

	if (status >= STATUS_MIN && status < STATUS_MIN + STATUS_N)
		atomic_fetch_add_explicit(&requests[r][status - STATUS_MIN], 1,
		    memory_order_relaxed);
	histogram_observe(&durations[r], ns);
}

void
metrics_upstream(uint64_t ns)
{
	histogram_observe(&upstream_hist, ns);
}

void
metrics_upstream_error(enum up_error e)
{
	if ((unsigned int)e < UP_NERRORS)
		atomic_fetch_add_explicit(&upstream_errors[e], 1,
		    memory_order_relaxed);
}

void
metrics_ratelimited(enum gw_limit l)
{
	if ((unsigned int)l < 3)
		atomic_fetch_add_explicit(&limited[l], 1,
		    memory_order_relaxed);
}

void
metrics_in_flight(int delta)
{
	atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

static uint64_t
get(atomic_uint_fast64_t *v)
{
	return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

static void
route_labels(size_t r, const char **route, const char **method)
{
	if (r < gw_nroutes) {
		*route = gw_routes[r].pattern;
		*method = gw_routes[r].method;
	} else {
		*route = "unmatched";
		*method = "any";
	}
}

static void
render_requests(FILE *fp)
{
	const char	*route, *method;
	char		 labels[256];
	uint64_t	 n;
	size_t		 r, s, nslots = gw_nroutes + 1;

	if (nslots > ROUTES_MAX)
		nslots = ROUTES_MAX;
	fputs("# HELP dromos_gateway_requests_total Requests answered, by "
	    "route, method and status code.\n"
	    "# TYPE dromos_gateway_requests_total counter\n", fp);
	for (r = 0; r < nslots; r++) {
		route_labels(r, &route, &method);
		for (s = 0; s < STATUS_N; s++)
			if ((n = get(&requests[r][s])) != 0)
				fprintf(fp, "dromos_gateway_requests_total{"
				    "route=\"%s\",method=\"%s\",code=\"%zu\"} "
				    "%llu\n", route, method, s + STATUS_MIN,
				    (unsigned long long)n);
	}
	fputs("# HELP dromos_gateway_request_duration_seconds Time from the "
	    "request's headers to its answer, by route.\n"
	    "# TYPE dromos_gateway_request_duration_seconds histogram\n", fp);
	for (r = 0; r < nslots; r++) {
		if (histogram_count(&durations[r]) == 0)
			continue;
		route_labels(r, &route, &method);
		snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"",
		    route, method);
		histogram_render(fp, "dromos_gateway_request_duration_seconds",
		    labels, &durations[r]);
	}
}

static void
render_rest(FILE *fp)
{
	size_t	 i;

	fputs("# HELP dromos_gateway_upstream_duration_seconds Time of one "
	    "exchange with the broker.\n"
	    "# TYPE dromos_gateway_upstream_duration_seconds histogram\n", fp);
	histogram_render(fp, "dromos_gateway_upstream_duration_seconds", "",
	    &upstream_hist);
	fputs("# HELP dromos_gateway_upstream_errors_total Exchanges with the "
	    "broker that failed, by kind.\n"
	    "# TYPE dromos_gateway_upstream_errors_total counter\n", fp);
	for (i = 1; i < UP_NERRORS; i++)
		fprintf(fp, "dromos_gateway_upstream_errors_total{kind=\"%s\"} "
		    "%llu\n", up_errname((enum up_error)i),
		    (unsigned long long)get(&upstream_errors[i]));
	fputs("# HELP dromos_gateway_ratelimited_total Requests refused by a "
	    "rate limit, by limit.\n"
	    "# TYPE dromos_gateway_ratelimited_total counter\n", fp);
	for (i = 0; i < 3; i++)
		fprintf(fp, "dromos_gateway_ratelimited_total{limit=\"%s\"} "
		    "%llu\n", limit_names[i],
		    (unsigned long long)get(&limited[i]));
	fprintf(fp, "# HELP dromos_gateway_requests_in_flight Requests being "
	    "handled now.\n"
	    "# TYPE dromos_gateway_requests_in_flight gauge\n"
	    "dromos_gateway_requests_in_flight %lld\n",
	    (long long)atomic_load_explicit(&in_flight, memory_order_relaxed));
}

char *
metrics_render(void *arg, size_t *lenp)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	(void)arg;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	render_requests(fp);
	render_rest(fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}

/* The listener. */
