/*
 * The keyring: data-encryption keys by version (Vault's "terms"), each 32
 * random bytes in locked memory (secmem.h), with a count of the seals made
 * under it.  New seals use the active (newest) version; every version still
 * opens what it sealed.
 *
 * Rotation: keyring_rotate() adds a version and makes it active.  A seal
 * that finds the active version at its rotation threshold (2^30 by default,
 * a quarter of the 2^32 random-nonce limit) rotates first, by itself.  If it
 * cannot (the keyring is full), sealing continues under the old version
 * until KEYRING_SEAL_LIMIT and then fails.
 *
 * At rest the keyring is one blob sealed under the root key (aead.h format,
 * key version 0, associated data purpose "keyring", table "keyring", row
 * "root", column "blob").  The broker stores it in PostgreSQL and cannot
 * read it.  The plaintext inside, all integers big-endian:
 *
 *	offset	size	field
 *	0	4	magic "DRKR"
 *	4	1	format, 0x01
 *	5	8	keyring creation time, seconds since the epoch
 *	13	4	active version
 *	17	2	count, 1..KEYRING_MAX_VERSIONS
 *	19	52*count	per version, ascending:
 *			u32 version (>= 1), u64 created, u64 seals, key[32]
 *
 * A blob parses only if it is exactly that long, versions are strictly
 * ascending and nonzero, the active version is the last, seal counts are
 * at most KEYRING_SEAL_LIMIT and times fit in an int64_t.
 *
 * KEYRING_MAX_VERSIONS keeps the sealed blob (KEYRING_BLOB_MAX) inside one
 * 16 KiB imsg, and all keys in one small locked allocation.
 *
 * Seal counts are only as fresh as the last blob the broker stored: a
 * broker that replays an old blob winds the counts back.  The default
 * threshold leaves three quarters of the nonce budget for that.
 */
#ifndef DROMOS_PRIV_KEYRING_H
#define DROMOS_PRIV_KEYRING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "priv/aead.h"

#define KEYRING_MAX_VERSIONS	256
#define KEYRING_ROTATE_DEFAULT	((uint64_t)1 << 30)
#define KEYRING_SEAL_LIMIT	((uint64_t)1 << 31)
#define KEYRING_HDRLEN		19
#define KEYRING_ENTLEN		(4 + 8 + 8 + AEAD_KEYLEN)
#define KEYRING_PLAIN_MAX \
	(KEYRING_HDRLEN + KEYRING_MAX_VERSIONS * KEYRING_ENTLEN)
#define KEYRING_BLOB_MAX	(KEYRING_PLAIN_MAX + AEAD_OVERHEAD)

struct keyring;

struct keyring_status {
	uint32_t	 version;
	uint64_t	 seals;
	int64_t		 created;	/* seconds since the epoch */
};

/* A new keyring with one fresh version (1), or NULL (logged). */
struct keyring	*keyring_new(void);
void		 keyring_free(struct keyring *);

/*
 * Add a version with a fresh key and make it active; *version (if not
 * NULL) gets its number.  0, or -1 if the keyring is full or no random
 * bytes could be had.
 */
int		 keyring_rotate(struct keyring *, uint32_t *version);

/* Rotate when the active version has made n seals (1..KEYRING_SEAL_LIMIT). */
int		 keyring_set_rotate_threshold(struct keyring *, uint64_t n);

uint32_t	 keyring_active(const struct keyring *);
int64_t		 keyring_created(const struct keyring *);

/*
 * Nonzero for a new keyring, and once a loaded or saved one rotated
 * (manually or by itself): time to give the broker a new blob.  Seal
 * counts alone do not set it; the keyholder saves for them as it sees fit.
 */
int		 keyring_needs_save(const struct keyring *);

/*
 * Up to max entries, oldest first, into st (may be NULL if max is 0).
 * Returns how many versions there are.
 */
size_t		 keyring_status(const struct keyring *,
		    struct keyring_status *st, size_t max);

/*
 * For aead_seal(): the active key, after counting one seal against it and
 * rotating if it reached the threshold.  -1 if no version may seal.
 */
int		 keyring_seal_key(struct keyring *, uint32_t *version,
		    const uint8_t **key);

/*
 * 1 if newer was made from kr by rotation (every version of kr, same key,
 * same creation time), and then newer takes kr's rotation threshold and
 * the larger seal count of each version both have; else 0, newer as it was.
 */
int		 keyring_succeeds(struct keyring *newer,
		    const struct keyring *kr);

/* For aead_open(): the key of a version, or NULL if there is none. */
const uint8_t	*keyring_key(const struct keyring *, uint32_t version);

/*
 * Seal the whole keyring under the root key into out (KEYRING_BLOB_MAX
 * bytes will always do).  Clears keyring_needs_save().  An aead.h result.
 */
int		 keyring_save(struct keyring *, const uint8_t root[AEAD_KEYLEN],
		    uint8_t *out, size_t outsz, size_t *outlen);

/*
 * Open and parse a blob from the broker: hostile bytes.  *krp gets a new
 * keyring.  0; an aead.h result for the seal (AEAD_ERR_MALFORMED,
 * AEAD_ERR_VERSION unless key version 0, AEAD_ERR_AUTH); AEAD_ERR_MALFORMED
 * for a plaintext that does not parse; AEAD_ERR_INTERNAL without memory.
 */
int		 keyring_load(const uint8_t root[AEAD_KEYLEN],
		    const uint8_t *blob, size_t len, struct keyring **krp);

/*
 * The plaintext layer alone, for keyring_save/load, the tests and the fuzz
 * target.  keyring_encode() writes key bytes to out: give it key memory and
 * zero it after.  keyring_decode() returns 0, AEAD_ERR_MALFORMED or
 * AEAD_ERR_INTERNAL (no memory).
 */
int		 keyring_encode(const struct keyring *, uint8_t *out,
		    size_t outsz, size_t *outlen);
int		 keyring_decode(const uint8_t *plain, size_t len,
		    struct keyring **krp);

#endif /* DROMOS_PRIV_KEYRING_H */
