/*
 * Unit tests for common/histogram.c: bucket choice at the bounds,
 * cumulative buckets, _count equal to the +Inf bucket, _sum in seconds,
 * labels with and without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/histogram.h"

static char *
render(struct histogram *h, const char *labels)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*fp;

	assert_non_null(fp = open_memstream(&text, &len));
	histogram_render(fp, "t_seconds", labels, h);
	assert_int_equal(fclose(fp), 0);
	return text;
}

static void
test_buckets(void **state)
{
	struct histogram	 h;
	char			*text;

	(void)state;
	memset(&h, 0, sizeof(h));
	histogram_observe(&h, 100000);		/* on the first bound: in it */
	histogram_observe(&h, 100001);		/* just above: the next */
	histogram_observe(&h, 3000000);		/* 3 ms */
	histogram_observe(&h, 20000000000ULL);	/* 20 s: +Inf only */
	assert_int_equal(histogram_count(&h), 4);
	text = render(&h, "");
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.00025\"} 2\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.0025\"} 2\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.005\"} 3\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"10\"} 3\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(text, "t_seconds_sum 20.003200001\n"));
	assert_non_null(strstr(text, "t_seconds_count 4\n"));
	free(text);
}

static void
test_labels(void **state)
{
	struct histogram	 h;
	char			*text;

	(void)state;
	memset(&h, 0, sizeof(h));
	histogram_observe(&h, 1);
	text = render(&h, "route=\"/x\",method=\"GET\"");
	assert_non_null(strstr(text, "t_seconds_bucket{route=\"/x\","
	    "method=\"GET\",le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(text,
	    "t_seconds_sum{route=\"/x\",method=\"GET\"} 0.000000001\n"));
	assert_non_null(strstr(text,
	    "t_seconds_count{route=\"/x\",method=\"GET\"} 1\n"));
	/* Sixteen bounds and +Inf: seventeen bucket lines. */
	{
		const char	*p = text;
		int		 n = 0;

		while ((p = strstr(p, "_bucket{")) != NULL) {
			n++;
			p++;
		}
		assert_int_equal(n, HISTOGRAM_NBOUNDS + 1);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
