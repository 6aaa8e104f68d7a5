/*
 * AES-256-GCM through OpenSSL EVP, and the sealed-value format (aead.h).
 *
 * Every function that can fail takes care that nothing half-done escapes:
 * decryption output is zeroed unless the tag verified, and sealing output
 * is zeroed if anything after the first byte written fails.
 */
#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include "common/log.h"
#include "priv/aead.h"
#include "priv/keyring.h"

static const uint8_t	 aead_magic[3] = { 'D', 'R', 'M' };
static EVP_CIPHER	*aead_cipher;	/* fetched once, kept for the process */

static const char *const aead_errstr[] = {
	[-AEAD_OK] = "ok",
	[-AEAD_ERR_MALFORMED] = "malformed sealed value",
	[-AEAD_ERR_VERSION] = "unknown key version",
	[-AEAD_ERR_AUTH] = "authentication failed",
	[-AEAD_ERR_FIELD] = "invalid associated data field",
	[-AEAD_ERR_SPACE] = "buffer too small or input too long",
	[-AEAD_ERR_EXHAUSTED] = "key version exhausted",
	[-AEAD_ERR_INTERNAL] = "internal cryptographic failure",
};

const char *
aead_strerror(int e)
{
	if (e > 0 || (size_t)-e >= sizeof(aead_errstr) / sizeof(aead_errstr[0]))
		return "unknown error";
	return aead_errstr[-e];
}

int
aead_random(void *buf, size_t len)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		/* flags 0: block until the pool is initialised, then never. */
		if ((n = getrandom(p, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * An explicit fetch spares OpenSSL 3 a lookup per call and happens in
 * aead_init(), before the sandbox; the pointer is never released.
 */
static const EVP_CIPHER *
cipher(void)
{
	if (aead_cipher == NULL)
		aead_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	return aead_cipher;
}

/*
 * One GCM operation, encrypting (enc 1) or decrypting (enc 0).  For
 * decryption tag is the expected tag; for encryption it receives it.
 * Lengths are checked by the callers to fit in int.
 */
static int
gcm(int enc, const uint8_t *key, const uint8_t *nonce, size_t noncelen,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
    uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX	*ctx;
	const EVP_CIPHER *c;
	uint8_t		 fin[AEAD_TAGLEN];
	int		 n, rv = AEAD_ERR_INTERNAL;

	if ((c = cipher()) == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return AEAD_ERR_INTERNAL;
	if (EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)noncelen,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		goto done;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAGLEN,
	    tag) != 1)
		goto done;
	if (aadlen > 0 &&
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto done;
	if (inlen > 0 && (EVP_CipherUpdate(ctx, out, &n, in, (int)inlen) != 1 ||
	    (size_t)n != inlen))
		goto done;
	/* GCM produces nothing at the end; Final checks or computes the tag. */
	if (EVP_CipherFinal_ex(ctx, fin, &n) != 1 || n != 0) {
		rv = enc ? AEAD_ERR_INTERNAL : AEAD_ERR_AUTH;
		goto done;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAGLEN,
	    tag) != 1)
		goto done;
	rv = AEAD_OK;
 done:
	EVP_CIPHER_CTX_free(ctx);	/* cleanses the key schedule */
	return rv;
}

static int
gcm_args_ok(size_t noncelen, size_t aadlen, size_t inlen)
{
	return noncelen >= 1 && noncelen <= AEAD_NONCE_MAX &&
	    aadlen <= INT_MAX && inlen <= AEAD_MAX_PLAINTEXT;
}

int
aead_encrypt(const uint8_t key[AEAD_KEYLEN], const uint8_t *nonce,
    size_t noncelen, const uint8_t *aad, size_t aadlen, const uint8_t *in,
    size_t inlen, uint8_t *out, uint8_t tag[AEAD_TAGLEN])
{
	int	 rv;

	if (!gcm_args_ok(noncelen, aadlen, inlen))
		rv = AEAD_ERR_SPACE;
	else
		rv = gcm(1, key, nonce, noncelen, aad, aadlen, in, inlen, out,
		    tag);
	if (rv != AEAD_OK) {
		OPENSSL_cleanse(out, inlen);
		OPENSSL_cleanse(tag, AEAD_TAGLEN);
	}
	return rv;
}

int
aead_decrypt(const uint8_t key[AEAD_KEYLEN], const uint8_t *nonce,
    size_t noncelen, const uint8_t *aad, size_t aadlen, const uint8_t *in,
    size_t inlen, const uint8_t tag[AEAD_TAGLEN], uint8_t *out)
{
	uint8_t	 t[AEAD_TAGLEN];
	int	 rv;

	memcpy(t, tag, sizeof(t));	/* OpenSSL's ctrl wants a mutable one */
	if (!gcm_args_ok(noncelen, aadlen, inlen))
		rv = AEAD_ERR_SPACE;
	else
		rv = gcm(0, key, nonce, noncelen, aad, aadlen, in, inlen, out,
		    t);
	if (rv != AEAD_OK)
		OPENSSL_cleanse(out, inlen);
	return rv;
}

/* purpose, table, column: 1..AEAD_NAME_MAX of [a-z0-9_]. */
static size_t
name_len(const char *s)
{
	size_t	 i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == AEAD_NAME_MAX)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return i;
}

/* row id: 1..AEAD_ROW_MAX printable ASCII bytes. */
static size_t
row_len(const char *s)
{
	size_t	 i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == AEAD_ROW_MAX)
			return 0;
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return i;
}

static uint8_t *
put_field(uint8_t *p, const char *s, size_t len)
{
	*p++ = (uint8_t)(len >> 8);
	*p++ = (uint8_t)len;
	memcpy(p, s, len);
	return p + len;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
aead_build_ad(const char *purpose, const char *table, const char *row,
    const char *column, uint32_t version, uint8_t *ad, size_t *adlen)
{
	size_t	 lp, lt, lr, lc;
	uint8_t	*p = ad;

	lp = name_len(purpose);
	lt = name_len(table);
	lr = row_len(row);
	lc = name_len(column);
	if (lp == 0 || lt == 0 || lr == 0 || lc == 0)
		return AEAD_ERR_FIELD;
	memcpy(p, aead_magic, sizeof(aead_magic));
	p += sizeof(aead_magic);
	*p++ = AEAD_FORMAT;
	p = put_field(p, purpose, lp);
	p = put_field(p, table, lt);
	p = put_field(p, row, lr);
	p = put_field(p, column, lc);
	put_u32(p, version);
	p += 4;
	*adlen = (size_t)(p - ad);
	return AEAD_OK;
}

int
aead_parse_header(const uint8_t *sealed, size_t len, uint32_t *version)
{
	if (len < AEAD_OVERHEAD ||
	    memcmp(sealed, aead_magic, sizeof(aead_magic)) != 0 ||
	    sealed[3] != AEAD_FORMAT)
		return AEAD_ERR_MALFORMED;
	*version = (uint32_t)sealed[4] << 24 | (uint32_t)sealed[5] << 16 |
	    (uint32_t)sealed[6] << 8 | (uint32_t)sealed[7];
	return AEAD_OK;
}

/* Seal plain under key and version; the AD is built and checked here. */
static int
seal(const uint8_t *key, uint32_t version, const uint8_t *ad, size_t adlen,
    const uint8_t *plain, size_t len, uint8_t *out, size_t outsz,
    size_t *outlen)
{
	uint8_t	*nonce = out + 8;
	int	 rv;

	memcpy(out, aead_magic, sizeof(aead_magic));
	out[3] = AEAD_FORMAT;
	put_u32(out + 4, version);
	if (aead_random(nonce, AEAD_NONCELEN) == -1) {
		log_warn("aead: getrandom");
		rv = AEAD_ERR_INTERNAL;
	} else
		rv = aead_encrypt(key, nonce, AEAD_NONCELEN, ad, adlen, plain,
		    len, out + AEAD_HDRLEN, out + AEAD_HDRLEN + len);
	if (rv != AEAD_OK) {
		OPENSSL_cleanse(out, outsz);
		return rv;
	}
	*outlen = len + AEAD_OVERHEAD;
	return AEAD_OK;
}

/* Checks shared by both seal entry points; builds the AD into ad. */
static int
seal_prepare(const char *purpose, const char *table, const char *row,
    const char *column, uint32_t version, size_t len, size_t outsz,
    uint8_t *ad, size_t *adlen)
{
	int	 rv;

	if ((rv = aead_build_ad(purpose, table, row, column, version, ad,
	    adlen)) != AEAD_OK)
		return rv;
	if (len > AEAD_MAX_PLAINTEXT || outsz < len + AEAD_OVERHEAD)
		return AEAD_ERR_SPACE;
	return AEAD_OK;
}

int
aead_seal_key(const uint8_t key[AEAD_KEYLEN], uint32_t version,
    const char *purpose, const char *table, const char *row,
    const char *column, const uint8_t *plain, size_t len, uint8_t *out,
    size_t outsz, size_t *outlen)
{
	uint8_t	 ad[AEAD_AD_MAX];
	size_t	 adlen;
	int	 rv;

	*outlen = 0;
	if ((rv = seal_prepare(purpose, table, row, column, version, len,
	    outsz, ad, &adlen)) != AEAD_OK)
		return rv;
	return seal(key, version, ad, adlen, plain, len, out, outsz, outlen);
}

int
aead_seal(struct keyring *kr, const char *purpose, const char *table,
    const char *row, const char *column, const uint8_t *plain, size_t len,
    uint8_t *out, size_t outsz, size_t *outlen)
{
	uint8_t		 ad[AEAD_AD_MAX];
	const uint8_t	*key;
	uint32_t	 version;
	size_t		 adlen;
	int		 rv;

	*outlen = 0;
	/* Validate before spending a seal on the count (and maybe rotating). */
	if ((rv = seal_prepare(purpose, table, row, column, 0, len, outsz, ad,
	    &adlen)) != AEAD_OK)
		return rv;
	if (keyring_seal_key(kr, &version, &key) == -1)
		return AEAD_ERR_EXHAUSTED;
	/* The version is only known now; it is the last four AD bytes. */
	put_u32(ad + adlen - 4, version);
	return seal(key, version, ad, adlen, plain, len, out, outsz, outlen);
}

/* Open with key, whose version the caller matched against the header. */
static int
open_sealed(const uint8_t *key, uint32_t version, const char *purpose,
    const char *table, const char *row, const char *column,
    const uint8_t *sealed, size_t len, uint8_t *out, size_t outsz,
    size_t *outlen)
{
	uint8_t	 ad[AEAD_AD_MAX];
	size_t	 adlen, ctlen = len - AEAD_OVERHEAD;
	int	 rv;

	if ((rv = aead_build_ad(purpose, table, row, column, version, ad,
	    &adlen)) != AEAD_OK)
		return rv;
	if (outsz < ctlen)
		return AEAD_ERR_SPACE;
	if ((rv = aead_decrypt(key, sealed + 8, AEAD_NONCELEN, ad, adlen,
	    sealed + AEAD_HDRLEN, ctlen, sealed + AEAD_HDRLEN + ctlen,
	    out)) != AEAD_OK)
		return rv;
	*outlen = ctlen;
	return AEAD_OK;
}

/*
 * The common front of both open entry points: fields first (a caller's
 * mistake), then the header (the stored bytes), then the key.
 */
static int
open_check(const char *purpose, const char *table, const char *row,
    const char *column, const uint8_t *sealed, size_t len, uint32_t *version)
{
	uint8_t	 ad[AEAD_AD_MAX];
	size_t	 adlen;
	int	 rv;

	if ((rv = aead_build_ad(purpose, table, row, column, 0, ad,
	    &adlen)) != AEAD_OK)
		return rv;
	if ((rv = aead_parse_header(sealed, len, version)) != AEAD_OK)
		return rv;
	if (len - AEAD_OVERHEAD > AEAD_MAX_PLAINTEXT)
		return AEAD_ERR_SPACE;
	return AEAD_OK;
}

int
aead_open_key(const uint8_t key[AEAD_KEYLEN], uint32_t version,
    const char *purpose, const char *table, const char *row,
    const char *column, const uint8_t *sealed, size_t len, uint8_t *out,
    size_t outsz, size_t *outlen)
{
	uint32_t	 v;
	int		 rv;

	*outlen = 0;
	if ((rv = open_check(purpose, table, row, column, sealed, len,
	    &v)) == AEAD_OK) {
		if (v != version)
			rv = AEAD_ERR_VERSION;
		else
			rv = open_sealed(key, v, purpose, table, row, column,
			    sealed, len, out, outsz, outlen);
	}
	if (rv != AEAD_OK)
		OPENSSL_cleanse(out, outsz);
	return rv;
}

int
aead_open(const struct keyring *kr, const char *purpose, const char *table,
    const char *row, const char *column, const uint8_t *sealed, size_t len,
    uint8_t *out, size_t outsz, size_t *outlen)
{
	const uint8_t	*key;
	uint32_t	 v;
	int		 rv;

	*outlen = 0;
	if ((rv = open_check(purpose, table, row, column, sealed, len,
	    &v)) == AEAD_OK) {
		/* Version 0 is the root key's; no keyring version has it. */
		if ((key = keyring_key(kr, v)) == NULL)
			rv = AEAD_ERR_VERSION;
		else
			rv = open_sealed(key, v, purpose, table, row, column,
			    sealed, len, out, outsz, outlen);
	}
	if (rv != AEAD_OK)
		OPENSSL_cleanse(out, outsz);
	return rv;
}

/*
 * NIST GCM specification, test case 14: AES-256, zero key, zero 96-bit IV,
 * one zero block, no AAD.
 */
static const uint8_t	 kat_ct[16] = {
	0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
	0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
};
static const uint8_t	 kat_tag[16] = {
	0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
	0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19,
};

int
aead_init(void)
{
	uint8_t	 key[AEAD_KEYLEN] = { 0 }, iv[AEAD_NONCELEN] = { 0 };
	uint8_t	 pt[16] = { 0 }, ct[16], tag[AEAD_TAGLEN], back[16];

	if (aead_encrypt(key, iv, sizeof(iv), NULL, 0, pt, sizeof(pt), ct,
	    tag) != AEAD_OK ||
	    memcmp(ct, kat_ct, sizeof(ct)) != 0 ||
	    memcmp(tag, kat_tag, sizeof(tag)) != 0 ||
	    aead_decrypt(key, iv, sizeof(iv), NULL, 0, ct, sizeof(ct), tag,
	    back) != AEAD_OK ||
	    memcmp(back, pt, sizeof(pt)) != 0) {
		log_warnx("aead: AES-256-GCM known-answer test failed");
		return -1;
	}
	tag[0] ^= 1;
	if (aead_decrypt(key, iv, sizeof(iv), NULL, 0, ct, sizeof(ct), tag,
	    back) != AEAD_ERR_AUTH) {
		log_warnx("aead: AES-256-GCM accepted a forged tag");
		return -1;
	}
	return 0;
}
