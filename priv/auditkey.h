/*
 * The audit log's signing key.  An Ed25519 key pair derived from the root
 * key, so that anyone holding the root key (or its TPM) can print the public
 * half with "dromosctl audit pubkey" and no second secret needs keeping:
 *
 *	seed = HKDF-SHA256(IKM = root key (32 bytes), salt = none,
 *	                   info = "dromos audit signing key v1", L = 32)
 *	(pk, sk) = crypto_sign_seed_keypair(seed)
 *
 * The public key is written as 64 lowercase hex digits everywhere (the
 * checkpoint "sig" field is 128 lowercase hex digits likewise).
 *
 * The secret half lives in sodium_malloc()ed memory (guard pages, mlocked,
 * no access except while signing) and is zeroised on auditkey_free().
 */
#ifndef DROMOS_AUDITKEY_H
#define DROMOS_AUDITKEY_H

#include <stddef.h>
#include <stdint.h>

#define AUDITKEY_ROOTLEN	32	/* root key bytes */
#define AUDITKEY_PUBLEN		32	/* Ed25519 public key */
#define AUDITKEY_SIGLEN		64	/* Ed25519 signature */
#define AUDITKEY_PUBHEXLEN	(2 * AUDITKEY_PUBLEN)
#define AUDITKEY_SIGHEXLEN	(2 * AUDITKEY_SIGLEN)
#define AUDITKEY_INFO		"dromos audit signing key v1"

struct auditkey;

/* Derive the key pair; NULL (logged) on failure.  Calls sodium_init(). */
struct auditkey	*auditkey_derive(const uint8_t root[AUDITKEY_ROOTLEN]);
void		 auditkey_free(struct auditkey *);

void		 auditkey_public(const struct auditkey *,
		    uint8_t pub[AUDITKEY_PUBLEN]);
/* Detached signature over msg; 0 or -1. */
int		 auditkey_sign(struct auditkey *, const uint8_t *msg,
		    size_t msglen, uint8_t sig[AUDITKEY_SIGLEN]);
/* 0 when sig is a valid signature of msg under pub, else -1. */
int		 auditkey_verify(const uint8_t pub[AUDITKEY_PUBLEN],
		    const uint8_t *msg, size_t msglen,
		    const uint8_t sig[AUDITKEY_SIGLEN]);

/*
 * The one text form of a public key: exactly 64 lowercase hex digits.
 * auditkey_pub_format() writes them plus a NUL into hex; auditkey_pub_parse()
 * accepts them, optionally followed by one newline, and returns 0 or -1.
 */
void		 auditkey_pub_format(const uint8_t pub[AUDITKEY_PUBLEN],
		    char hex[AUDITKEY_PUBHEXLEN + 1]);
int		 auditkey_pub_parse(const char *s, size_t len,
		    uint8_t pub[AUDITKEY_PUBLEN]);

/* Strict lowercase hex <-> bytes, used for h, sig and public keys alike. */
void		 auditkey_hex(const uint8_t *bin, size_t binlen, char *hex);
int		 auditkey_unhex(const char *hex, size_t hexlen, uint8_t *bin,
		    size_t binlen);

#endif /* DROMOS_AUDITKEY_H */
