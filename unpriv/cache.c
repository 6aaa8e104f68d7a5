/*
 * cache.c: the broker's read caches (cache.h).
 *
 * An open-addressed table under one mutex: the lookups are a few
 * comparisons and a copy, far shorter than the database round trip they
 * replace.  Keys are compared in constant time: one of the caches is
 * keyed by token hashes.
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "unpriv/cache.h"
#include "unpriv/metrics.h"
#include "unpriv/store.h"

#define PROVIDER_SLOTS	256
#define CONNECTION_SLOTS 4096

struct entry {
	uint8_t		 key[CACHE_KEY_MAX];
	size_t		 keylen;		/* 0: empty */
	int64_t		 born;			/* monotonic ms */
	void		*val;
};

struct cache {
	pthread_mutex_t		 mtx;
	const struct cache_ops	*ops;
	struct entry		*e;
	size_t			 n;
	int			 ttl_ms;
	int			 held;
	int			 mx;		/* enum mx_cache, or -1 */
	uint64_t		 gen;
};

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a: the keys are ids and digests, nothing chosen to collide. */
static size_t
slot_of(const struct cache *c, const void *key, size_t len)
{
	const uint8_t	*p = key;
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h % c->n);
}

static void
release(struct cache *c, struct entry *e)
{
	if (e->keylen == 0)
		return;
	if (c->ops->release != NULL)
		c->ops->release(e->val);
	free(e->val);
	e->val = NULL;
	e->keylen = 0;
}

static int
same(const struct entry *e, const void *key, size_t len)
{
	return e->keylen == len && CRYPTO_memcmp(e->key, key, len) == 0;
}

struct cache *
cache_new(const struct cache_ops *ops, size_t slots, int ttl_ms)
{
	struct cache	*c;

	if (slots < CACHE_PROBE)
		slots = CACHE_PROBE;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->e = calloc(slots, sizeof(*c->e))) == NULL) {
		free(c);
		return NULL;
	}
	if (pthread_mutex_init(&c->mtx, NULL) != 0)
		fatalx("%s: pthread initialisation", __func__);
	c->ops = ops;
	c->n = slots;
	c->ttl_ms = ttl_ms;
	c->mx = -1;
	return c;
}

void
cache_free(struct cache *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		release(c, &c->e[i]);
	pthread_mutex_destroy(&c->mtx);
	free(c->e);
	free(c);
}

uint64_t
cache_gen(struct cache *c)
{
	uint64_t	 g;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->mtx);
	g = c->gen;
	pthread_mutex_unlock(&c->mtx);
	return g;
}

int
cache_get(struct cache *c, const void *key, size_t len, void *val)
{
	struct entry	*e;
	int64_t		 now;
	size_t		 s, i;
	int		 hit = 0;

	if (c == NULL || len == 0 || len > CACHE_KEY_MAX)
		return 0;
	now = now_ms();
	s = slot_of(c, key, len);
	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < CACHE_PROBE && !c->held; i++) {
		e = &c->e[(s + i) % c->n];
		if (!same(e, key, len))
			continue;
		if (now - e->born >= c->ttl_ms) {
			release(c, e);
			break;
		}
		memcpy(val, e->val, c->ops->valsz);
		if (c->ops->retain != NULL)
			c->ops->retain(val);
		hit = 1;
		break;
	}
	pthread_mutex_unlock(&c->mtx);
	if (c->mx >= 0)
		metrics_cache((enum mx_cache)c->mx, hit);
	return hit;
}

void
cache_count_as(struct cache *c, int which)
{
	if (c != NULL)
		c->mx = which;
}

/* Where key goes: its own slot, else an empty or expired one, else the
 * oldest.  Locked. */
static struct entry *
slot_for(struct cache *c, const void *key, size_t len, int64_t now)
{
	struct entry	*e, *free_e = NULL, *old = NULL;
	size_t		 s, i;

	s = slot_of(c, key, len);
	for (i = 0; i < CACHE_PROBE; i++) {
		e = &c->e[(s + i) % c->n];
		if (same(e, key, len))
			return e;
		if (free_e == NULL && (e->keylen == 0 ||
		    now - e->born >= c->ttl_ms))
			free_e = e;
		if (old == NULL || e->born < old->born)
			old = e;
	}
	return free_e != NULL ? free_e : old;
}

/* A value the cache does not keep. */
static void
drop(const struct cache_ops *ops, void *val)
{
	if (ops->release != NULL)
		ops->release(val);
}

void
cache_put(struct cache *c, const void *key, size_t len, void *val,
    uint64_t gen)
{
	struct entry	*e;
	void		*copy;
	int64_t		 now;

	if (c == NULL)
		return;
	if (len == 0 || len > CACHE_KEY_MAX || c->ttl_ms <= 0 ||
	    (copy = malloc(c->ops->valsz)) == NULL) {
		drop(c->ops, val);
		return;
	}
	memcpy(copy, val, c->ops->valsz);
	now = now_ms();
	pthread_mutex_lock(&c->mtx);
	if (gen != c->gen || c->held) {
		/* Forgotten meanwhile: what we read may be stale. */
		pthread_mutex_unlock(&c->mtx);
		drop(c->ops, copy);
		free(copy);
		return;
	}
	e = slot_for(c, key, len, now);
	release(c, e);
	memcpy(e->key, key, len);
	e->keylen = len;
	e->born = now;
	e->val = copy;
	pthread_mutex_unlock(&c->mtx);
}

void
cache_forget(struct cache *c, const void *key, size_t len)
{
	size_t	 s, i;

	if (c == NULL || len == 0 || len > CACHE_KEY_MAX)
		return;
	s = slot_of(c, key, len);
	pthread_mutex_lock(&c->mtx);
	c->gen++;
	for (i = 0; i < CACHE_PROBE; i++)
		if (same(&c->e[(s + i) % c->n], key, len))
			release(c, &c->e[(s + i) % c->n]);
	pthread_mutex_unlock(&c->mtx);
}

void
cache_clear(struct cache *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	c->gen++;
	for (i = 0; i < c->n; i++)
		release(c, &c->e[i]);
	pthread_mutex_unlock(&c->mtx);
}

void
cache_hold(struct cache *c, int held)
{
	size_t	 i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	c->gen++;
	c->held = held != 0;
	for (i = 0; i < c->n; i++)
		release(c, &c->e[i]);
	pthread_mutex_unlock(&c->mtx);
}

/* Providers. */

struct provider_val {
	json_t		*doc;
	int		 has_secret;
};

/*
 * jansson (2.14) counts references atomically where the compiler can,
 * and then its read-only functions are thread-safe: a document nobody
 * changes can be shared.  Without atomic counts, each holder gets a copy.
 */
static json_t *
share(json_t *doc)
{
#ifdef JANSSON_THREAD_SAFE_REFCOUNT
	return json_incref(doc);
#else
	return json_deep_copy(doc);
#endif
}

static void
provider_retain(void *v)
{
	struct provider_val	*pv = v;

	pv->doc = share(pv->doc);
}

static void
provider_release(void *v)
{
	json_decref(((struct provider_val *)v)->doc);
}

static const struct cache_ops provider_ops = {
	.valsz = sizeof(struct provider_val),
	.retain = provider_retain,
	.release = provider_release,
};

struct cache *
cache_providers_new(void)
{
	struct cache	*c;

	c = cache_new(&provider_ops, PROVIDER_SLOTS, CACHE_TTL_MS);
	cache_count_as(c, MX_CACHE_PROVIDERS);
	return c;
}

int
cache_provider_get(struct cache *c, struct db_pool *db, const char *id,
    json_t **doc, int *has_secret)
{
	struct provider_val	 pv;
	size_t			 len = strlen(id);
	uint64_t		 gen;
	int			 rv;

	if (cache_get(c, id, len, &pv) && pv.doc != NULL) {
		*doc = pv.doc;
		*has_secret = pv.has_secret;
		return STORE_OK;
	}
	gen = cache_gen(c);
	if ((rv = store_provider_get(db, id, doc, has_secret)) != STORE_OK)
		return rv;
	pv.doc = share(*doc);
	pv.has_secret = *has_secret;
	cache_put(c, id, len, &pv, gen);
	return STORE_OK;
}

void
cache_provider_forget(struct cache *c, const char *id)
{
	cache_forget(c, id, strlen(id));
}

/*
 * Connections.  The sealed bytes are shared by every holder with a
 * reference count, so that a hit copies them once, into the caller's
 * buffer, and not again into a value of its own.
 */

struct sealed_ref {
	atomic_uint	 refs;
	size_t		 len;
	uint8_t		 b[];
};

struct connection_val {
	json_t			*view;
	struct sealed_ref	*sealed;
};

static struct sealed_ref *
sealed_new(const uint8_t *b, size_t len)
{
	struct sealed_ref	*s;

	if ((s = malloc(sizeof(*s) + len)) == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->len = len;
	memcpy(s->b, b, len);
	return s;
}

static void
sealed_unref(struct sealed_ref *s)
{
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

static void
connection_retain(void *v)
{
	struct connection_val	*cv = v;

	cv->view = share(cv->view);
	atomic_fetch_add(&cv->sealed->refs, 1);
}

static void
connection_release(void *v)
{
	struct connection_val	*cv = v;

	json_decref(cv->view);
	sealed_unref(cv->sealed);
}

static const struct cache_ops connection_ops = {
	.valsz = sizeof(struct connection_val),
	.retain = connection_retain,
	.release = connection_release,
};

struct cache *
cache_connections_new(void)
{
	struct cache	*c;

	c = cache_new(&connection_ops, CONNECTION_SLOTS, CACHE_TTL_MS);
	cache_count_as(c, MX_CACHE_CONNECTIONS);
	return c;
}

int
cache_connection_get(struct cache *c, struct db_pool *db, const char *id,
    json_t **view, uint8_t *sealed, size_t sz, size_t *len)
{
	struct connection_val	 cv;
	size_t			 klen = strlen(id);
	uint64_t		 gen;
	int			 rv;

	if (cache_get(c, id, klen, &cv)) {
		rv = STORE_OK;
		if (cv.sealed->len > sz)
			rv = STORE_ERR;
		else {
			memcpy(sealed, cv.sealed->b, cv.sealed->len);
			*len = cv.sealed->len;
			*view = json_incref(cv.view);
		}
		connection_release(&cv);
		return rv;
	}
	gen = cache_gen(c);
	if ((rv = store_connection_get(db, id, view, sealed, sz, len)) !=
	    STORE_OK)
		return rv;
	if ((cv.sealed = sealed_new(sealed, *len)) == NULL)
		return STORE_OK;
	cv.view = share(*view);
	cache_put(c, id, klen, &cv, gen);
	return STORE_OK;
}

void
cache_connection_forget(struct cache *c, const char *id)
{
	cache_forget(c, id, strlen(id));
}
