/*
 * rewrap.c: re-seal every stored secret under the active key version,
 * online (dromosctl key rewrap, DESIGN §4).
 *
 * Rows are taken in batches in id order and each is swapped on its own
 * only if it still holds what was read: nothing is locked for longer than
 * one UPDATE, and a writer that replaced a row meanwhile has sealed it
 * under the active version already.  Every OPEN and SEAL goes through the
 * keyholder and into its audit chain like any other.  OAuth states in
 * flight (oauth_sessions.verifier) live minutes and are left to expire.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "unpriv/broker.h"
#include "unpriv/cache.h"
#include "unpriv/khclient.h"
#include "unpriv/rewrap.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

_Static_assert(STORE_SEALED_MAX == VAULT_SEALED_MAX,
    "store.h and the keyholder protocol disagree on sealed sizes");

/* What one kind of row needs: its AD, and what to forget after a swap. */
struct kind {
	enum store_sealed_kind	 k;
	const char		*what;
	int			(*ad)(struct vault_ad *, const char *);
};

static const struct kind kinds[] = {
	{ STORE_SEALED_CONNECTION, "connection", vault_ad_credential },
	{ STORE_SEALED_CLIENT_SECRET, "provider client_secret",
	    vault_ad_client_secret },
};

struct work {
	struct broker		*b;
	struct rewrap_result	*res;
	uint8_t			*plain;		/* VAULT_PLAIN_MAX */
	uint8_t			*sealed;	/* VAULT_SEALED_MAX */
};

static void
forget(struct broker *b, enum store_sealed_kind k, const char *id)
{
	if (k == STORE_SEALED_CONNECTION)
		cache_connection_forget(b->conns, id);
	else
		cache_provider_forget(b->providers, id);
}

/* One row: open, seal again, swap.  -1 stops the run (keyholder, DB). */
static int
one(struct work *w, const struct kind *kd, const struct store_sealed *row)
{
	struct vault_ad	 ad;
	size_t		 plen, slen;
	int		 rv;

	if (kd->ad(&ad, row->id) == -1 || vault_open(w->b->vault, &ad,
	    row->sealed, row->len, w->plain, VAULT_PLAIN_MAX, &plen) != 0) {
		/* Logged by the vault; the keyholder audited the refusal. */
		log_warnx("rewrap: %s %s does not open; left as it is",
		    kd->what, row->id);
		w->res->failed++;
		return 0;
	}
	rv = vault_seal(w->b->vault, &ad, w->plain, plen, w->sealed,
	    VAULT_SEALED_MAX, &slen);
	explicit_bzero(w->plain, plen);
	if (rv != VAULT_OK) {
		w->res->error = "the keyholder cannot seal now";
		return -1;
	}
	rv = store_sealed_swap(w->b->db, kd->k, row->id, row->sealed,
	    row->len, w->sealed, slen, vault_key_version(w->sealed, slen));
	explicit_bzero(w->sealed, slen);
	forget(w->b, kd->k, row->id);
	if (rv == STORE_NOTFOUND)
		w->res->changed++;
	else if (rv != STORE_OK) {
		w->res->error = "the database refused an update";
		return -1;
	}
	else if (kd->k == STORE_SEALED_CONNECTION)
		w->res->connections++;
	else
		w->res->providers++;
	return 0;
}

static int
kind_all(struct work *w, const struct kind *kd, struct store_sealed *rows)
{
	char	 after[STORE_ID_MAX + 1] = "";
	size_t	 n, i;
	int	 rv = 0;

	do {
		if (store_sealed_batch(w->b->db, kd->k, w->res->version,
		    after, rows, REWRAP_BATCH, &n) != STORE_OK) {
			w->res->error = "the database cannot be read";
			return -1;
		}
		for (i = 0; i < n && rv == 0; i++)
			rv = one(w, kd, &rows[i]);
		for (i = 0; i < n; i++)
			explicit_bzero(rows[i].sealed, rows[i].len);
		if (n > 0)
			memcpy(after, rows[n - 1].id, sizeof(after));
	} while (rv == 0 && n == REWRAP_BATCH);
	return rv;
}

int
rewrap_all(struct broker *b, struct rewrap_result *res)
{
	struct kh_status	*st;
	struct store_sealed	*rows;
	struct work		 w;
	char			 counts[160];
	size_t			 i;
	int			 rv = 0;

	memset(res, 0, sizeof(*res));
	st = malloc(sizeof(*st));
	rows = calloc(REWRAP_BATCH, sizeof(*rows));
	w.plain = malloc(VAULT_PLAIN_MAX);
	w.sealed = malloc(VAULT_SEALED_MAX);
	if (st == NULL || rows == NULL || w.plain == NULL || w.sealed == NULL) {
		res->error = "out of memory";
		rv = -1;
		goto done;
	}
	if (kh_status(b->kh, st) != 0) {
		res->error = "the keyholder cannot say its active version";
		rv = -1;
		goto done;
	}
	res->version = st->active;
	w.b = b;
	w.res = res;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && rv == 0; i++)
		rv = kind_all(&w, &kinds[i], rows);
	snprintf(counts, sizeof(counts), "version %u: %zu connections, "
	    "%zu provider secrets, %zu changed meanwhile, %zu do not open",
	    res->version, res->connections, res->providers, res->changed,
	    res->failed);
	log_kv(rv == 0 ? LOGL_INFO : LOGL_WARN, "rewrap", "result", counts,
	    "error", res->error != NULL ? res->error : "none", NULL);
done:
	free(st);
	free(rows);
	free(w.plain);
	free(w.sealed);
	return rv;
}
