/*
 * Latency histograms for the daemons' Prometheus metrics: one set of
 * bucket bounds for every daemon, so that the gateway's and the broker's
 * series can be compared and summed bucket by bucket.  Counting is lock
 * free (relaxed atomics), so any thread may observe while another renders.
 */
#ifndef DROMOS_COMMON_HISTOGRAM_H
#define DROMOS_COMMON_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* Upper bounds from 100 us to 10 s; +Inf is implicit. */
#define HISTOGRAM_NBOUNDS	16

struct histogram {
	atomic_uint_fast64_t	 bucket[HISTOGRAM_NBOUNDS + 1];	/* not cumulative */
	atomic_uint_fast64_t	 sum_ns;
	atomic_uint_fast64_t	 count;
};

void		 histogram_observe(struct histogram *, uint64_t ns);
uint64_t	 histogram_count(struct histogram *);

/*
 * Writes name_bucket (cumulative, with le), name_sum (seconds) and
 * name_count.  labels are written inside the braces as given, so they
 * must already be escaped: "" for none, or `route="/x",method="GET"`.
 */
void		 histogram_render(FILE *, const char *name, const char *labels,
		    struct histogram *);

#endif /* DROMOS_COMMON_HISTOGRAM_H */
