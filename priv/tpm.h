/*
 * The root key sealed in a TPM 2.0 (tpm2-tss ESAPI).
 *
 * tpm_seal_rootkey() puts 32 key bytes into a TPM sealed-data object under
 * a primary storage key of the owner hierarchy, optionally bound to the
 * current values of some SHA-256 PCRs, and returns a blob (the object's
 * public and private parts with a small header) to be kept in a file.
 * Nothing is made persistent in the TPM: the primary key is recreated from
 * the owner seed and a fixed template every time, so the blob opens only on
 * the TPM that sealed it, and no longer once its owner hierarchy is cleared.
 *
 * Blob, version 1 (integers big-endian, as the TPM marshals them):
 *
 *	 0  4	magic "DRTK"
 *	 4  1	version, 1
 *	 5  1	parent template, 1 = ECC NIST P-256 storage primary, AES-128-CFB
 *	 6  2	PCR bank: TPM2_ALG_SHA256 (0x000b), or TPM2_ALG_NULL (0x0010)
 *		for no PCR policy
 *	 8  4	PCR mask: bit n selects PCR n (n < 24); zero iff no policy
 *	12  2	length N of the public part
 *	14  N	TPM2B_PUBLIC of the sealed object (TPM marshalling)
 *	..  2	length M of the private part
 *	..  M	TPM2B_PRIVATE of the sealed object (TPM marshalling)
 *
 * and nothing after.  The parser accepts only what the sealer writes: a
 * keyed-hash object with SHA-256 names, no scheme, the exact attributes
 * below, and an authPolicy present exactly when a PCR mask is.  Re-encoding
 * a parsed blob gives back the same bytes.
 */
#ifndef DROMOS_PRIV_TPM_H
#define DROMOS_PRIV_TPM_H

#include <stddef.h>
#include <stdint.h>

#define TPM_ROOTKEY_LEN		32
#define TPM_TCTI_DEFAULT	"device:/dev/tpmrm0"
#define TPM_TCTI_MAX		256	/* longest TCTI string accepted */
#define TPM_PCR_COUNT		24	/* PCRs 0..23 of the PC client profile */
#define TPM_BLOB_MAX		4096	/* no valid blob is longer */

/* Results; every failure has been logged with a message saying why. */
enum tpm_status {
	TPMKEY_OK = 0,
	TPMKEY_ERR = -1,	/* TCTI, TPM or memory failure */
	TPMKEY_EPOLICY = -2,	/* PCR values differ from those at seal time */
	TPMKEY_EBLOB = -3,	/* the blob is malformed */
	TPMKEY_ENOTSUP = -4,	/* built without tpm2-tss */
};

/* A selection of PCRs of the SHA-256 bank; an empty mask means no policy. */
struct tpm_pcr_sel {
	uint32_t	 mask;		/* bit n = PCR n */
};

/*
 * Parse "sha256:0,7" (bank, then distinct PCR numbers 0..23 separated by
 * commas) into sel.  Returns 0, or -1 with a message in errbuf.
 */
int	 tpm_pcr_parse(const char *spec, struct tpm_pcr_sel *sel,
	    char *errbuf, size_t errlen);
/* "sha256:0,7" (or "none") into buf; returns buf. */
const char *tpm_pcr_format(const struct tpm_pcr_sel *sel, char *buf,
	    size_t bufsz);

/*
 * Seal key under the TPM reached through tcti (NULL: TPM_TCTI_DEFAULT),
 * bound to the current values of pcrs when pcrs is non-NULL with a
 * non-empty mask.  On success *blob is a malloc'd blob of *bloblen bytes
 * (not secret: only that TPM can open it) for the caller to free().
 */
int	 tpm_seal_rootkey(const char *tcti, const struct tpm_pcr_sel *pcrs,
	    const uint8_t key[TPM_ROOTKEY_LEN], uint8_t **blob,
	    size_t *bloblen);

/*
 * Open a blob made by tpm_seal_rootkey() into key.  TPMKEY_EPOLICY when
 * the PCRs no longer have their sealing-time values.  On failure key is
 * zeroed.
 */
int	 tpm_unseal_rootkey(const char *tcti, const uint8_t *blob,
	    size_t bloblen, uint8_t key[TPM_ROOTKEY_LEN]);

/* A short description of a tpm_status, for callers' messages. */
const char *tpm_strerror(int status);

#ifdef HAVE_TSS2
#include <tss2/tss2_tpm2_types.h>

#define TPM_BLOB_MAGIC		"DRTK"
#define TPM_BLOB_VERSION	1
#define TPM_PARENT_ECC_P256	1

/* A parsed blob. */
struct tpm_blob {
	uint8_t			 parent;	/* TPM_PARENT_* */
	struct tpm_pcr_sel	 pcrs;
	TPM2B_PUBLIC		 pub;
	TPM2B_PRIVATE		 priv;
};

/*
 * Strict parser of untrusted blob bytes (fuzz/tpmblob).  Returns TPMKEY_OK
 * or TPMKEY_EBLOB with a message in errbuf; logs nothing.
 */
int	 tpm_blob_parse(const uint8_t *buf, size_t len, struct tpm_blob *b,
	    char *errbuf, size_t errlen);
/* The inverse: a malloc'd encoding of b.  TPMKEY_OK or TPMKEY_ERR. */
int	 tpm_blob_encode(const struct tpm_blob *b, uint8_t **buf,
	    size_t *len);
#endif /* HAVE_TSS2 */

#endif /* DROMOS_PRIV_TPM_H */
