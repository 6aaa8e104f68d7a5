/*
 * Small in-memory caches of what the broker reads on every request, so
 * that the hot path does not ask the database for it each time: provider
 * documents and connection rows (view and sealed secrets, never opened
 * ones) by id (here), and API clients by the SHA-256 of their token
 * (auth.c).
 *
 * An entry lives ttl_ms.  What this broker changes it forgets at once
 * (cache_forget, cache_clear); a change committed by anyone else, another
 * broker or an operator's SQL, is announced by the database and
 * forgotten when it arrives (notify.c).  While that announcement channel
 * is down the caches are held (cache_hold): they neither serve nor keep
 * anything, and every read goes to the database.
 *
 * A cache holds at most `slots' entries: a key lives in one of
 * CACHE_PROBE slots after its hash, and a new entry takes the place of an
 * expired or else the oldest one there.  Values are blobs of ops->valsz
 * bytes, copied in and out under a mutex; ops->retain runs on the copy
 * handed out (under the mutex, e.g. json_incref), ops->release on a value
 * the cache lets go of.
 *
 * Reading the source races with forgetting: a value read before a
 * forget must not be stored after it.  So take cache_gen() before
 * reading the source and pass it to cache_put(), which drops the value if
 * anything was forgotten meanwhile.
 *
 * A NULL cache is a cache that never hits.  All functions are
 * thread-safe.
 */
#ifndef DROMOS_UNPRIV_CACHE_H
#define DROMOS_UNPRIV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CACHE_KEY_MAX		128	/* a connection id */
#define CACHE_PROBE		8
#define CACHE_TTL_MS		5000	/* the broker's caches */

struct cache_ops {
	size_t	 valsz;
	void	(*retain)(void *val);		/* may be NULL */
	void	(*release)(void *val);		/* may be NULL */
};

struct cache;
struct db_pool;

/* NULL on ENOMEM.  ttl_ms <= 0 makes a cache that stores nothing. */
struct cache	*cache_new(const struct cache_ops *, size_t slots, int ttl_ms);
void		 cache_free(struct cache *);

uint64_t	 cache_gen(struct cache *);
/* 1 with *val filled (and retained) for a live entry, else 0. */
int		 cache_get(struct cache *, const void *key, size_t keylen,
		    void *val);
/* Store val (the cache owns it now: it is released if not kept). */
void		 cache_put(struct cache *, const void *key, size_t keylen,
		    void *val, uint64_t gen);
void		 cache_forget(struct cache *, const void *key, size_t keylen);
void		 cache_clear(struct cache *);
/* Count this cache's lookups in metrics.h as cache `which'. */
void		 cache_count_as(struct cache *, int which);
/* held != 0: forget everything and store nothing until released. */
void		 cache_hold(struct cache *, int held);

/*
 * Providers.  cache_provider_get() is store_provider_get() through the
 * cache.  The document may be shared with other threads: read it, never
 * change it (jansson's reference counts are atomic, and reading is
 * thread-safe), and json_decref() it as usual.
 */
struct cache	*cache_providers_new(void);
int		 cache_provider_get(struct cache *, struct db_pool *,
		    const char *id, json_t **doc, int *has_secret);
void		 cache_provider_forget(struct cache *, const char *id);

/*
 * Connections.  cache_connection_get() is store_connection_get() through
 * the cache, with the same view (shared, read-only, as above) and the
 * sealed secrets copied into sealed[sz].
 */
struct cache	*cache_connections_new(void);
int		 cache_connection_get(struct cache *, struct db_pool *,
		    const char *id, json_t **view, uint8_t *sealed, size_t sz,
		    size_t *len);
void		 cache_connection_forget(struct cache *, const char *id);

#endif /* DROMOS_UNPRIV_CACHE_H */
