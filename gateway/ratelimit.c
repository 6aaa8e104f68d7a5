/*
 * Token buckets in a bounded, sharded hash table (gateway/ratelimit.h).
 *
 * Each shard has a fixed array of entries, a free list and chained
 * buckets of entry indices; nothing is allocated after ratelimit_new().
 * Indices count from 1 so that zeroed memory is a valid empty table:
 * the arrays come from calloc(3) and their pages are only touched as
 * entries are used, so an idle gateway does not pay for the bound.
 * Keys are SHA-256 digests, so their first bytes are a fine hash that
 * nobody can steer.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway/ratelimit.h"

#define NSHARDS		16u
#define NIL		0u		/* indices count from 1 */
#define SWEEP_EVERY_NS	100000000ull	/* a full shard is swept at most 10/s */
#define WAIT_MAX	3600u

struct entry {
	unsigned char	 key[GW_RATEKEY_LEN];
	double		 tokens;
	uint64_t	 last;		/* ns */
	uint32_t	 next;		/* in its bucket, or in the free list */
};

struct shard {
	pthread_mutex_t	 mu;
	struct entry	*e;		/* e[i - 1] is entry i */
	uint32_t	*heads;		/* nbuckets */
	uint32_t	 free;		/* entries given back */
	uint32_t	 fresh;		/* entries never used: fresh + 1 on */
	size_t		 used;
	uint64_t	 last_sweep;
};
#define ENTRY(sh, i)	(&(sh)->e[(i) - 1])

struct ratelimit {
	double		 rate;		/* tokens per second */
	double		 burst;
	uint64_t	 refill_ns;	/* empty to full */
	size_t		 cap;		/* entries per shard */
	size_t		 nbuckets;	/* per shard */
	size_t		 nmutex;	/* shards whose mutex exists */
	struct shard	 s[NSHARDS];
};

void
gw_ratekey(const char *domain, const void *bytes, size_t len,
    unsigned char key[GW_RATEKEY_LEN])
{
	EVP_MD_CTX	*ctx;
	unsigned int	 n = 0;
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		abort();
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, domain, strlen(domain) + 1) == 1 &&
	    EVP_DigestUpdate(ctx, bytes, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == GW_RATEKEY_LEN;
	EVP_MD_CTX_free(ctx);
	/* A limiter that cannot hash must not fall back to no key. */
	if (!ok)
		abort();
}

static uint64_t
key_hash(const unsigned char *key)
{
	uint64_t	 h;

	memcpy(&h, key, sizeof(h));
	return h;
}

struct ratelimit *
ratelimit_new(double rate, double burst, size_t entries)
{
	struct ratelimit	*rl;
	struct shard		*sh;
	size_t			 i;

	if (!(rate > 0) || !(burst >= 1) || entries == 0 ||
	    entries > ((size_t)1 << 24))
		return NULL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->rate = rate;
	rl->burst = burst;
	rl->refill_ns = (uint64_t)ceil(burst / rate * 1e9);
	rl->cap = (entries + NSHARDS - 1) / NSHARDS;
	rl->nbuckets = rl->cap * 2;
	for (i = 0; i < NSHARDS; i++) {
		sh = &rl->s[i];
		if (pthread_mutex_init(&sh->mu, NULL) != 0)
			goto fail;
		rl->nmutex++;
		sh->e = calloc(rl->cap, sizeof(*sh->e));
		sh->heads = calloc(rl->nbuckets, sizeof(*sh->heads));
		if (sh->e == NULL || sh->heads == NULL)
			goto fail;
	}
	return rl;
 fail:
	ratelimit_free(rl);
	return NULL;
}

void
ratelimit_free(struct ratelimit *rl)
{
	size_t	 i;

	if (rl == NULL)
		return;
	for (i = 0; i < NSHARDS; i++) {
		if (i < rl->nmutex)
			pthread_mutex_destroy(&rl->s[i].mu);
		free(rl->s[i].e);
		free(rl->s[i].heads);
	}
	free(rl);
}

/* Drop every entry whose bucket has refilled: it equals a new one. */
static void
sweep(struct ratelimit *rl, struct shard *sh, uint64_t now)
{
	struct entry	*e;
	uint32_t	*pp, idx;
	size_t		 b;

	sh->last_sweep = now;
	for (b = 0; b < rl->nbuckets; b++) {
		pp = &sh->heads[b];
		while ((idx = *pp) != NIL) {
			e = ENTRY(sh, idx);
			if (now >= e->last && now - e->last >= rl->refill_ns) {
				*pp = e->next;
				explicit_bzero(e, sizeof(*e));
				e->next = sh->free;
				sh->free = idx;
				sh->used--;
			} else
				pp = &e->next;
		}
	}
}

static struct entry *
lookup(struct ratelimit *rl, struct shard *sh, size_t b,
    const unsigned char *key, uint64_t now)
{
	struct entry	*e;
	uint32_t	 idx;

	for (idx = sh->heads[b]; idx != NIL; idx = ENTRY(sh, idx)->next)
		if (memcmp(ENTRY(sh, idx)->key, key, GW_RATEKEY_LEN) == 0)
			return ENTRY(sh, idx);
	if (sh->free == NIL && sh->fresh == rl->cap &&
	    (sh->last_sweep == 0 || now - sh->last_sweep >= SWEEP_EVERY_NS ||
	    now < sh->last_sweep))
		sweep(rl, sh, now);
	if ((idx = sh->free) != NIL) {
		e = ENTRY(sh, idx);
		sh->free = e->next;
	} else if (sh->fresh < rl->cap) {
		idx = ++sh->fresh;
		e = ENTRY(sh, idx);
	} else
		return NULL;
	memcpy(e->key, key, GW_RATEKEY_LEN);
	e->tokens = rl->burst;
	e->last = now;
	e->next = sh->heads[b];
	sh->heads[b] = idx;
	sh->used++;
	return e;
}

static unsigned int
wait_for(const struct ratelimit *rl, double tokens)
{
	/* Less a hair, so that float dust never adds a second. */
	double	 s = ceil((1.0 - tokens) / rl->rate - 1e-6);

	if (!(s >= 1))
		return 1;
	if (s > WAIT_MAX)
		return WAIT_MAX;
	return (unsigned int)s;
}

unsigned int
ratelimit_take(struct ratelimit *rl, const unsigned char key[GW_RATEKEY_LEN],
    uint64_t now)
{
	struct shard	*sh;
	struct entry	*e;
	uint64_t	 h = key_hash(key);
	unsigned int	 wait = 0;

	sh = &rl->s[h % NSHARDS];
	pthread_mutex_lock(&sh->mu);
	if ((e = lookup(rl, sh, (size_t)((h / NSHARDS) % rl->nbuckets), key,
	    now)) == NULL) {
		/* Full of active keys: refuse rather than forget one. */
		wait = wait_for(rl, 0.0);
		goto out;
	}
	if (now > e->last) {
		e->tokens += (double)(now - e->last) / 1e9 * rl->rate;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
		e->last = now;
	}
	if (e->tokens >= 1.0 - 1e-9)
		e->tokens = e->tokens > 1.0 ? e->tokens - 1.0 : 0.0;
	else
		wait = wait_for(rl, e->tokens);
 out:
	pthread_mutex_unlock(&sh->mu);
	return wait;
}

size_t
ratelimit_count(struct ratelimit *rl)
{
	size_t	 i, n = 0;

	for (i = 0; i < NSHARDS; i++) {
		pthread_mutex_lock(&rl->s[i].mu);
		n += rl->s[i].used;
		pthread_mutex_unlock(&rl->s[i].mu);
	}
	return n;
}
