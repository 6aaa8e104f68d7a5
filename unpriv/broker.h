/*
 * What every part of the broker shares: the keyholder channel, the
 * database pool, and the settings from dromosd.
 */
#ifndef DROMOS_UNPRIV_BROKER_H
#define DROMOS_UNPRIV_BROKER_H

#include "unpriv/khclient.h"

struct db_pool;
struct vault;

struct broker {
	struct khclient	*kh;
	struct db_pool	*db;
	struct vault	*vault;
	char		 public_url[KH_URL_MAX + 1];	/* the gateway's */
};

/* Nonzero once the keyholder channel has failed: answer only 503. */
static inline int
broker_keyholder_dead(struct broker *b)
{
	return kh_client_dead(b->kh) != 0;
}

#endif /* DROMOS_UNPRIV_BROKER_H */
