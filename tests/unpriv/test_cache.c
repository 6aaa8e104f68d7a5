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
#include "unpriv/notify.h"

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

/* A held cache serves nothing and keeps nothing; released, it works. */
static void
test_hold(void **state)
{
	struct cache	*c;
	struct counted	 v;
	uint64_t	 gen;
	int		 refs = 0;

	(void)state;
	assert_non_null(c = cache_new(&ops, 64, 60000));
	put(c, "acme", &refs, 1, cache_gen(c));
	assert_int_equal(refs, 1);
	gen = cache_gen(c);
	cache_hold(c, 1);
	assert_int_equal(refs, 0);		/* emptied */
	assert_int_equal(cache_get(c, "acme", 4, &v), 0);
	put(c, "acme", &refs, 2, cache_gen(c));
	assert_int_equal(refs, 0);		/* not kept */
	assert_int_equal(cache_get(c, "acme", 4, &v), 0);
	cache_hold(c, 0);
	/* A read begun before the release may predate a change. */
	put(c, "acme", &refs, 3, gen);
	assert_int_equal(refs, 0);
	put(c, "acme", &refs, 4, cache_gen(c));
	assert_int_equal(cache_get(c, "acme", 4, &v), 1);
	assert_int_equal(v.n, 4);
	counted_release(&v);
	cache_free(c);
	assert_int_equal(refs, 0);
}

/* The database's "table:id" announcements reach the right cache. */
static void
test_notify_apply(void **state)
{
	struct cache		*p, *cl;
	struct counted		 v;
	char			 msg[CACHE_KEY_MAX + 32];
	int			 refs = 0;

	(void)state;
	assert_non_null(p = cache_new(&ops, 64, 60000));
	assert_non_null(cl = cache_new(&ops, 64, 60000));
	const struct notify_target t[] = {
		{ "providers", p, 1 },
		{ "clients", cl, 0 },
	};

	put(p, "github", &refs, 1, cache_gen(p));
	put(p, "openai", &refs, 2, cache_gen(p));
	put(cl, "h1", &refs, 3, cache_gen(cl));
	put(cl, "h2", &refs, 4, cache_gen(cl));
	assert_int_equal(refs, 4);

	/* Not ours, malformed, or another table's: nothing happens. */
	notify_apply(t, 2, "connections:github");
	notify_apply(t, 2, "providersgithub");
	notify_apply(t, 2, "provider:github");
	notify_apply(t, 2, "providers :github");
	notify_apply(t, 2, "");
	notify_apply(t, 2, ":github");
	assert_int_equal(refs, 4);

	notify_apply(t, 2, "providers:github");
	assert_int_equal(cache_get(p, "github", 6, &v), 0);
	assert_int_equal(cache_get(p, "openai", 6, &v), 1);
	counted_release(&v);
	assert_int_equal(refs, 3);

	/* A cache not keyed by id: any change clears it. */
	notify_apply(t, 2, "clients:someid");
	assert_int_equal(refs, 1);

	/* An empty id (TRUNCATE) or one too long to be a key: clear. */
	put(p, "github", &refs, 5, cache_gen(p));
	memset(msg, 0, sizeof(msg));
	memcpy(msg, "providers:", 10);
	memset(msg + 10, 'x', CACHE_KEY_MAX + 1);
	notify_apply(t, 2, msg);
	assert_int_equal(refs, 0);
	put(p, "github", &refs, 6, cache_gen(p));
	notify_apply(t, 2, "providers:");
	assert_int_equal(refs, 0);

	cache_free(p);
	cache_free(cl);
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
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_notify_apply),
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
