/*
 * The vault: sealing and opening the values of sealed columns through the
 * keyholder, and keeping the keyring in the database.
 *
 * A sealed value is bound to where it lives (DESIGN §4): purpose, table,
 * row id and column are its associated data, so a value copied to another
 * row or column does not open.  The vault_ad_* functions are the only
 * place those names are spelt:
 *
 *	credential	connections	connection id		secrets
 *	client_secret	providers	provider id		client_secret
 *	pkce		oauth_sessions	hex of the state hash	verifier
 *
 * Plaintexts live in caller buffers or, for the JSON and string variants,
 * in a buffer of the vault's that is wiped before returning.
 *
 * The keyring.  vault_keyring_start() gives a fresh keyholder the keyring
 * stored in the database, or makes the first one and stores it.  When a
 * SEAL reports that the keyholder changed its keyring (it rotates by
 * itself well before a key is worn out), the vault exports the keyring
 * and stores it before the sealed value is handed out: a value is never
 * returned sealed under a key version the database does not hold.  While
 * that store fails, every SEAL fails (VAULT_EUNAVAIL) and the vault tries
 * again on the next one.  If another broker replaced the stored keyring
 * meanwhile, the two keyholders' keyrings have diverged: the vault refuses
 * to overwrite it, seals nothing more, and ends the keyholder channel
 * (kh_client_kill ESTALE) so that the broker exits and restarts with the
 * stored keyring.
 *
 * All functions are thread-safe.
 */
#ifndef DROMOS_UNPRIV_VAULT_H
#define DROMOS_UNPRIV_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "unpriv/khclient.h"

#define VAULT_SEALED_MAX	KH_SEALED_MAX
#define VAULT_PLAIN_MAX		KH_PLAIN_MAX
#define VAULT_STATE_HASH_LEN	32

enum vault_err {
	VAULT_OK = 0,
	VAULT_EINVAL = -1,	/* empty, too big, not encodable, bad AD */
	VAULT_EOPEN = -2,	/* does not open (tampered, moved, unknown
				   key version) or is not what it should be */
	VAULT_EUNAVAIL = -3,	/* keyholder busy or gone, keyring unsaved:
				   503 */
	VAULT_EINTERNAL = -4,
};

/* Where a value lives: its associated data.  Safe to copy. */
struct vault_ad {
	const char	*purpose;
	const char	*table;
	const char	*column;
	char		 row[KH_ROW_MAX + 1];
};

struct db_pool;
struct vault;

/* The vault over a keyholder channel and a pool; NULL on ENOMEM. */
struct vault	*vault_new(struct khclient *, struct db_pool *);
void		 vault_free(struct vault *);

const char	*vault_strerror(int);

/*
 * The associated data of each sealed column.  -1 if the id cannot be a
 * row id (empty, longer than KH_ROW_MAX, not printable ASCII).
 */
int	 vault_ad_credential(struct vault_ad *, const char *connection);
int	 vault_ad_client_secret(struct vault_ad *, const char *provider);
int	 vault_ad_pkce(struct vault_ad *,
	    const uint8_t state_hash[VAULT_STATE_HASH_LEN]);

/*
 * Seal 1..VAULT_PLAIN_MAX bytes into out (room for VAULT_SEALED_MAX);
 * open a sealed value into plain (room for its length minus the
 * overhead; VAULT_PLAIN_MAX always suffices).  On failure the outputs are
 * zeroed.
 */
int	 vault_seal(struct vault *, const struct vault_ad *, const void *plain,
	    size_t len, uint8_t *out, size_t outsz, size_t *outlen);
int	 vault_open(struct vault *, const struct vault_ad *,
	    const uint8_t *sealed, size_t len, void *plain, size_t plainsz,
	    size_t *plainlen);

/*
 * A JSON object, serialised compactly (at most VAULT_PLAIN_MAX bytes);
 * opening requires an object and returns a new reference.
 */
int	 vault_seal_json(struct vault *, const struct vault_ad *,
	    const json_t *obj, uint8_t *out, size_t outsz, size_t *outlen);
int	 vault_open_json(struct vault *, const struct vault_ad *,
	    const uint8_t *sealed, size_t len, json_t **obj);
/*
 * vault_open_json() without a thread waiting: kh_open_start()'s contract
 * (khclient.h).  The finish, on a thread that may block, takes the same
 * a, sealed and len again: a value sealed under a key version this
 * broker has not loaded yet is opened the slow way, as vault_open() does.
 */
struct kh_aopen;
struct kh_aopen	*vault_open_start(struct vault *, const struct vault_ad *,
		    const uint8_t *sealed, size_t len,
		    void (*cb)(void *, struct kh_aopen *), void *arg);
int		 vault_open_finish_json(struct vault *,
		    const struct vault_ad *, const uint8_t *sealed, size_t len,
		    struct kh_aopen *, json_t **);

/*
 * A string (no NUL inside); opening NUL-terminates it in out, which needs
 * room for the string and its NUL (VAULT_PLAIN_MAX + 1 always suffices).
 */
int	 vault_seal_str(struct vault *, const struct vault_ad *, const char *s,
	    uint8_t *out, size_t outsz, size_t *outlen);
int	 vault_open_str(struct vault *, const struct vault_ad *,
	    const uint8_t *sealed, size_t len, char *out, size_t outsz);

/* The key version in a sealed value's header; 0 if it is not one. */
uint32_t vault_key_version(const uint8_t *sealed, size_t len);

/*
 * At start, after migrations: load the stored keyring into the keyholder,
 * or make and store the first one.  Brokers starting together against one
 * database take turns (an advisory lock), so exactly one makes it.
 * VAULT_OK, or an error (logged) after which the broker must exit.
 */
int	 vault_keyring_start(struct vault *);

/*
 * dromosctl key rotate: a new key version, stored before it is used for
 * anything the database keeps.  *version (may be NULL) gets its number.
 */
int	 vault_key_rotate(struct vault *, uint32_t *version);

/*
 * Load a later keyring another broker stored (after its rotation), if the
 * database has one: 1 when loaded, 0 when there was nothing newer or it
 * could not be loaded (logged), -1 on ENOMEM.  vault_open() calls it when
 * a value names a key version the keyholder lacks, and retries once.
 */
int	 vault_keyring_refresh(struct vault *);

/* Nonzero once the keyring could not be stored: not ready. */
int	 vault_unsaved(struct vault *);

#endif /* DROMOS_UNPRIV_VAULT_H */
