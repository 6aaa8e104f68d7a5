/*
 * Token buckets in memory, one table per limit (per client, per
 * connection id, refresh).  A key is a SHA-256 digest made by the caller
 * (gw_ratekey): the table never holds a token or any other secret.
 *
 * The table has a fixed number of entries, split into shards with a
 * mutex each.  When a shard is full, entries idle long enough for their
 * bucket to be full again are dropped (forgetting them loses nothing:
 * a new entry starts full); if none is, a new key is refused as limited
 * until one is: under a flood of keys the gateway fails closed rather
 * than forget whom it is limiting.
 */
#ifndef DROMOS_GATEWAY_RATELIMIT_H
#define DROMOS_GATEWAY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define GW_RATEKEY_LEN	32

struct ratelimit;

/*
 * rate tokens a second (> 0), burst tokens at most (>= 1), entries at
 * most (rounded up to a multiple of the shard count).  NULL on failure.
 */
struct ratelimit	*ratelimit_new(double rate, double burst,
			    size_t entries);
void			 ratelimit_free(struct ratelimit *);

/*
 * Take one token for key at now_ns (CLOCK_MONOTONIC nanoseconds).
 * Returns 0 when the request may go, else the seconds to wait (>= 1),
 * for Retry-After.
 */
unsigned int		 ratelimit_take(struct ratelimit *,
			    const unsigned char key[GW_RATEKEY_LEN],
			    uint64_t now_ns);

/* Entries in use, for tests and metrics. */
size_t			 ratelimit_count(struct ratelimit *);

/*
 * key = SHA-256(domain || 0x00 || bytes): "client" with an Authorization
 * value or a peer address, "connection" with a connection id.
 */
void			 gw_ratekey(const char *domain, const void *bytes,
			    size_t len, unsigned char key[GW_RATEKEY_LEN]);

#endif /* DROMOS_GATEWAY_RATELIMIT_H */
