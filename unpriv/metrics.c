/*
 * metrics.c: the broker's counters and their exposition (unpriv/metrics.h).
 * The listener that serves them is scrape.c.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "unpriv/http.h"
#include "common/histogram.h"
#include "unpriv/metrics.h"

#define SERVERS_MAX	4		/* api, admin, api-tls, and room */
#define SLOTS_MAX	64		/* route rows plus one unmatched each */
#define STATUS_MIN	100u
#define STATUS_N	500u		/* 100 to 599 */

/* A server's route table: its rows are slots base .. base + n. */
struct mx_table {
	const char		*server;
	const struct http_route	*routes;
	size_t			 n;
	int			 base;
};

static pthread_mutex_t		 reg_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct mx_table		 tables[SERVERS_MAX];
static atomic_size_t		 ntables;
static size_t			 nslots;

static atomic_uint_fast64_t	 requests[SLOTS_MAX][STATUS_N];
static struct histogram		 durations[SLOTS_MAX];
static atomic_int_fast64_t	 in_flight[SERVERS_MAX];
static atomic_uint_fast64_t	 db[MX_DB_N];
static atomic_uint_fast64_t	 kh_requests[KH_TYPE_LAST + 1];
static atomic_uint_fast64_t	 kh_errors[KH_E_LAST + 1];	/* 0: other */
static atomic_uint_fast64_t	 kh_failures;
static struct histogram		 kh_calls;
static atomic_uint_fast64_t	 refreshes[4];
static atomic_uint_fast64_t	 alog[MX_ALOG_N];
static atomic_uint_fast64_t	 cache_hits[MX_CACHE_N];
static atomic_uint_fast64_t	 cache_misses[MX_CACHE_N];
static atomic_uint_fast64_t	 changes;
static atomic_int		 channel_up;

static const char *const db_names[MX_DB_N] = {
	[MX_DB_CONNECTED] = "ok",
	[MX_DB_CONNECT_FAILED] = "failed",
	[MX_DB_LOST] = "connection_lost",
	[MX_DB_TRANSIENT] = "transient",
	[MX_DB_SQL] = "sql",
	[MX_DB_BUSY] = "pool_busy",
};
/* enum oauth_result, in order. */
static const char *const refresh_names[] = {
	"ok", "invalid_grant", "retryable", "fatal",
};
static const char *const alog_names[MX_ALOG_N] = {
	[MX_ALOG_WRITTEN] = "written",
	[MX_ALOG_FAILED] = "failed",
	[MX_ALOG_DROPPED] = "dropped",
	[MX_ALOG_PRUNED] = "pruned",
};
/* enum kh_type, by value. */
static const char *const kh_type_names[KH_TYPE_LAST + 1] = {
	[KH_SEAL] = "seal",
	[KH_OPEN] = "open",
	[KH_KEYRING_INIT] = "keyring_init",
	[KH_KEYRING_LOAD] = "keyring_load",
	[KH_KEY_ROTATE] = "key_rotate",
	[KH_KEY_STATUS] = "key_status",
	[KH_KEYRING_EXPORT] = "keyring_export",
	[KH_AUDIT_MARK] = "audit_mark",
	[KH_HEALTH] = "health",
	[KH_METRICS] = "metrics",
};
/* enum kh_error, by value; 0 is a code outside the protocol. */
static const char *const kh_error_names[KH_E_LAST + 1] = {
	[0] = "unknown",
	[KH_E_INTERNAL] = "internal",
	[KH_E_NO_KEYRING] = "no_keyring",
	[KH_E_HAVE_KEYRING] = "have_keyring",
	[KH_E_BAD_VALUE] = "bad_value",
	[KH_E_UNKNOWN_VERSION] = "unknown_version",
	[KH_E_BAD_KEYRING] = "bad_keyring",
	[KH_E_AUDIT] = "audit",
	[KH_E_RATE] = "rate",
};

static void
inc(atomic_uint_fast64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static uint64_t
get(atomic_uint_fast64_t *v)
{
	return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

int
metrics_routes(const char *server, const struct http_route *routes,
    size_t n)
{
	size_t	 i, k;
	int	 base = -1;

	pthread_mutex_lock(&reg_mtx);
	k = atomic_load(&ntables);
	for (i = 0; i < k; i++)
		if (tables[i].routes == routes && tables[i].n == n &&
		    strcmp(tables[i].server, server) == 0) {
			base = tables[i].base;
			goto out;
		}
	if (k == SERVERS_MAX || n + 1 > SLOTS_MAX - nslots) {
		log_warnx("metrics: no room for the %s server's routes",
		    server);
		goto out;
	}
	tables[k].server = server;
	tables[k].routes = routes;
	tables[k].n = n;
	tables[k].base = base = (int)nslots;
	nslots += n + 1;
	/* Readers see the row complete. */
	atomic_store(&ntables, k + 1);
 out:
	pthread_mutex_unlock(&reg_mtx);
	return base;
}

/* The server whose slots begin at base, or -1. */
static int
table_of(int base)
{
	size_t	 i, k = atomic_load(&ntables);

	for (i = 0; i < k; i++)
		if (tables[i].base == base)
			return (int)i;
	return -1;
}

void
metrics_request(int base, size_t route, unsigned int status, uint64_t ns)
{
	int	 t;
	size_t	 slot;

	if (base < 0 || (t = table_of(base)) == -1)
		return;
	slot = (size_t)base + (route < tables[t].n ? route : tables[t].n);
	if (status >= STATUS_MIN && status < STATUS_MIN + STATUS_N)
		inc(&requests[slot][status - STATUS_MIN], 1);
	histogram_observe(&durations[slot], ns);
}

void
metrics_in_flight(int base, int delta)
{
	int	 t;

	if (base >= 0 && (t = table_of(base)) != -1)
		atomic_fetch_add_explicit(&in_flight[t], delta,
		    memory_order_relaxed);
}

void
metrics_db(enum mx_db e)
{
	if ((unsigned int)e < MX_DB_N)
		inc(&db[e], 1);
}

void
metrics_kh_reply(uint32_t type, int code)
{
	if (type >= 1 && type <= KH_TYPE_LAST)
		inc(&kh_requests[type], 1);
	if (code > 0)
		inc(&kh_errors[code <= KH_E_LAST ? code : 0], 1);
}

void
metrics_kh_failed(void)
{
	inc(&kh_failures, 1);
}

void
metrics_kh_call(uint64_t ns)
{
	histogram_observe(&kh_calls, ns);
}

void
metrics_refresh(int result)
{
	size_t	 n = sizeof(refreshes) / sizeof(refreshes[0]);

	inc(&refreshes[result >= 0 && (size_t)result < n ? (size_t)result :
	    n - 1], 1);
}

void
metrics_accesslog(enum mx_alog what, uint64_t n)
{
	if ((unsigned int)what < MX_ALOG_N && n > 0)
		inc(&alog[what], n);
}

void
metrics_cache(enum mx_cache which, int hit)
{
	if ((unsigned int)which < MX_CACHE_N)
		inc(hit ? &cache_hits[which] : &cache_misses[which], 1);
}

void
metrics_change(void)
{
	inc(&changes, 1);
}

void
metrics_change_channel(int up)
{
	atomic_store_explicit(&channel_up, up != 0, memory_order_relaxed);
}

/* Rendering. */

static void
head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with '\\', '"' and newlines escaped; cut to fit. */
static void
escape(char *dst, size_t sz, const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0' && n + 3 <= sz; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			dst[n++] = '\\';
		dst[n++] = *s == '\n' ? 'n' : *s;
	}
	dst[n] = '\0';
}

/* Row r of t's labels, ready to go between braces. */
static void
route_labels(char *buf, size_t sz, const struct mx_table *t, size_t r)
{
	char	 srv[64], pat[256], meth[32];

	escape(srv, sizeof(srv), t->server);
	escape(pat, sizeof(pat), r < t->n ? t->routes[r].pattern :
	    "unmatched");
	escape(meth, sizeof(meth), r < t->n ? t->routes[r].method : "any");
	(void)snprintf(buf, sz, "server=\"%s\",route=\"%s\",method=\"%s\"",
	    srv, pat, meth);
}

static void
render_requests(FILE *fp)
{
	const struct mx_table	*t;
	size_t			 i, r, s, k = atomic_load(&ntables);
	uint64_t		 n;
	char			 labels[512], srv[64];

	head(fp, "dromos_broker_requests_total", "counter",
	    "Requests answered, by server, route, method and status code.");
	for (i = 0; i < k; i++) {
		t = &tables[i];
		for (r = 0; r <= t->n; r++)
			for (s = 0; s < STATUS_N; s++) {
				n = get(&requests[(size_t)t->base + r][s]);
				if (n == 0)
					continue;
				route_labels(labels, sizeof(labels), t, r);
				fprintf(fp, "dromos_broker_requests_total{%s,"
				    "code=\"%zu\"} %llu\n", labels,
				    s + STATUS_MIN, (unsigned long long)n);
			}
	}
	head(fp, "dromos_broker_request_duration_seconds", "histogram",
	    "Time from a request's headers to the end of its answer.");
	for (i = 0; i < k; i++) {
		t = &tables[i];
		for (r = 0; r <= t->n; r++)
			if (histogram_count(&durations[(size_t)t->base + r])
			    != 0) {
				route_labels(labels, sizeof(labels), t, r);
				histogram_render(fp,
				    "dromos_broker_request_duration_seconds",
				    labels, &durations[(size_t)t->base + r]);
			}
	}
	head(fp, "dromos_broker_requests_in_flight", "gauge",
	    "Requests being read or answered now, by server.");
	for (i = 0; i < k; i++) {
		escape(srv, sizeof(srv), tables[i].server);
		fprintf(fp, "dromos_broker_requests_in_flight{server=\"%s\"} "
		    "%lld\n", srv, (long long)atomic_load_explicit(
		    &in_flight[i], memory_order_relaxed));
	}
}

/*
 * One counter per label value: name{label="names[i]"} for i in [lo, n),
 * after its HELP and TYPE unless help is NULL (more of a family).
 */
static void
render_by(FILE *fp, const char *name, const char *help, const char *label,
    const char *const *names, atomic_uint_fast64_t *v, size_t lo, size_t n)
{
	size_t	 i;

	if (help != NULL)
		head(fp, name, "counter", help);
	for (i = lo; i < n; i++)
		fprintf(fp, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
		    (unsigned long long)get(&v[i]));
}

static const char *const cache_names[MX_CACHE_N] = {
	"providers", "clients", "connections",
};

static void
render_caches(FILE *fp)
{
	size_t	 i;

	head(fp, "dromos_broker_cache_lookups_total", "counter", "Lookups in "
	    "the read caches (connections hold sealed values only), by "
	    "result; a held cache (the change channel down) always misses.");
	for (i = 0; i < MX_CACHE_N; i++)
		fprintf(fp, "dromos_broker_cache_lookups_total{cache=\"%s\","
		    "result=\"hit\"} %llu\n"
		    "dromos_broker_cache_lookups_total{cache=\"%s\","
		    "result=\"miss\"} %llu\n", cache_names[i],
		    (unsigned long long)get(&cache_hits[i]), cache_names[i],
		    (unsigned long long)get(&cache_misses[i]));
	head(fp, "dromos_broker_change_notifications_total", "counter",
	    "Changes the database announced (NOTIFY dromos_change).");
	fprintf(fp, "dromos_broker_change_notifications_total %llu\n",
	    (unsigned long long)get(&changes));
	head(fp, "dromos_broker_change_channel_up", "gauge", "1 while the "
	    "broker listens for changes and its caches serve, else 0.");
	fprintf(fp, "dromos_broker_change_channel_up %d\n",
	    atomic_load_explicit(&channel_up, memory_order_relaxed));
}

static void
render_broker(FILE *fp)
{
	render_by(fp, "dromos_broker_db_connects_total", "Connections to "
	    "PostgreSQL made, first or again, and attempts that failed.",
	    "outcome", db_names, db, MX_DB_CONNECTED, MX_DB_CONNECT_FAILED + 1);
	render_by(fp, "dromos_broker_db_errors_total", "Statements that "
	    "failed, and waits for a free connection that timed out, by kind.",
	    "kind", db_names, db, MX_DB_LOST, MX_DB_N);
	render_by(fp, "dromos_broker_keyholder_requests_total", "Requests "
	    "the keyholder answered, by type.", "type", kh_type_names,
	    kh_requests, 1, KH_TYPE_LAST + 1);
	head(fp, "dromos_broker_keyholder_errors_total", "counter",
	    "Keyholder refusals by error code, and failures of the channel.");
	fprintf(fp, "dromos_broker_keyholder_errors_total{kind=\"channel\"} "
	    "%llu\n", (unsigned long long)get(&kh_failures));
	render_by(fp, "dromos_broker_keyholder_errors_total", NULL, "kind",
	    kh_error_names, kh_errors, 0, KH_E_LAST + 1);
	head(fp, "dromos_broker_keyholder_duration_seconds", "histogram",
	    "Time of one call to the keyholder, from sending its requests to "
	    "the last reply.");
	histogram_render(fp, "dromos_broker_keyholder_duration_seconds", "",
	    &kh_calls);
	render_by(fp, "dromos_broker_oauth_refreshes_total", "OAuth refresh "
	    "token calls, by outcome.", "outcome", refresh_names, refreshes,
	    0, sizeof(refreshes) / sizeof(refreshes[0]));
	render_by(fp, "dromos_broker_accesslog_rows_total", "Queued access "
	    "log rows (credential reads) written, refused by the database, or "
	    "dropped because the queue was full; and rows deleted for their "
	    "age (access log keep).", "outcome", alog_names, alog, 0,
	    MX_ALOG_N);
	render_caches(fp);
}

/* name{label="names[k]"} kh[base + k - 1] for the codes 1 .. n. */
static void
kh_by(FILE *fp, const char *name, const char *label, const char *const *names,
    const uint64_t *kh, size_t base, size_t n)
{
	size_t	 k;

	for (k = 1; k <= n; k++)
		fprintf(fp, "%s{%s=\"%s\"} %llu\n", name, label, names[k],
		    (unsigned long long)kh[base + k - 1]);
}

static void
kh_one(FILE *fp, const char *name, const char *type, const char *help,
    uint64_t v)
{
	head(fp, name, type, help);
	fprintf(fp, "%s %llu\n", name, (unsigned long long)v);
}

static void
render_keyholder(FILE *fp, const uint64_t *kh)
{
	kh_one(fp, "dromos_keyholder_up", "gauge", "1 when this scrape "
	    "fetched the keyholder's counters, 0 when it could not.",
	    kh != NULL);
	if (kh == NULL)
		return;
	head(fp, "dromos_keyholder_seals_total", "counter", "SEAL requests "
	    "answered, by outcome: ok, or the error code of a refusal.");
	fprintf(fp, "dromos_keyholder_seals_total{outcome=\"ok\"} %llu\n",
	    (unsigned long long)kh[KH_M_SEAL_OK]);
	kh_by(fp, "dromos_keyholder_seals_total", "outcome", kh_error_names,
	    kh, KH_M_SEAL_REFUSED, KH_E_LAST);
	head(fp, "dromos_keyholder_opens_total", "counter", "OPEN requests "
	    "answered, by outcome: ok, or the error code of a refusal.");
	fprintf(fp, "dromos_keyholder_opens_total{outcome=\"ok\"} %llu\n",
	    (unsigned long long)kh[KH_M_OPEN_OK]);
	kh_by(fp, "dromos_keyholder_opens_total", "outcome", kh_error_names,
	    kh, KH_M_OPEN_REFUSED, KH_E_LAST);
	head(fp, "dromos_keyholder_requests_total", "counter",
	    "Requests answered, by type.");
	kh_by(fp, "dromos_keyholder_requests_total", "type", kh_type_names,
	    kh, KH_M_REQUESTS, KH_TYPE_LAST);
	kh_one(fp, "dromos_keyholder_audit_lines_total", "counter",
	    "Audit log lines written, checkpoints included.",
	    kh[KH_M_AUDIT_LINES]);
	kh_one(fp, "dromos_keyholder_audit_checkpoints_total", "counter",
	    "Signed audit checkpoints written.", kh[KH_M_AUDIT_CHECKPOINTS]);
	kh_one(fp, "dromos_keyholder_audit_failures_total", "counter",
	    "Batches of answers, and timed checkpoints, whose audit lines "
	    "could not be written (those requests were refused).",
	    kh[KH_M_AUDIT_FAILURES]);
	kh_one(fp, "dromos_keyholder_key_rotations_total", "counter",
	    "New data key versions, asked for or at the seal threshold.",
	    kh[KH_M_ROTATIONS]);
	kh_one(fp, "dromos_keyholder_batches_total", "counter",
	    "Batches of answers released after one audit commit.",
	    kh[KH_M_BATCHES]);
	kh_one(fp, "dromos_keyholder_batch_max", "gauge",
	    "Most requests answered in one batch.", kh[KH_M_BATCH_MAX]);
	kh_one(fp, "dromos_keyholder_start_time_seconds", "gauge",
	    "When the keyholder started, in seconds since the Unix epoch.",
	    kh[KH_M_START_TIME]);
	head(fp, "dromos_keyholder_audit_reopens_total", "counter",
	    "SIGHUPs that found the audit log moved away, by outcome: ok (a "
	    "new log goes on the chain) or failed (the moved one is still "
	    "written).");
	fprintf(fp, "dromos_keyholder_audit_reopens_total{outcome=\"ok\"} "
	    "%llu\n", (unsigned long long)kh[KH_M_AUDIT_REOPENS]);
	fprintf(fp, "dromos_keyholder_audit_reopens_total{outcome=\"failed\"} "
	    "%llu\n", (unsigned long long)kh[KH_M_AUDIT_REOPEN_FAILURES]);
}

char *
metrics_render(const uint64_t *kh, size_t *lenp)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	render_requests(fp);
	render_broker(fp);
	render_keyholder(fp, kh);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}
