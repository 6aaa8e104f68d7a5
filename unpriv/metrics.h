/*
 * The broker's Prometheus metrics (text format 0.0.4), its own and the
 * keyholder's; scrape.h serves them.
 *
 *	dromos_broker_requests_total{server,route,method,code}	counter
 *	dromos_broker_request_duration_seconds{server,route,method} histogram
 *	dromos_broker_requests_in_flight{server}		gauge
 *	dromos_broker_db_connects_total{outcome}		counter
 *	dromos_broker_db_errors_total{kind}			counter
 *	dromos_broker_keyholder_requests_total{type}		counter
 *	dromos_broker_keyholder_errors_total{kind}		counter
 *	dromos_broker_keyholder_duration_seconds		histogram
 *	dromos_broker_oauth_refreshes_total{outcome}		counter
 *	dromos_broker_accesslog_rows_total{outcome}		counter
 *	dromos_broker_cache_lookups_total{cache,result}		counter
 *	dromos_broker_change_notifications_total		counter
 *	dromos_broker_change_channel_up				gauge
 *	dromos_keyholder_*	dromosd's counters (KH_METRICS, khproto.h),
 *				fetched once per scrape
 *
 * Routes are the rows of a server's route table (the pattern, never a
 * path: a connection id is never a label value), plus route="unmatched"
 * for requests no row took.  Every counter is a relaxed atomic: recording
 * costs no lock and never waits.
 */
#ifndef DROMOS_UNPRIV_METRICS_H
#define DROMOS_UNPRIV_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "priv/khproto.h"

struct http_route;

/*
 * A server's route table, once, before it serves (the same name and table
 * again give the same slots): the first slot of its rows, which are
 * followed by its unmatched slot; -1 when the fixed table is full, and
 * then nothing of that server is counted.
 */
int	 metrics_routes(const char *server, const struct http_route *,
	    size_t nroutes);
/* A request answered: route is a row index, or nroutes for unmatched. */
void	 metrics_request(int base, size_t route, unsigned int status,
	    uint64_t ns);
void	 metrics_in_flight(int base, int delta);

enum mx_db {
	MX_DB_CONNECTED,	/* a connection made (first, or again) */
	MX_DB_CONNECT_FAILED,	/* a connection attempt that failed */
	MX_DB_LOST,		/* a statement found the connection gone */
	MX_DB_TRANSIENT,	/* the server said later (timeout, deadlock) */
	MX_DB_SQL,		/* the server refused the statement */
	MX_DB_BUSY,		/* no free connection in time */
	MX_DB_N
};
void	 metrics_db(enum mx_db);

/* One keyholder reply: to a request of type, 0 or a KH_E_* code. */
void	 metrics_kh_reply(uint32_t type, int code);
/* The keyholder channel failed (once: it stays failed). */
void	 metrics_kh_failed(void);
/* One call (a transaction of one or more requests) took ns. */
void	 metrics_kh_call(uint64_t ns);

/* A refresh token call's result, an enum oauth_result. */
void	 metrics_refresh(int result);

enum mx_alog {
	MX_ALOG_WRITTEN,	/* rows the queue's writer stored */
	MX_ALOG_FAILED,		/* rows the database refused */
	MX_ALOG_DROPPED,	/* rows lost: the queue was full */
	MX_ALOG_PRUNED,		/* rows deleted: older than "access log keep" */
	MX_ALOG_N
};
void	 metrics_accesslog(enum mx_alog, uint64_t n);

enum mx_cache {
	MX_CACHE_PROVIDERS,
	MX_CACHE_CLIENTS,
	MX_CACHE_CONNECTIONS,
	MX_CACHE_N
};
/* A lookup in one of the read caches (cache.h): hit or miss. */
void	 metrics_cache(enum mx_cache, int hit);
/* An announcement from the database (notify.h); the channel up or down. */
void	 metrics_change(void);
void	 metrics_change_channel(int up);

/*
 * The exposition text, malloc'd (NULL when out of memory).  kh holds the
 * keyholder's counters in layout KH_METRICS_V2, or is NULL when they
 * could not be fetched (dromos_keyholder_up is then 0).
 */
char	*metrics_render(const uint64_t *kh, size_t *len);

#endif /* DROMOS_UNPRIV_METRICS_H */
