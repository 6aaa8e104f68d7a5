/*
 * What every part of the broker shares: the keyholder channel, the
 * database pool, the read caches, the access-log queue, and the settings
 * from dromosd.  The caches and the queue may be NULL (unit tests): no
 * caching, and access-log lines written at once.
 */
#ifndef DROMOS_UNPRIV_BROKER_H
#define DROMOS_UNPRIV_BROKER_H

#include "unpriv/khclient.h"

struct accesslog;
struct cache;
struct db_pool;
struct vault;

struct broker {
	struct khclient	*kh;
	struct db_pool	*db;
	struct vault	*vault;
	struct cache	*providers;	/* cache.h */
	struct cache	*clients;	/* auth.h */
	struct cache	*conns;		/* cache.h: connection rows */
	struct notify	*notify;	/* notify.h: what others change */
	struct accesslog *alog;		/* accesslog.h */
	char		 public_url[KH_URL_MAX + 1];	/* the gateway's */
	char		 returns[KH_RETURNS_MAX + 1];	/* allowed return URLs */
};

/* Nonzero once the keyholder channel has failed: answer only 503. */
static inline int
broker_keyholder_dead(struct broker *b)
{
	return kh_client_dead(b->kh) != 0;
}

#endif /* DROMOS_UNPRIV_BROKER_H */
