/*
 * Unit tests for unpriv/cache.c: hits and misses, time to live,
 * forgetting, the generation that keeps a stale value out, the bound on
 * entries, and that every value the cache lets go of is released.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unpriv/tests.h"
#include "unpriv/cache.h"

/* A value that counts its holders, like a reference-counted document. */
struct counted {
	int	*refs;
	int	 n;
};

static void
counted_retain(void *v)
{
	(*((struct counted *)v)->refs)++;
}

static void
counted_release(void *v)
{
	(*((struct counted *)v)->refs)--;
}

static const struct cache_ops ops = {
	.valsz = sizeof(struct counted),
	.retain = counted_retain,
	.release = counted_release,
};

/* Hand the cache a value holding one reference, as a caller would. */
static void
put(struct cache *c, const char *key, int *refs, int n, uint64_t gen)
{
	struct counted	 v = { refs, n };

	(*refs)++;
	cache_put(c, key, strlen(key), &v, gen);
}

static void
test_hit_miss(void **state)
{
	struct cache	*c;
	struct counted	 v;
	int		 refs = 0;

	(void)state;
	assert_non_null(c = cache_new(&ops, 64, 60000));
	assert_int_equal(cache_get(c, "acme", 4, &v), 0);
	put(c, "acme", &refs, 7, cache_gen(c));
	assert_int_equal(refs, 1);
	memset(&v, 0, sizeof(v));
	assert_int_equal(cache_get(c, "acme", 4, &v), 1);
	assert_int_equal(v.n, 7);
	assert_int_equal(refs, 2);		/* ours now, too */
	counted_release(&v);
	/* Another key, a prefix, an empty one: misses. */
	assert_int_equal(cache_get(c, "acm", 3, &v), 0);
	assert_int_equal(cache_get(c, "acmf", 4, &v), 0);
	assert_int_equal(cache_get(c, "", 0, &v), 0);
	/* A new value for the key replaces the old one. */
	put(c, "acme", &refs, 8, cache_gen(c));
	assert_int_equal(refs, 1);
	assert_int_equal(cache_get(c, "acme", 4, &v), 1);
	assert_int_equal(v.n, 8);
	counted_release(&v);
	cache_free(c);
	assert_int_equal(refs, 0);
}

static void
test_ttl(void **state)
{
	struct cache	*c;
	struct counted	 v;
	int		 refs = 0;

	(void)state;
	assert_non_null(c = cache_new(&ops, 64, 100));
	put(c, "short", &refs, 1, cache_gen(c));
	assert_int_equal(cache_get(c, "short", 5, &v), 1);
	counted_release(&v);
	usleep(150 * 1000);
	assert_int_equal(cache_get(c, "short", 5, &v), 0);
	assert_int_equal(refs, 0);		/* let go when found stale */
	cache_free(c);

	/* No time to live: nothing is kept. */
	assert_non_null(c = cache_new(&ops, 64, 0));
	put(c, "none", &refs, 1, cache_gen(c));
	assert_int_equal(refs, 0);
	assert_int_equal(cache_get(c, "none", 4, &v), 0);
	cache_free(c);
}

/*
 * A value read before a forget must not be stored after it: the reader
 * took the generation first, so its put is dropped.
 */
static void
test_forget_and_generation(void **state)
{
	struct cache	*c;
	struct counted	 v;
	uint64_t	 gen;
	int		 refs = 0;

	(void)state;
	assert_non_null(c = cache_new(&ops, 64, 60000));
	put(c, "a", &refs, 1, cache_gen(c));
	put(c, "b", &refs, 2, cache_gen(c));
	cache_forget(c, "a", 1);
	assert_int_equal(cache_get(c, "a", 1, &v), 0);
	assert_int_equal(cache_get(c, "b", 1, &v), 1);
	counted_release(&v);
	assert_int_equal(refs, 1);

	gen = cache_gen(c);		/* a reader starts... */
	cache_forget(c, "a", 1);	/* ...the row changes meanwhile... */
	put(c, "a", &refs, 3, gen);	/* ...and what it read is dropped */
	assert_int_equal(cache_get(c, "a", 1, &v), 0);
	assert_int_equal(refs, 1);
	put(c, "a", &refs, 4, cache_gen(c));
	assert_int_equal(cache_get(c, "a", 1, &v), 1);
	assert_int_equal(v.n, 4);
	counted_release(&v);

	cache_clear(c);
	assert_int_equal(refs, 0);
	assert_int_equal(cache_get(c, "b", 1, &v), 0);
	cache_free(c);
}

/* Never more entries than slots; every one evicted is released. */
static void
test_bounded(void **state)
{
	struct cache	*c;
	struct counted	 v;
	char		 key[16];
	int		 refs = 0, i, hits = 0;

	(void)state;
	assert_non_null(c = cache_new(&ops, 16, 60000));
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		put(c, key, &refs, i, cache_gen(c));
		assert_true(refs <= 16);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		if (cache_get(c, key, strlen(key), &v)) {
			assert_int_equal(v.n, i);
			counted_release(&v);
			hits++;
		}
	}
	assert_true(hits > 0 && hits <= 16);
	/* The newest is always there. */
	assert_int_equal(cache_get(c, "key-999", 7, &v), 1);
	counted_release(&v);
	cache_free(c);
	assert_int_equal(refs, 0);
}

/* A NULL cache never hits and takes nothing; keys too long are refused. */
static void
test_null_and_limits(void **state)
{
	struct cache	*c;
	struct counted	 v;
	char		 longkey[CACHE_KEY_MAX + 2];
	int		 refs = 0;

	(void)state;
	assert_int_equal(cache_get(NULL, "x", 1, &v), 0);
	cache_forget(NULL, "x", 1);
	cache_clear(NULL);
	assert_int_equal(cache_gen(NULL), 0);
	cache_free(NULL);

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_non_null(c = cache_new(&ops, 8, 60000));
	put(c, longkey, &refs, 1, cache_gen(c));
	assert_int_equal(refs, 0);
	assert_int_equal(cache_get(c, longkey, strlen(longkey), &v), 0);
	longkey[CACHE_KEY_MAX] = '\0';	/* the longest key is fine */
	put(c, longkey, &refs, 2, cache_gen(c));
	assert_int_equal(cache_get(c, longkey, CACHE_KEY_MAX, &v), 1);
	counted_release(&v);
	cache_free(c);
	assert_int_equal(refs, 0);
}

int
run_cache_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_forget_and_generation),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_null_and_limits),
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
