/*
 * The database's change announcements (unpriv/sql/003_change_notify.sql)
 * turned into cache forgets.
 *
 * One thread keeps its own connection LISTENing on channel dromos_change
 * and, for each "table:id" that arrives, forgets id in that table's cache
 * (or clears the cache, for a cache not keyed by id or an empty id).
 * Until the first LISTEN succeeds, and whenever the connection is lost,
 * every cache is held (cache_hold): changes made meanwhile would go
 * unannounced, so nothing is served from memory until the channel is back
 * and the caches have been emptied.
 */
#ifndef DROMOS_UNPRIV_NOTIFY_H
#define DROMOS_UNPRIV_NOTIFY_H

#include <stddef.h>

#define NOTIFY_CHANNEL		"dromos_change"
#define NOTIFY_RETRY_MS		1000	/* between attempts to reconnect */
#define NOTIFY_TARGETS_MAX	8

struct cache;
struct db_pool;

struct notify_target {
	const char	*table;
	struct cache	*cache;
	int		 by_id;		/* 0: any change clears the cache */
};

struct notify;

/* NULL (logged) if the thread cannot start.  targets are copied. */
struct notify	*notify_start(struct db_pool *,
		    const struct notify_target *, size_t n);
void		 notify_stop(struct notify *);

/* Apply one announcement's payload to targets (exported for tests). */
void		 notify_apply(const struct notify_target *, size_t n,
		    const char *payload);

/* Nonzero while the channel is up and the caches serve (for /ready). */
int		 notify_listening(struct notify *);

#endif /* DROMOS_UNPRIV_NOTIFY_H */
