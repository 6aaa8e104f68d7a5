/* Token buckets (gateway/ratelimit.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/ratelimit.h"
#include "tests/gateway/tests.h"

#define SEC	1000000000ull

static void
key_of(unsigned int i, unsigned char key[GW_RATEKEY_LEN])
{
	gw_ratekey("test", &i, sizeof(i), key);
}

static void
test_burst_then_rate(void **state)
{
	struct ratelimit	*rl;
	unsigned char		 k[GW_RATEKEY_LEN], k2[GW_RATEKEY_LEN];
	uint64_t		 t = 1000 * SEC;
	int			 i;

	(void)state;
	assert_non_null(rl = ratelimit_new(2.0, 5.0, 1024));
	key_of(1, k);
	key_of(2, k2);
	for (i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, k, t), 0);
	/* Empty: one token comes in half a second. */
	assert_int_equal(ratelimit_take(rl, k, t), 1);
	/* Another key is not affected. */
	assert_int_equal(ratelimit_take(rl, k2, t), 0);
	assert_int_equal(ratelimit_take(rl, k, t + SEC / 2), 0);
	assert_int_not_equal(ratelimit_take(rl, k, t + SEC / 2), 0);
	/* A long pause refills to the burst, no more. */
	t += 100 * SEC;
	for (i = 0; i < 5; i++)
		assert_int_equal(ratelimit_take(rl, k, t), 0);
	assert_int_not_equal(ratelimit_take(rl, k, t), 0);
	/* A clock that goes back changes nothing. */
	assert_int_not_equal(ratelimit_take(rl, k, t - 10 * SEC), 0);
	assert_int_equal(ratelimit_count(rl), 2);
	ratelimit_free(rl);
}

static void
test_retry_after(void **state)
{
	struct ratelimit	*rl;
	unsigned char		 k[GW_RATEKEY_LEN];
	uint64_t		 t = SEC;

	(void)state;
	/* One a minute, burst one: the wait is a minute, then less. */
	assert_non_null(rl = ratelimit_new(1.0 / 60.0, 1.0, 16));
	key_of(7, k);
	assert_int_equal(ratelimit_take(rl, k, t), 0);
	assert_int_equal(ratelimit_take(rl, k, t), 60);
	assert_int_equal(ratelimit_take(rl, k, t + 30 * SEC), 30);
	assert_int_equal(ratelimit_take(rl, k, t + 59 * SEC + 1), 1);
	assert_int_equal(ratelimit_take(rl, k, t + 60 * SEC), 0);
	ratelimit_free(rl);
}

static void
test_bounded_and_evicting(void **state)
{
	struct ratelimit	*rl;
	unsigned char		 k[GW_RATEKEY_LEN];
	uint64_t		 t = SEC;
	unsigned int		 i, refused = 0;

	(void)state;
	/* 16 shards of 4: at most 64 keys at once. */
	assert_non_null(rl = ratelimit_new(1.0, 2.0, 64));
	for (i = 0; i < 1000; i++) {
		key_of(i, k);
		if (ratelimit_take(rl, k, t) != 0)
			refused++;
	}
	assert_true(ratelimit_count(rl) <= 64);
	/* Active keys are never forgotten: the newcomers were refused. */
	assert_true(refused >= 1000 - 64);
	/* Once their buckets have refilled, entries give way. */
	t += 3 * SEC;
	for (i = 1000; i < 1010; i++) {
		key_of(i, k);
		assert_int_equal(ratelimit_take(rl, k, t), 0);
	}
	ratelimit_free(rl);
}

static void
test_bad_parameters(void **state)
{
	(void)state;
	assert_null(ratelimit_new(0.0, 1.0, 16));
	assert_null(ratelimit_new(-1.0, 1.0, 16));
	assert_null(ratelimit_new(1.0, 0.5, 16));
	assert_null(ratelimit_new(1.0, 1.0, 0));
	ratelimit_free(NULL);
}

static void
test_keys(void **state)
{
	unsigned char	 a[GW_RATEKEY_LEN], b[GW_RATEKEY_LEN];

	(void)state;
	/* Domains separate: the same bytes make different keys. */
	gw_ratekey("client", "x", 1, a);
	gw_ratekey("connection", "x", 1, b);
	assert_memory_not_equal(a, b, sizeof(a));
	gw_ratekey("client", "x", 1, b);
	assert_memory_equal(a, b, sizeof(a));
	/* "ab" + "c" is not "a" + "bc". */
	gw_ratekey("ab", "c", 1, a);
	gw_ratekey("a", "bc", 2, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

struct worker {
	struct ratelimit	*rl;
	unsigned int		 allowed;
};

static void *
hammer(void *arg)
{
	struct worker	*w = arg;
	unsigned char	 k[GW_RATEKEY_LEN];
	int		 i;

	key_of(42, k);
	for (i = 0; i < 10000; i++)
		if (ratelimit_take(w->rl, k, SEC) == 0)
			w->allowed++;
	return NULL;
}

/* Four threads on one key at one instant share exactly the burst. */
static void
test_threads(void **state)
{
	struct worker	 w[4];
	pthread_t	 th[4];
	unsigned int	 total = 0;
	struct ratelimit *rl;
	int		 i;

	(void)state;
	assert_non_null(rl = ratelimit_new(1.0, 100.0, 64));
	for (i = 0; i < 4; i++) {
		w[i].rl = rl;
		w[i].allowed = 0;
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].allowed;
	}
	assert_int_equal(total, 100);
	ratelimit_free(rl);
}

int
run_ratelimit_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_bounded_and_evicting),
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
