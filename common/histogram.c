/*
 * histogram.c: latency histograms in the Prometheus text format
 * (common/histogram.h).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "common/histogram.h"

static const uint64_t bounds_ns[HISTOGRAM_NBOUNDS] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000u, 5000000000u, 10000000000u,
};
static const char *const bounds_txt[HISTOGRAM_NBOUNDS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

static uint64_t
get(atomic_uint_fast64_t *v)
{
	return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

void
histogram_observe(struct histogram *h, uint64_t ns)
{
	size_t	 i;

	for (i = 0; i < HISTOGRAM_NBOUNDS && ns > bounds_ns[i]; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

uint64_t
histogram_count(struct histogram *h)
{
	return get(&h->count);
}

/*
 * Buckets are read one by one while other threads add to them, so the
 * total is taken from the buckets as read: _count always equals the +Inf
 * bucket, as Prometheus expects.  _sum may be a few observations ahead.
 */
void
histogram_render(FILE *fp, const char *name, const char *labels,
    struct histogram *h)
{
	uint64_t	 cum = 0, sum;
	size_t		 i;
	int		 any = labels[0] != '\0';

	for (i = 0; i <= HISTOGRAM_NBOUNDS; i++) {
		cum += get(&h->bucket[i]);
		fprintf(fp, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels,
		    any ? "," : "", i < HISTOGRAM_NBOUNDS ? bounds_txt[i] :
		    "+Inf", (unsigned long long)cum);
	}
	sum = get(&h->sum_ns);
	fprintf(fp, "%s_sum%s%s%s %llu.%09llu\n", name, any ? "{" : "", labels,
	    any ? "}" : "", (unsigned long long)(sum / 1000000000u),
	    (unsigned long long)(sum % 1000000000u));
	fprintf(fp, "%s_count%s%s%s %llu\n", name, any ? "{" : "", labels,
	    any ? "}" : "", (unsigned long long)cum);
}
