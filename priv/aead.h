/*
 * AES-256-GCM for the keyholder: the sealed-value format of DESIGN §4 and
 * the associated data that binds a value to where it lives.
 *
 * A sealed value (36 bytes longer than its plaintext):
 *
 *	offset	size	field
 *	0	3	magic "DRM"
 *	3	1	format, 0x01
 *	4	4	key version, unsigned big-endian (0 is the root key,
 *			used only for the keyring blob; keyring versions
 *			start at 1)
 *	8	12	nonce, random for every seal (getrandom(2))
 *	20	n	ciphertext
 *	20+n	16	GCM tag
 *
 * The associated data is never stored; both sides rebuild it:
 *
 *	"DRM" 0x01			the magic and format (4 bytes)
 *	u16be len, purpose		1..64 bytes of [a-z0-9_]
 *	u16be len, table		1..64 bytes of [a-z0-9_]
 *	u16be len, row id		1..128 printable ASCII bytes (0x20..0x7e)
 *	u16be len, column		1..64 bytes of [a-z0-9_]
 *	u32be key version
 *
 * Every field carries its length, so ("ab", "c") and ("a", "bc") differ, and
 * every header byte is either checked exactly (magic, format) or
 * authenticated (version), so a value moved to another row, column, table,
 * purpose or key version does not open.
 *
 * Random 96-bit nonces are safe for 2^32 seals under one key (NIST SP
 * 800-38D §8.3); keyring.c rotates long before that.
 */
#ifndef DROMOS_PRIV_AEAD_H
#define DROMOS_PRIV_AEAD_H

#include <stddef.h>
#include <stdint.h>

struct keyring;

#define AEAD_KEYLEN	32
#define AEAD_NONCELEN	12
#define AEAD_NONCE_MAX	128
#define AEAD_TAGLEN	16
#define AEAD_HDRLEN	(3 + 1 + 4 + AEAD_NONCELEN)	/* up to ciphertext */
#define AEAD_OVERHEAD	(AEAD_HDRLEN + AEAD_TAGLEN)	/* 36 */
#define AEAD_FORMAT	0x01
#define AEAD_ROOT_VERSION 0u

#define AEAD_NAME_MAX	64	/* purpose, table, column */
#define AEAD_ROW_MAX	128	/* row id */
#define AEAD_AD_MAX	(4 + 4 * 2 + 3 * AEAD_NAME_MAX + AEAD_ROW_MAX + 4)

/* Largest plaintext any function here accepts (OpenSSL counts in int). */
#define AEAD_MAX_PLAINTEXT	((size_t)(1 << 30))

/* Results: 0 or one of these.  aead_strerror() names them. */
enum aead_err {
	AEAD_OK = 0,
	AEAD_ERR_MALFORMED = -1,	/* not a sealed value: short, bad magic/format */
	AEAD_ERR_VERSION = -2,		/* well formed, but no such key version */
	AEAD_ERR_AUTH = -3,		/* tag mismatch: wrong key, AD or tampered */
	AEAD_ERR_FIELD = -4,		/* purpose/table/row/column not allowed */
	AEAD_ERR_SPACE = -5,		/* output buffer too small, input too long */
	AEAD_ERR_EXHAUSTED = -6,	/* key version used up and cannot rotate */
	AEAD_ERR_INTERNAL = -7,		/* OpenSSL or getrandom failed */
};

const char *aead_strerror(int);

/*
 * Warm OpenSSL up (fetch AES-256-GCM) and run a known-answer test, before
 * the keyholder enters its sandbox.  0, or -1 (logged) if the test fails.
 */
int	 aead_init(void);

/*
 * Bare AES-256-GCM with a 16-byte tag and a nonce of 1..AEAD_NONCE_MAX
 * bytes (GCM hashes nonces other than 12 bytes; 128 is OpenSSL 3's limit),
 * for Wycheproof and the functions below.  out has room for inlen bytes and
 * may equal in.  On any failure out (inlen bytes) is zeroed, so
 * aead_decrypt() lets no unauthenticated plaintext escape.
 * 0, AEAD_ERR_AUTH (decrypt only), AEAD_ERR_SPACE or AEAD_ERR_INTERNAL.
 */
int	 aead_encrypt(const uint8_t key[AEAD_KEYLEN], const uint8_t *nonce,
	    size_t noncelen, const uint8_t *aad, size_t aadlen,
	    const uint8_t *in, size_t inlen, uint8_t *out,
	    uint8_t tag[AEAD_TAGLEN]);
int	 aead_decrypt(const uint8_t key[AEAD_KEYLEN], const uint8_t *nonce,
	    size_t noncelen, const uint8_t *aad, size_t aadlen,
	    const uint8_t *in, size_t inlen, const uint8_t tag[AEAD_TAGLEN],
	    uint8_t *out);

/*
 * The associated data above into ad (AEAD_AD_MAX bytes); *adlen gets its
 * length.  0 or AEAD_ERR_FIELD.
 */
int	 aead_build_ad(const char *purpose, const char *table, const char *row,
	    const char *column, uint32_t version, uint8_t *ad, size_t *adlen);

/*
 * Check the fixed header of a sealed value without a key: length at least
 * AEAD_OVERHEAD, magic, format.  Stores the key version.
 * 0 or AEAD_ERR_MALFORMED.
 */
int	 aead_parse_header(const uint8_t *sealed, size_t len,
	    uint32_t *version);

/*
 * Seal under the keyring's active version (counted; rotated automatically,
 * see keyring.h).  out gets len + AEAD_OVERHEAD bytes (*outlen says so)
 * and must not overlap plain.
 * 0, AEAD_ERR_FIELD, AEAD_ERR_SPACE, AEAD_ERR_EXHAUSTED, AEAD_ERR_INTERNAL.
 */
int	 aead_seal(struct keyring *, const char *purpose, const char *table,
	    const char *row, const char *column, const uint8_t *plain,
	    size_t len, uint8_t *out, size_t outsz, size_t *outlen);

/*
 * Open a sealed value with the key version its header names.  out needs
 * len - AEAD_OVERHEAD bytes.  On any failure all outsz bytes of out are
 * zeroed and *outlen is 0.
 * 0, AEAD_ERR_FIELD, AEAD_ERR_MALFORMED, AEAD_ERR_VERSION, AEAD_ERR_SPACE,
 * AEAD_ERR_AUTH, AEAD_ERR_INTERNAL.
 */
int	 aead_open(const struct keyring *, const char *purpose,
	    const char *table, const char *row, const char *column,
	    const uint8_t *sealed, size_t len, uint8_t *out, size_t outsz,
	    size_t *outlen);

/*
 * The same with an explicit key and version, for the keyring blob (root
 * key, version 0).  aead_open_key() fails with AEAD_ERR_VERSION when the
 * header names another version.
 */
int	 aead_seal_key(const uint8_t key[AEAD_KEYLEN], uint32_t version,
	    const char *purpose, const char *table, const char *row,
	    const char *column, const uint8_t *plain, size_t len, uint8_t *out,
	    size_t outsz, size_t *outlen);
int	 aead_open_key(const uint8_t key[AEAD_KEYLEN], uint32_t version,
	    const char *purpose, const char *table, const char *row,
	    const char *column, const uint8_t *sealed, size_t len,
	    uint8_t *out, size_t outsz, size_t *outlen);

/* len bytes from getrandom(2).  0 or -1. */
int	 aead_random(void *buf, size_t len);

#endif /* DROMOS_PRIV_AEAD_H */
