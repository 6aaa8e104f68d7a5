/*
 * vault.c: sealed column values and the stored keyring (vault.h).
 *
 * One mutex orders everything that touches the stored keyring: a save
 * (export, then a conditional write), a rotation, and the check every
 * SEAL makes afterwards.  A SEAL that ran while a save was in flight
 * therefore learns whether that save worked before its value leaves.
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "unpriv/khclient.h"
#include "unpriv/store.h"
#include "unpriv/vault.h"

struct vault {
	struct khclient	*kh;
	struct db_pool	*pool;
	pthread_mutex_t	 mtx;
	int64_t		 generation;	/* of the keyring we stored or read */
	int		 unsaved;	/* the keyholder's keyring is not stored */
	int		 stale;		/* another broker's keyring is */
};

struct vault *
vault_new(struct khclient *kh, struct db_pool *pool)
{
	struct vault	*v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->kh = kh;
	v->pool = pool;
	if ((errno = pthread_mutex_init(&v->mtx, NULL)) != 0) {
		free(v);
		return NULL;
	}
	return v;
}

void
vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	pthread_mutex_destroy(&v->mtx);
	free(v);
}

const char *
vault_strerror(int e)
{
	switch (e) {
	case VAULT_OK:
		return "done";
	case VAULT_EINVAL:
		return "value cannot be sealed";
	case VAULT_EOPEN:
		return "sealed value does not open";
	case VAULT_EUNAVAIL:
		return "keyholder or keyring unavailable";
	default:
		return "vault failure";
	}
}

/* A keyholder result as ours. */
static int
from_kh(int rv)
{
	if (rv == -1)
		return errno == EINVAL || errno == EMSGSIZE ? VAULT_EINVAL :
		    VAULT_EUNAVAIL;
	switch (rv) {
	case 0:
		return VAULT_OK;
	case KH_E_BAD_VALUE:
	case KH_E_UNKNOWN_VERSION:
		return VAULT_EOPEN;
	case KH_E_RATE:
	case KH_E_AUDIT:
	case KH_E_NO_KEYRING:
		return VAULT_EUNAVAIL;
	default:
		return VAULT_EINTERNAL;
	}
}

static int
ad_set(struct vault_ad *a, const char *purpose, const char *table,
    const char *column, const char *row)
{
	size_t	 i, n;

	memset(a, 0, sizeof(*a));
	if (row == NULL || (n = strlen(row)) == 0 || n > KH_ROW_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (row[i] < 0x20 || row[i] > 0x7e)
			return -1;
	memcpy(a->row, row, n + 1);
	a->purpose = purpose;
	a->table = table;
	a->column = column;
	return 0;
}

int
vault_ad_credential(struct vault_ad *a, const char *connection)
{
	return ad_set(a, "credential", "connections", "secrets", connection);
}

int
vault_ad_client_secret(struct vault_ad *a, const char *provider)
{
	return ad_set(a, "client_secret", "providers", "client_secret",
	    provider);
}

int
vault_ad_pkce(struct vault_ad *a, const uint8_t h[VAULT_STATE_HASH_LEN])
{
	static const char	 hex[] = "0123456789abcdef";
	char			 row[2 * VAULT_STATE_HASH_LEN + 1];
	size_t			 i;

	for (i = 0; i < VAULT_STATE_HASH_LEN; i++) {
		row[2 * i] = hex[h[i] >> 4];
		row[2 * i + 1] = hex[h[i] & 0xf];
	}
	row[2 * i] = '\0';
	return ad_set(a, "pkce", "oauth_sessions", "verifier", row);
}

/* The keyholder's view of a vault_ad (which may have been copied). */
static const struct kh_ad *
kad(const struct vault_ad *a, struct kh_ad *ad)
{
	ad->purpose = a->purpose;
	ad->table = a->table;
	ad->row = a->row;
	ad->column = a->column;
	return ad;
}

/*
 * Write blob as the stored keyring in place of the one we know.  Locked.
 * Leaves unsaved set unless it worked; sets stale, and ends the keyholder
 * channel, when another broker's keyring is there now.
 */
static void
keyring_store_locked(struct vault *v, const uint8_t *blob, size_t len)
{
	int64_t	 gen;
	int	 rv;

	v->unsaved = 1;
	rv = store_keyring_put(v->pool, blob, len, v->generation, &gen);
	switch (rv) {
	case STORE_OK:
		v->generation = gen;
		v->unsaved = 0;
		log_info("vault: keyring stored (generation %lld)",
		    (long long)gen);
		break;
	case STORE_CONFLICT:
	case STORE_EXISTS:
		v->stale = 1;
		log_warnx("vault: another broker replaced the stored keyring; "
		    "not overwriting it: restarting to load it");
		kh_client_kill(v->kh, ESTALE);
		break;
	default:
		log_warnx("vault: cannot store the keyring: %s; nothing is "
		    "sealed until it is stored", store_strerror(rv));
		break;
	}
}

/* Export the keyholder's keyring and store it.  Locked. */
static void
keyring_save_locked(struct vault *v)
{
	uint8_t	*blob;
	size_t	 len;
	int	 rv;

	v->unsaved = 1;
	if ((blob = malloc(KH_BLOB_MAX)) == NULL) {
		log_warnx("vault: keyring export: out of memory");
		return;
	}
	if ((rv = kh_keyring_export(v->kh, blob, KH_BLOB_MAX, &len)) != 0)
		log_warnx("vault: keyring export: %s", kh_strerror(rv));
	else
		keyring_store_locked(v, blob, len);
	explicit_bzero(blob, KH_BLOB_MAX);
	free(blob);
}

/* After a SEAL: may its value be handed out? */
static int
keyring_check(struct vault *v, int changed)
{
	int	 rv;

	pthread_mutex_lock(&v->mtx);
	if (!v->stale && (changed || v->unsaved))
		keyring_save_locked(v);
	rv = v->stale || v->unsaved ? VAULT_EUNAVAIL : VAULT_OK;
	pthread_mutex_unlock(&v->mtx);
	return rv;
}

int
vault_unsaved(struct vault *v)
{
	int	 rv;

	pthread_mutex_lock(&v->mtx);
	rv = v->stale || v->unsaved;
	pthread_mutex_unlock(&v->mtx);
	return rv;
}

int
vault_seal(struct vault *v, const struct vault_ad *a, const void *plain,
    size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	struct kh_ad	 ad;
	uint32_t	 flags = 0;
	int		 rv;

	*outlen = 0;
	if (len == 0 || len > KH_PLAIN_MAX || outsz < len + KH_SEAL_OVERHEAD)
		return VAULT_EINVAL;
	rv = kh_seal(v->kh, kad(a, &ad), plain, len, out, outsz, outlen,
	    &flags);
	if (rv != 0) {
		log_warnx("vault: sealing %s for %s/%s: %s", a->purpose,
		    a->table, a->row, kh_strerror(rv));
		explicit_bzero(out, len + KH_SEAL_OVERHEAD);
		*outlen = 0;
		return from_kh(rv);
	}
	if ((rv = keyring_check(v, (flags & KH_F_KEYRING_CHANGED) != 0)) !=
	    VAULT_OK) {
		explicit_bzero(out, *outlen);
		*outlen = 0;
	}
	return rv;
}

int
vault_open(struct vault *v, const struct vault_ad *a, const uint8_t *sealed,
    size_t len, void *plain, size_t plainsz, size_t *plainlen)
{
	struct kh_ad	 ad;
	int		 rv;

	*plainlen = 0;
	if (len < KH_SEAL_OVERHEAD || len > KH_SEALED_MAX) {
		log_warnx("vault: %s of %s/%s is not a sealed value",
		    a->purpose, a->table, a->row);
		return VAULT_EOPEN;
	}
	if (plainsz < len - KH_SEAL_OVERHEAD)
		return VAULT_EINVAL;
	rv = kh_open(v->kh, kad(a, &ad), sealed, len, plain, plainsz,
	    plainlen);
	/* Sealed under a version another broker added since we loaded. */
	if (rv == KH_E_UNKNOWN_VERSION && vault_keyring_refresh(v) == 1)
		rv = kh_open(v->kh, kad(a, &ad), sealed, len, plain, plainsz,
		    plainlen);
	if (rv != 0)
		log_warnx("vault: opening %s of %s/%s: %s", a->purpose,
		    a->table, a->row, kh_strerror(rv));
	return from_kh(rv);
}

int
vault_seal_json(struct vault *v, const struct vault_ad *a, const json_t *obj,
    uint8_t *out, size_t outsz, size_t *outlen)
{
	char	 buf[KH_PLAIN_MAX];
	size_t	 n;
	int	 rv;

	*outlen = 0;
	if (!json_is_object(obj))
		return VAULT_EINVAL;
	/* Returns what it needed, which may be more than it was given. */
	n = json_dumpb(obj, buf, sizeof(buf), JSON_COMPACT);
	if (n == 0 || n > sizeof(buf))
		rv = VAULT_EINVAL;
	else
		rv = vault_seal(v, a, buf, n, out, outsz, outlen);
	explicit_bzero(buf, sizeof(buf));
	return rv;
}

/* An opened plaintext (the n bytes of buf) as a JSON object; wipes them. */
static int
json_of(const struct vault_ad *a, char *buf, size_t n, json_t **obj)
{
	json_error_t	 err;

	*obj = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
	explicit_bzero(buf, n);
	/* The error text may quote the plaintext. */
	explicit_bzero(&err, sizeof(err));
	if (!json_is_object(*obj)) {
		json_decref(*obj);
		*obj = NULL;
		log_warnx("vault: %s of %s/%s is not a JSON object",
		    a->purpose, a->table, a->row);
		return VAULT_EOPEN;
	}
	return VAULT_OK;
}

int
vault_open_json(struct vault *v, const struct vault_ad *a,
    const uint8_t *sealed, size_t len, json_t **obj)
{
	char		 buf[KH_PLAIN_MAX];
	size_t		 n;
	int		 rv;

	*obj = NULL;
	if ((rv = vault_open(v, a, sealed, len, buf, sizeof(buf), &n)) !=
	    VAULT_OK)
		return rv;
	return json_of(a, buf, n, obj);
}

struct kh_aopen *
vault_open_start(struct vault *v, const struct vault_ad *a,
    const uint8_t *sealed, size_t len, void (*cb)(void *, struct kh_aopen *),
    void *arg)
{
	struct kh_ad	 ad;

	if (len < KH_SEAL_OVERHEAD || len > KH_SEALED_MAX) {
		log_warnx("vault: %s of %s/%s is not a sealed value",
		    a->purpose, a->table, a->row);
		errno = EINVAL;
		return NULL;
	}
	return kh_open_start(v->kh, kad(a, &ad), sealed, len, cb, arg);
}

int
vault_open_finish_json(struct vault *v, const struct vault_ad *a,
    const uint8_t *sealed, size_t len, struct kh_aopen *h, json_t **obj)
{
	char		 buf[KH_PLAIN_MAX];
	size_t		 n;
	int		 rv;

	*obj = NULL;
	rv = kh_open_finish(h, buf, sizeof(buf), &n);
	/* Sealed under a version another broker added: the slow way. */
	if (rv == KH_E_UNKNOWN_VERSION)
		return vault_open_json(v, a, sealed, len, obj);
	if (rv != 0) {
		log_warnx("vault: opening %s of %s/%s: %s", a->purpose,
		    a->table, a->row, kh_strerror(rv));
		return from_kh(rv);
	}
	return json_of(a, buf, n, obj);
}

int
vault_seal_str(struct vault *v, const struct vault_ad *a, const char *s,
    uint8_t *out, size_t outsz, size_t *outlen)
{
	*outlen = 0;
	if (s == NULL)
		return VAULT_EINVAL;
	return vault_seal(v, a, s, strlen(s), out, outsz, outlen);
}

int
vault_open_str(struct vault *v, const struct vault_ad *a,
    const uint8_t *sealed, size_t len, char *out, size_t outsz)
{
	size_t	 n;
	int	 rv;

	if (outsz == 0)
		return VAULT_EINVAL;
	out[0] = '\0';
	if ((rv = vault_open(v, a, sealed, len, out, outsz - 1, &n)) !=
	    VAULT_OK)
		return rv;
	if (memchr(out, '\0', n) != NULL) {
		explicit_bzero(out, n);
		log_warnx("vault: %s of %s/%s is not a string", a->purpose,
		    a->table, a->row);
		return VAULT_EOPEN;
	}
	out[n] = '\0';
	return VAULT_OK;
}

uint32_t
vault_key_version(const uint8_t *s, size_t len)
{
	if (len < KH_SEAL_OVERHEAD || memcmp(s, "DRM\x01", 4) != 0)
		return 0;
	return (uint32_t)s[4] << 24 | (uint32_t)s[5] << 16 |
	    (uint32_t)s[6] << 8 | (uint32_t)s[7];
}

/* The database has a keyring: give it to the keyholder. */
static int
keyring_load(struct vault *v, const uint8_t *blob, size_t len, int64_t gen)
{
	int	 rv;

	rv = kh_keyring_load(v->kh, blob, len);
	if (rv != 0 && rv != KH_E_HAVE_KEYRING) {
		log_warnx("vault: loading the stored keyring: %s%s",
		    kh_strerror(rv), rv == KH_E_BAD_KEYRING ? " (it was "
		    "sealed under another root key)" : "");
		return from_kh(rv) == VAULT_OK ? VAULT_EINTERNAL : from_kh(rv);
	}
	v->generation = gen;
	if (rv == KH_E_HAVE_KEYRING)
		/* dromosd restarts with us, so this is a test harness. */
		log_warnx("vault: the keyholder holds a keyring already; "
		    "assuming it is the stored one (generation %lld)",
		    (long long)gen);
	else
		log_info("vault: keyring loaded from the database "
		    "(generation %lld)", (long long)gen);
	return VAULT_OK;
}

/* The database has none: make the first one and store it. */
static int
keyring_first(struct vault *v, struct store_tx *tx, uint8_t *blob)
{
	size_t	 len;
	int64_t	 gen;
	int	 rv;

	rv = kh_keyring_init(v->kh, blob, KH_BLOB_MAX, &len);
	if (rv == KH_E_HAVE_KEYRING)
		rv = kh_keyring_export(v->kh, blob, KH_BLOB_MAX, &len);
	if (rv != 0) {
		log_warnx("vault: making a keyring: %s", kh_strerror(rv));
		store_tx_rollback(tx);
		return VAULT_EUNAVAIL;
	}
	if ((rv = store_keyring_create(tx, blob, len, &gen)) != STORE_OK) {
		store_tx_rollback(tx);
		log_warnx("vault: storing the new keyring: %s",
		    store_strerror(rv));
		return VAULT_EUNAVAIL;
	}
	if ((rv = store_tx_commit(tx)) != STORE_OK) {
		log_warnx("vault: storing the new keyring: %s",
		    store_strerror(rv));
		return VAULT_EUNAVAIL;
	}
	v->generation = gen;
	log_info("vault: new keyring stored in the database");
	return VAULT_OK;
}

int
vault_keyring_start(struct vault *v)
{
	struct store_tx	*tx;
	uint8_t		*blob;
	size_t		 len;
	int64_t		 gen;
	int		 rv;

	if ((blob = malloc(KH_BLOB_MAX)) == NULL)
		return VAULT_EINTERNAL;
	if ((rv = store_tx_begin(v->pool, &tx)) != STORE_OK) {
		log_warnx("vault: keyring: %s", store_strerror(rv));
		free(blob);
		return VAULT_EUNAVAIL;
	}
	/* Held to the end of the transaction: one broker at a time. */
	if ((rv = store_keyring_lock(tx)) == STORE_OK)
		rv = store_keyring_read(tx, blob, KH_BLOB_MAX, &len, &gen);
	if (rv == STORE_OK) {
		rv = keyring_load(v, blob, len, gen);
		store_tx_rollback(tx);
	} else if (rv == STORE_NOTFOUND)
		rv = keyring_first(v, tx, blob);
	else {
		log_warnx("vault: reading the keyring: %s", store_strerror(rv));
		store_tx_rollback(tx);
		rv = VAULT_EUNAVAIL;
	}
	explicit_bzero(blob, KH_BLOB_MAX);
	free(blob);
	return rv;
}

/*
 * Another broker may have rotated and stored a newer keyring: if the
 * database holds a later generation than ours, hand it to the keyholder,
 * which takes it only if it continues the one it holds.  Not while we
 * hold changes of our own that are not stored: then we are the stale one
 * (keyring_store_locked).
 */
int
vault_keyring_refresh(struct vault *v)
{
	uint8_t	*blob;
	size_t	 len;
	int64_t	 gen;
	int	 rv, loaded = 0;

	if (v->pool == NULL)		/* a vault without a database */
		return 0;
	if ((blob = malloc(KH_BLOB_MAX)) == NULL)
		return -1;
	pthread_mutex_lock(&v->mtx);
	if (v->stale || v->unsaved)
		goto done;
	if ((rv = store_keyring_get(v->pool, blob, KH_BLOB_MAX, &len,
	    &gen)) != STORE_OK) {
		log_warnx("vault: reading the keyring: %s",
		    store_strerror(rv));
		goto done;
	}
	if (gen == v->generation)
		goto done;
	if ((rv = kh_keyring_load(v->kh, blob, len)) != 0) {
		log_warnx("vault: the stored keyring (generation %lld) does "
		    "not continue ours: %s", (long long)gen, kh_strerror(rv));
		goto done;
	}
	log_info("vault: keyring generation %lld loaded (was %lld)",
	    (long long)gen, (long long)v->generation);
	v->generation = gen;
	loaded = 1;
done:
	pthread_mutex_unlock(&v->mtx);
	explicit_bzero(blob, KH_BLOB_MAX);
	free(blob);
	return loaded;
}

int
vault_key_rotate(struct vault *v, uint32_t *version)
{
	struct kh_status	*st = NULL;
	uint8_t			*blob;
	size_t			 len;
	int			 rv;

	if (version != NULL)
		*version = 0;
	if ((blob = malloc(KH_BLOB_MAX)) == NULL)
		return VAULT_EINTERNAL;
	pthread_mutex_lock(&v->mtx);
	if (v->stale)
		rv = VAULT_EUNAVAIL;
	else if ((rv = kh_key_rotate(v->kh, blob, KH_BLOB_MAX, &len)) != 0) {
		log_warnx("vault: key rotation: %s", kh_strerror(rv));
		rv = from_kh(rv) == VAULT_OK ? VAULT_EINTERNAL : from_kh(rv);
	} else {
		keyring_store_locked(v, blob, len);
		rv = v->unsaved || v->stale ? VAULT_EUNAVAIL : VAULT_OK;
	}
	pthread_mutex_unlock(&v->mtx);
	explicit_bzero(blob, KH_BLOB_MAX);
	free(blob);
	if (rv == VAULT_OK && version != NULL &&
	    (st = malloc(sizeof(*st))) != NULL) {
		if (kh_status(v->kh, st) == 0)
			*version = st->active;
		free(st);
	}
	return rv;
}
