/*
 * The audit signing key: derived from the root key with HKDF-SHA256
 * (OpenSSL), used with Ed25519 (libsodium).  See auditkey.h for the exact
 * derivation.  The seed and the secret key only ever live in sodium_malloc()
 * memory, which stays PROT_NONE except while a signature is made.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include "common/log.h"
#include "priv/auditkey.h"

struct auditkey {
	uint8_t	 pub[AUDITKEY_PUBLEN];
	/* sodium_malloc()ed: seed then secret key, no access when idle. */
	uint8_t	*sec;
};

#define SEC_SEED	0
#define SEC_SK		crypto_sign_SEEDBYTES
#define SEC_LEN		(crypto_sign_SEEDBYTES + crypto_sign_SECRETKEYBYTES)

/* HKDF-SHA256 of the root key into seed; 0 or -1. */
static int
derive_seed(const uint8_t root[AUDITKEY_ROOTLEN], uint8_t *seed,
    size_t seedlen)
{
	EVP_KDF		*kdf;
	EVP_KDF_CTX	*kctx = NULL;
	OSSL_PARAM	 params[4];
	int		 rc = -1;

	if ((kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL)) == NULL)
		goto out;
	if ((kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)root, AUDITKEY_ROOTLEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (char *)AUDITKEY_INFO, sizeof(AUDITKEY_INFO) - 1);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, seed, seedlen, params) != 1)
		goto out;
	rc = 0;
 out:
	if (rc == -1) {
		log_warnx("audit key: HKDF-SHA256 failed");
		ERR_clear_error();
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

struct auditkey *
auditkey_derive(const uint8_t root[AUDITKEY_ROOTLEN])
{
	struct auditkey	*k;

	if (sodium_init() < 0) {
		log_warnx("audit key: sodium_init failed");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		log_warn("audit key: calloc");
		return NULL;
	}
	if ((k->sec = sodium_malloc(SEC_LEN)) == NULL) {
		log_warn("audit key: sodium_malloc");
		free(k);
		return NULL;
	}
	if (derive_seed(root, k->sec + SEC_SEED, crypto_sign_SEEDBYTES) == -1 ||
	    crypto_sign_seed_keypair(k->pub, k->sec + SEC_SK,
	    k->sec + SEC_SEED) != 0) {
		auditkey_free(k);
		return NULL;
	}
	/* The seed is not needed again. */
	sodium_memzero(k->sec + SEC_SEED, crypto_sign_SEEDBYTES);
	if (sodium_mprotect_noaccess(k->sec) != 0) {
		log_warn("audit key: mprotect");
		auditkey_free(k);
		return NULL;
	}
	return k;
}

void
auditkey_free(struct auditkey *k)
{
	if (k == NULL)
		return;
	if (k->sec != NULL) {
		/* sodium_free() zeroises; it needs write access first. */
		(void)sodium_mprotect_readwrite(k->sec);
		sodium_free(k->sec);
	}
	free(k);
}

void
auditkey_public(const struct auditkey *k, uint8_t pub[AUDITKEY_PUBLEN])
{
	memcpy(pub, k->pub, AUDITKEY_PUBLEN);
}

int
auditkey_sign(struct auditkey *k, const uint8_t *msg, size_t msglen,
    uint8_t sig[AUDITKEY_SIGLEN])
{
	int	 rc;

	if (sodium_mprotect_readonly(k->sec) != 0) {
		log_warn("audit key: mprotect");
		return -1;
	}
	rc = crypto_sign_detached(sig, NULL, msg, msglen, k->sec + SEC_SK);
	if (sodium_mprotect_noaccess(k->sec) != 0) {
		log_warn("audit key: mprotect");
		rc = -1;
	}
	return rc == 0 ? 0 : -1;
}

int
auditkey_verify(const uint8_t pub[AUDITKEY_PUBLEN], const uint8_t *msg,
    size_t msglen, const uint8_t sig[AUDITKEY_SIGLEN])
{
	return crypto_sign_verify_detached(sig, msg, msglen, pub) == 0 ?
	    0 : -1;
}

void
auditkey_hex(const uint8_t *bin, size_t binlen, char *hex)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < binlen; i++) {
		hex[2 * i] = digits[bin[i] >> 4];
		hex[2 * i + 1] = digits[bin[i] & 0x0f];
	}
	hex[2 * binlen] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
auditkey_unhex(const char *hex, size_t hexlen, uint8_t *bin, size_t binlen)
{
	size_t	 i;
	int	 hi, lo;

	if (hexlen != 2 * binlen)
		return -1;
	for (i = 0; i < binlen; i++) {
		if ((hi = hexval(hex[2 * i])) == -1 ||
		    (lo = hexval(hex[2 * i + 1])) == -1)
			return -1;
		bin[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
auditkey_pub_format(const uint8_t pub[AUDITKEY_PUBLEN],
    char hex[AUDITKEY_PUBHEXLEN + 1])
{
	auditkey_hex(pub, AUDITKEY_PUBLEN, hex);
}

int
auditkey_pub_parse(const char *s, size_t len, uint8_t pub[AUDITKEY_PUBLEN])
{
	if (len == AUDITKEY_PUBHEXLEN + 1 && s[AUDITKEY_PUBHEXLEN] == '\n')
		len--;
	return auditkey_unhex(s, len, pub, AUDITKEY_PUBLEN);
}
