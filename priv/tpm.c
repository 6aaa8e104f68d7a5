/*
 * The root key sealed in a TPM 2.0, through the tpm2-tss ESAPI.  See tpm.h
 * for the blob format.
 *
 * Every TPM conversation has the same shape: open the TCTI, recreate the
 * primary storage key of the owner hierarchy from a fixed template (so the
 * TPM needs no persistent handle and no NV space), do one thing under it,
 * and flush everything again.  Commands that carry the key use a session
 * salted with that primary key and parameter encryption, so the key never
 * crosses the bus (or the swtpm socket) in the clear.
 *
 * Without tpm2-tss (no HAVE_TSS2) only the PCR selection helpers remain and
 * sealing and unsealing fail with a message that says why.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "priv/tpm.h"

#ifdef HAVE_TSS2
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#ifdef HAVE_TSS2_SYS
#include <tss2/tss2_sys.h>
#endif
#endif

#define PCR_BANK_NAME	"sha256"
#define PCR_ALL_MASK	((UINT32_C(1) << TPM_PCR_COUNT) - 1)

/* PCR selection strings. */

int
tpm_pcr_parse(const char *spec, struct tpm_pcr_sel *sel, char *errbuf,
    size_t errlen)
{
	const char	*p;
	unsigned long	 n;
	char		*end;
	uint32_t	 mask = 0, bit;

	sel->mask = 0;
	if (strncmp(spec, PCR_BANK_NAME ":", sizeof(PCR_BANK_NAME)) != 0) {
		snprintf(errbuf, errlen, "PCR selection '%.32s' must start "
		    "with %s: (only the SHA-256 bank is supported)",
		    spec, PCR_BANK_NAME);
		return -1;
	}
	p = spec + sizeof(PCR_BANK_NAME);
	for (;;) {
		/* Plain decimal: no sign, space or leading zero. */
		if (!isdigit((unsigned char)*p) ||
		    (p[0] == '0' && isdigit((unsigned char)p[1]))) {
			snprintf(errbuf, errlen, "PCR selection: expected a "
			    "PCR number at '%.16s'", p);
			return -1;
		}
		errno = 0;
		n = strtoul(p, &end, 10);
		if (errno != 0 || n >= TPM_PCR_COUNT) {
			snprintf(errbuf, errlen, "PCR selection: PCR %.16s "
			    "out of range 0..%d", p, TPM_PCR_COUNT - 1);
			return -1;
		}
		bit = UINT32_C(1) << n;
		if (mask & bit) {
			snprintf(errbuf, errlen, "PCR selection: PCR %lu "
			    "given twice", n);
			return -1;
		}
		mask |= bit;
		p = end;
		if (*p == '\0')
			break;
		if (*p++ != ',') {
			snprintf(errbuf, errlen, "PCR selection: unexpected "
			    "'%.16s'", p - 1);
			return -1;
		}
	}
	sel->mask = mask;
	return 0;
}

const char *
tpm_pcr_format(const struct tpm_pcr_sel *sel, char *buf, size_t bufsz)
{
	size_t	 off;
	int	 i, n;

	if (sel == NULL || sel->mask == 0) {
		snprintf(buf, bufsz, "none");
		return buf;
	}
	n = snprintf(buf, bufsz, "%s:", PCR_BANK_NAME);
	off = n < 0 ? bufsz : (size_t)n;
	for (i = 0; i < 32 && off < bufsz; i++) {
		if ((sel->mask & (UINT32_C(1) << i)) == 0)
			continue;
		n = snprintf(buf + off, bufsz - off, "%s%d",
		    buf[off - 1] == ':' ? "" : ",", i);
		off = n < 0 ? bufsz : off + (size_t)n;
	}
	return buf;
}

const char *
tpm_strerror(int status)
{
	switch (status) {
	case TPMKEY_OK:
		return "success";
	case TPMKEY_EPOLICY:
		return "the TPM PCR policy does not match (PCR values changed "
		    "since the key was sealed)";
	case TPMKEY_EBLOB:
		return "malformed TPM key blob";
	case TPMKEY_ENOTSUP:
		return "built without TPM support (tpm2-tss)";
	default:
		return "TPM failure";
	}
}

#ifndef HAVE_TSS2

int
tpm_seal_rootkey(const char *tcti, const struct tpm_pcr_sel *pcrs,
    const uint8_t key[TPM_ROOTKEY_LEN], uint8_t **blob, size_t *bloblen)
{
	(void)tcti;
	(void)pcrs;
	(void)key;
	*blob = NULL;
	*bloblen = 0;
	log_warnx("TPM: cannot seal the root key: %s",
	    tpm_strerror(TPMKEY_ENOTSUP));
	return TPMKEY_ENOTSUP;
}

int
tpm_unseal_rootkey(const char *tcti, const uint8_t *blob, size_t bloblen,
    uint8_t key[TPM_ROOTKEY_LEN])
{
	(void)tcti;
	(void)blob;
	(void)bloblen;
	explicit_bzero(key, TPM_ROOTKEY_LEN);
	log_warnx("TPM: cannot unseal the root key: %s",
	    tpm_strerror(TPMKEY_ENOTSUP));
	return TPMKEY_ENOTSUP;
}

#else /* HAVE_TSS2 */

#define BLOB_HDRLEN	12	/* magic, version, parent, bank, mask */
#define SEALED_LEN	TPM_ROOTKEY_LEN
#define SHA256_LEN	32

/* The sealed object's attributes, with and without a PCR policy. */
#define SEALED_ATTRS_BASE \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA)
#define SEALED_ATTRS_AUTH	(SEALED_ATTRS_BASE | TPMA_OBJECT_USERWITHAUTH)
#define SEALED_ATTRS_POLICY	(SEALED_ATTRS_BASE | TPMA_OBJECT_ADMINWITHPOLICY)

/* The blob: parsing and encoding (no TPM needed). */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The next length-prefixed part of the blob: sets *part and *partlen and
 * advances *off, or returns -1 when the length runs past the end.
 */
static int
blob_part(const uint8_t *buf, size_t len, size_t *off, const uint8_t **part,
    size_t *partlen)
{
	size_t	 n;

	if (len - *off < 2)
		return -1;
	n = get16(buf + *off);
	*off += 2;
	if (n == 0 || len - *off < n)
		return -1;
	*part = buf + *off;
	*partlen = n;
	*off += n;
	return 0;
}

/* SHA-256 with some of PCRs 0..23, or no bank and no PCRs. */
static int
blob_pcrs_ok(uint16_t bank, uint32_t mask)
{
	if (bank == TPM2_ALG_SHA256)
		return mask != 0 && (mask & ~PCR_ALL_MASK) == 0;
	return bank == TPM2_ALG_NULL && mask == 0;
}

/*
 * The sealed object must be exactly what tpm_seal_rootkey() asks the TPM
 * for, and its policy must agree with the header's PCR selection.
 */
static int
blob_check_object(const struct tpm_blob *b, char *errbuf, size_t errlen)
{
	const TPMT_PUBLIC	*pa = &b->pub.publicArea;
	int			 policy = b->pcrs.mask != 0;

	if (pa->type != TPM2_ALG_KEYEDHASH || pa->nameAlg != TPM2_ALG_SHA256 ||
	    pa->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL) {
		snprintf(errbuf, errlen, "not a SHA-256 sealed data object");
		return -1;
	}
	if (pa->objectAttributes !=
	    (policy ? SEALED_ATTRS_POLICY : SEALED_ATTRS_AUTH)) {
		snprintf(errbuf, errlen, "unexpected object attributes 0x%x",
		    (unsigned)pa->objectAttributes);
		return -1;
	}
	if (pa->authPolicy.size != (policy ? SHA256_LEN : 0)) {
		snprintf(errbuf, errlen, "object policy disagrees with the "
		    "PCR selection of the header");
		return -1;
	}
	if (pa->unique.keyedHash.size != SHA256_LEN) {
		snprintf(errbuf, errlen, "bad object unique field");
		return -1;
	}
	return 0;
}

int
tpm_blob_parse(const uint8_t *buf, size_t len, struct tpm_blob *b,
    char *errbuf, size_t errlen)
{
	const uint8_t	*part;
	size_t		 off, partlen, used;
	uint16_t	 bank;

	memset(b, 0, sizeof(*b));
	if (len < BLOB_HDRLEN || len > TPM_BLOB_MAX) {
		snprintf(errbuf, errlen, "blob has %zu bytes, outside %d..%d",
		    len, BLOB_HDRLEN, TPM_BLOB_MAX);
		return TPMKEY_EBLOB;
	}
	if (memcmp(buf, TPM_BLOB_MAGIC, 4) != 0) {
		snprintf(errbuf, errlen, "not a dromos TPM key blob (magic)");
		return TPMKEY_EBLOB;
	}
	if (buf[4] != TPM_BLOB_VERSION || buf[5] != TPM_PARENT_ECC_P256) {
		snprintf(errbuf, errlen, "unsupported blob version %u or "
		    "parent template %u", buf[4], buf[5]);
		return TPMKEY_EBLOB;
	}
	b->parent = buf[5];
	bank = get16(buf + 6);
	b->pcrs.mask = get32(buf + 8);
	if (!blob_pcrs_ok(bank, b->pcrs.mask)) {
		snprintf(errbuf, errlen, "bad PCR selection (bank 0x%04x, "
		    "mask 0x%08x)", bank, b->pcrs.mask);
		return TPMKEY_EBLOB;
	}

	off = BLOB_HDRLEN;
	used = 0;
	/* Each part is a TPM2B whose own size must fill it exactly. */
	if (blob_part(buf, len, &off, &part, &partlen) == -1 ||
	    partlen < 2 || get16(part) != partlen - 2 ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(part, partlen, &used, &b->pub) !=
	    TSS2_RC_SUCCESS || used != partlen) {
		snprintf(errbuf, errlen, "bad public part");
		return TPMKEY_EBLOB;
	}
	used = 0;
	if (blob_part(buf, len, &off, &part, &partlen) == -1 ||
	    partlen < 2 || get16(part) != partlen - 2 ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(part, partlen, &used, &b->priv) !=
	    TSS2_RC_SUCCESS || used != partlen || b->priv.size == 0) {
		snprintf(errbuf, errlen, "bad private part");
		return TPMKEY_EBLOB;
	}
	if (off != len) {
		snprintf(errbuf, errlen, "%zu bytes after the private part",
		    len - off);
		return TPMKEY_EBLOB;
	}
	if (blob_check_object(b, errbuf, errlen) == -1)
		return TPMKEY_EBLOB;
	return TPMKEY_OK;
}

int
tpm_blob_encode(const struct tpm_blob *b, uint8_t **buf, size_t *len)
{
	uint8_t		 pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)];
	uint8_t		*p;
	size_t		 npub = 0, npriv = 0, n;
	char		 err[128];

	*buf = NULL;
	*len = 0;
	/* Never write what tpm_blob_parse() would refuse. */
	if (b->parent != TPM_PARENT_ECC_P256 ||
	    !blob_pcrs_ok(b->pcrs.mask ? TPM2_ALG_SHA256 : TPM2_ALG_NULL,
	    b->pcrs.mask)) {
		log_warnx("TPM: bad parent or PCR selection for a blob");
		return TPMKEY_ERR;
	}
	if (blob_check_object(b, err, sizeof(err)) == -1) {
		log_warnx("TPM: the sealed object is unexpected: %s", err);
		return TPMKEY_ERR;
	}
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&b->pub, pub, sizeof(pub), &npub) !=
	    TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&b->priv, priv, sizeof(priv),
	    &npriv) != TSS2_RC_SUCCESS ||
	    npub > UINT16_MAX || npriv > UINT16_MAX || npriv <= 2) {
		log_warnx("TPM: cannot marshal the sealed object");
		return TPMKEY_ERR;
	}
	n = BLOB_HDRLEN + 2 + npub + 2 + npriv;
	if (n > TPM_BLOB_MAX) {
		log_warnx("TPM: sealed object too large (%zu bytes)", n);
		return TPMKEY_ERR;
	}
	if ((p = malloc(n)) == NULL) {
		log_warn("TPM: malloc");
		return TPMKEY_ERR;
	}
	memcpy(p, TPM_BLOB_MAGIC, 4);
	p[4] = TPM_BLOB_VERSION;
	p[5] = b->parent;
	put16(p + 6, b->pcrs.mask ? TPM2_ALG_SHA256 : TPM2_ALG_NULL);
	put32(p + 8, b->pcrs.mask);
	put16(p + BLOB_HDRLEN, (uint16_t)npub);
	memcpy(p + BLOB_HDRLEN + 2, pub, npub);
	put16(p + BLOB_HDRLEN + 2 + npub, (uint16_t)npriv);
	memcpy(p + BLOB_HDRLEN + 4 + npub, priv, npriv);
	*buf = p;
	*len = n;
	return TPMKEY_OK;
}

/* Talking to the TPM. */

struct tpm {
	TSS2_TCTI_CONTEXT	*tcti;
	ESYS_CONTEXT		*esys;
	ESYS_TR			 primary;
	ESYS_TR			 object;
	ESYS_TR			 session;
};

/*
 * The TPM's own response code without the handle, session or parameter
 * number, or 0 when rc did not come from a TPM.
 */
static TSS2_RC
rc_tpm(TSS2_RC rc)
{
	TSS2_RC	 layer = rc & TSS2_RC_LAYER_MASK;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	rc &= ~TSS2_RC_LAYER_MASK;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

static int
rc_is_pcr_policy(TSS2_RC rc)
{
	TSS2_RC	 base = rc_tpm(rc);

	return base == TPM2_RC_POLICY_FAIL || base == TPM2_RC_PCR_CHANGED ||
	    base == TPM2_RC_PCR;
}

/* What an operator can do about the common failures. */
static const char *
rc_hint(TSS2_RC rc)
{
	if (rc_is_pcr_policy(rc))
		return "the PCR policy does not match: PCR values changed "
		    "since the key was sealed";
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
		return "cannot talk to the TPM (is it there, is the TCTI "
		    "right, may this user open it?)";
	switch (rc_tpm(rc)) {
	case 0:
		return NULL;
	case TPM2_RC_INTEGRITY:
		return "the blob was sealed by another TPM, or this TPM's "
		    "owner hierarchy was cleared since";
	case TPM2_RC_LOCKOUT:
		return "the TPM is in dictionary-attack lockout";
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
		return "authorization failed (the owner hierarchy must have "
		    "no password)";
	case TPM2_RC_HIERARCHY:
		return "the owner hierarchy is disabled";
	case TPM2_RC_INITIALIZE:
		return "the TPM has not been started (TPM2_Startup)";
	default:
		return NULL;
	}
}

static void
rc_warn(TSS2_RC rc, const char *what)
{
	const char	*hint = rc_hint(rc);

	log_warnx("TPM: %s: %s%s[%s, 0x%08x]", what, hint ? hint : "",
	    hint ? " " : "", Tss2_RC_Decode(rc), (unsigned)rc);
}

/*
 * A TCTI configuration is "name" or "name:conf".  The name picks the
 * library libtss2-tcti-<name>.so, so it may not be a path: a bad config
 * line must not load arbitrary code into the keyholder.
 */
static int
tcti_ok(const char *tcti)
{
	const char	*p;
	size_t		 len = strnlen(tcti, TPM_TCTI_MAX);

	if (len == 0 || len == TPM_TCTI_MAX)
		return 0;
	for (p = tcti; *p != '\0' && *p != ':'; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    *p != '-' && *p != '_')
			return 0;
	if (p == tcti)
		return 0;
	for (; *p != '\0'; p++)
		if (!isprint((unsigned char)*p))
			return 0;
	return 1;
}

static void
tpm_close(struct tpm *t)
{
	ESYS_TR	*h[] = { &t->session, &t->object, &t->primary };
	size_t	 i;

	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		if (t->esys != NULL && *h[i] != ESYS_TR_NONE)
			(void)Esys_FlushContext(t->esys, *h[i]);
		*h[i] = ESYS_TR_NONE;
	}
	if (t->esys != NULL)
		Esys_Finalize(&t->esys);
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
}

static int
tpm_open(struct tpm *t, const char *tcti)
{
	TSS2_RC	 rc;
	char	 what[TPM_TCTI_MAX + 64];

	memset(t, 0, sizeof(*t));
	t->primary = t->object = t->session = ESYS_TR_NONE;
	if (tcti == NULL)
		tcti = TPM_TCTI_DEFAULT;
	if (!tcti_ok(tcti)) {
		log_warnx("TPM: bad TCTI '%.64s' (want name[:conf], e.g. "
		    "%s or swtpm:host=127.0.0.1,port=2321)", tcti,
		    TPM_TCTI_DEFAULT);
		return TPMKEY_ERR;
	}
	/*
	 * tpm2-tss prints its own errors on stderr, which would break the
	 * one-JSON-object-per-line log; every failure is reported here.
	 * TSS2_LOG=all+debug in the environment still wins.
	 */
	(void)setenv("TSS2_LOG", "all+none", 0);

	snprintf(what, sizeof(what), "cannot open TCTI %s", tcti);
	if ((rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti)) != TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		rc_warn(rc, what);
		return TPMKEY_ERR;
	}
	if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) !=
	    TSS2_RC_SUCCESS) {
		t->esys = NULL;
		rc_warn(rc, what);
		tpm_close(t);
		return TPMKEY_ERR;
	}
	return TPMKEY_OK;
}

/*
 * The primary storage key: an ECC NIST P-256 restricted decryption key
 * with AES-128-CFB, no password and an empty unique field (the TCG's SRK
 * template).  The TPM derives it from the owner seed, so the same template
 * always gives the same key until the owner hierarchy is cleared.
 */
static int
tpm_primary(struct tpm *t)
{
	TPM2B_SENSITIVE_CREATE	 sens;
	TPM2B_PUBLIC		 tmpl;
	TPM2B_DATA		 outside;
	TPML_PCR_SELECTION	 creation;
	TPMT_PUBLIC		*pa = &tmpl.publicArea;
	TSS2_RC			 rc;

	memset(&sens, 0, sizeof(sens));
	memset(&tmpl, 0, sizeof(tmpl));
	memset(&outside, 0, sizeof(outside));
	memset(&creation, 0, sizeof(creation));
	pa->type = TPM2_ALG_ECC;
	pa->nameAlg = TPM2_ALG_SHA256;
	pa->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	pa->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	pa->parameters.eccDetail.symmetric.keyBits.aes = 128;
	pa->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	pa->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	pa->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	pa->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;

	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &creation,
	    &t->primary, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		t->primary = ESYS_TR_NONE;
		rc_warn(rc, "cannot create the primary storage key");
		return TPMKEY_ERR;
	}
	return TPMKEY_OK;
}

static void
pcr_selection(const struct tpm_pcr_sel *pcrs, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (uint8_t)pcrs->mask;
	sel->pcrSelections[0].pcrSelect[1] = (uint8_t)(pcrs->mask >> 8);
	sel->pcrSelections[0].pcrSelect[2] = (uint8_t)(pcrs->mask >> 16);
}

/*
 * Start t->session.  Real sessions are salted with the primary key and
 * encrypt the parameters in attrs (TPMA_SESSION_DECRYPT: the command's,
 * TPMA_SESSION_ENCRYPT: the response's); trial sessions only compute.
 */
static int
tpm_session(struct tpm *t, TPM2_SE type, TPMA_SESSION attrs)
{
	TPMT_SYM_DEF	 sym;
	ESYS_TR		 salt = ESYS_TR_NONE;
	TSS2_RC		 rc;

	memset(&sym, 0, sizeof(sym));
	if (type == TPM2_SE_TRIAL)
		sym.algorithm = TPM2_ALG_NULL;
	else {
		sym.algorithm = TPM2_ALG_AES;
		sym.keyBits.aes = 128;
		sym.mode.aes = TPM2_ALG_CFB;
		salt = t->primary;
	}
	rc = Esys_StartAuthSession(t->esys, salt, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym, TPM2_ALG_SHA256,
	    &t->session);
	if (rc != TSS2_RC_SUCCESS) {
		t->session = ESYS_TR_NONE;
		rc_warn(rc, "cannot start a session");
		return TPMKEY_ERR;
	}
	if (type == TPM2_SE_TRIAL)
		return TPMKEY_OK;
	rc = Esys_TRSess_SetAttributes(t->esys, t->session,
	    attrs | TPMA_SESSION_CONTINUESESSION, 0xff);
	if (rc != TSS2_RC_SUCCESS) {
		rc_warn(rc, "cannot set session attributes");
		return TPMKEY_ERR;
	}
	return TPMKEY_OK;
}

static void
tpm_end_session(struct tpm *t)
{
	if (t->session != ESYS_TR_NONE)
		(void)Esys_FlushContext(t->esys, t->session);
	t->session = ESYS_TR_NONE;
}

/* The PolicyPCR digest of the current values of pcrs (a trial session). */
static int
tpm_policy_digest(struct tpm *t, const struct tpm_pcr_sel *pcrs,
    TPM2B_DIGEST *out)
{
	TPML_PCR_SELECTION	 sel;
	TPM2B_DIGEST		 none, *d = NULL;
	TSS2_RC			 rc;
	int			 ret;

	if ((ret = tpm_session(t, TPM2_SE_TRIAL, 0)) != TPMKEY_OK)
		return ret;
	memset(&none, 0, sizeof(none));
	pcr_selection(pcrs, &sel);
	if ((rc = Esys_PolicyPCR(t->esys, t->session, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &none, &sel)) != TSS2_RC_SUCCESS ||
	    (rc = Esys_PolicyGetDigest(t->esys, t->session, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &d)) != TSS2_RC_SUCCESS) {
		rc_warn(rc, "cannot compute the PCR policy");
		ret = TPMKEY_ERR;
	} else if (d->size != SHA256_LEN) {
		log_warnx("TPM: PCR policy digest has %u bytes", d->size);
		ret = TPMKEY_ERR;
	} else
		*out = *d;
	Esys_Free(d);
	tpm_end_session(t);
	return ret;
}

/* Start a policy session that satisfies PolicyPCR over pcrs. */
static int
tpm_policy_session(struct tpm *t, const struct tpm_pcr_sel *pcrs)
{
	TPML_PCR_SELECTION	 sel;
	TPM2B_DIGEST		 none;
	TSS2_RC			 rc;
	int			 ret;

	if ((ret = tpm_session(t, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT)) !=
	    TPMKEY_OK)
		return ret;
	memset(&none, 0, sizeof(none));
	pcr_selection(pcrs, &sel);
	rc = Esys_PolicyPCR(t->esys, t->session, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &none, &sel);
	if (rc != TSS2_RC_SUCCESS) {
		rc_warn(rc, "PolicyPCR failed");
		return TPMKEY_ERR;
	}
	return TPMKEY_OK;
}

/*
 * tpm2-tss leaves copies of a decrypted response parameter behind: in the
 * SAPI response buffer (cleared below when libtss2-sys is linked) and on
 * the stack of its decryption routine, which this overwrites.
 */
static void __attribute__((__noinline__))
scrub_stack(void)
{
	uint8_t	 pad[16384];

	explicit_bzero(pad, sizeof(pad));
}

static void
scrub_response(struct tpm *t)
{
#ifdef HAVE_TSS2_SYS
	TSS2_SYS_CONTEXT	*sys;
	const uint8_t		*rp;
	size_t			 rplen;

	if (Esys_GetSysContext(t->esys, &sys) == TSS2_RC_SUCCESS &&
	    Tss2_Sys_GetRpBuffer(sys, &rplen, &rp) == TSS2_RC_SUCCESS)
		explicit_bzero((void *)(uintptr_t)rp, rplen);
#else
	(void)t;
#endif
	scrub_stack();
}

int
tpm_seal_rootkey(const char *tcti, const struct tpm_pcr_sel *pcrs,
    const uint8_t key[TPM_ROOTKEY_LEN], uint8_t **blob, size_t *bloblen)
{
	struct tpm		 t;
	struct tpm_blob		 b;
	TPM2B_SENSITIVE_CREATE	 sens;
	TPM2B_PUBLIC		 tmpl, *outpub = NULL;
	TPM2B_PRIVATE		*outpriv = NULL;
	TPM2B_DATA		 outside;
	TPML_PCR_SELECTION	 creation;
	TSS2_RC			 rc;
	int			 ret;

	*blob = NULL;
	*bloblen = 0;
	memset(&b, 0, sizeof(b));
	b.parent = TPM_PARENT_ECC_P256;
	if (pcrs != NULL)
		b.pcrs = *pcrs;
	if ((b.pcrs.mask & ~PCR_ALL_MASK) != 0) {
		log_warnx("TPM: PCR selection 0x%08x has PCRs above %d",
		    b.pcrs.mask, TPM_PCR_COUNT - 1);
		return TPMKEY_ERR;
	}
	if ((ret = tpm_open(&t, tcti)) != TPMKEY_OK)
		return ret;
	memset(&sens, 0, sizeof(sens));
	if ((ret = tpm_primary(&t)) != TPMKEY_OK)
		goto out;

	/* A keyed-hash object with no scheme holds the data as given. */
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme =
	    TPM2_ALG_NULL;
	tmpl.publicArea.objectAttributes = b.pcrs.mask ?
	    SEALED_ATTRS_POLICY : SEALED_ATTRS_AUTH;
	if (b.pcrs.mask != 0 && (ret = tpm_policy_digest(&t, &b.pcrs,
	    &tmpl.publicArea.authPolicy)) != TPMKEY_OK)
		goto out;

	sens.sensitive.data.size = SEALED_LEN;
	memcpy(sens.sensitive.data.buffer, key, SEALED_LEN);
	memset(&outside, 0, sizeof(outside));
	memset(&creation, 0, sizeof(creation));
	if ((ret = tpm_session(&t, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT)) !=
	    TPMKEY_OK)
		goto out;
	rc = Esys_Create(t.esys, t.primary, t.session, ESYS_TR_NONE,
	    ESYS_TR_NONE, &sens, &tmpl, &outside, &creation, &outpriv, &outpub,
	    NULL, NULL, NULL);
	explicit_bzero(&sens, sizeof(sens));
	if (rc != TSS2_RC_SUCCESS) {
		rc_warn(rc, "cannot create the sealed object");
		ret = TPMKEY_ERR;
		goto out;
	}
	b.pub = *outpub;
	b.priv = *outpriv;
	ret = tpm_blob_encode(&b, blob, bloblen);
 out:
	explicit_bzero(&sens, sizeof(sens));
	Esys_Free(outpub);
	Esys_Free(outpriv);
	tpm_close(&t);
	return ret;
}

int
tpm_unseal_rootkey(const char *tcti, const uint8_t *blob, size_t bloblen,
    uint8_t key[TPM_ROOTKEY_LEN])
{
	struct tpm		 t;
	struct tpm_blob		 b;
	TPM2B_SENSITIVE_DATA	*out = NULL;
	TSS2_RC			 rc;
	char			 err[128], pcrs[96];
	int			 ret;

	explicit_bzero(key, TPM_ROOTKEY_LEN);
	if ((ret = tpm_blob_parse(blob, bloblen, &b, err, sizeof(err))) !=
	    TPMKEY_OK) {
		log_warnx("TPM: cannot unseal the root key: %s", err);
		return ret;
	}
	if ((ret = tpm_open(&t, tcti)) != TPMKEY_OK)
		return ret;
	if ((ret = tpm_primary(&t)) != TPMKEY_OK)
		goto out;
	rc = Esys_Load(t.esys, t.primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &b.priv, &b.pub, &t.object);
	if (rc != TSS2_RC_SUCCESS) {
		t.object = ESYS_TR_NONE;
		rc_warn(rc, "cannot load the sealed root key");
		ret = TPMKEY_ERR;
		goto out;
	}
	if (b.pcrs.mask != 0)
		ret = tpm_policy_session(&t, &b.pcrs);
	else
		ret = tpm_session(&t, TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT);
	if (ret != TPMKEY_OK)
		goto out;

	rc = Esys_Unseal(t.esys, t.object, t.session, ESYS_TR_NONE,
	    ESYS_TR_NONE, &out);
	scrub_response(&t);
	if (rc != TSS2_RC_SUCCESS) {
		out = NULL;
		if (rc_is_pcr_policy(rc)) {
			tpm_pcr_format(&b.pcrs, pcrs, sizeof(pcrs));
			log_warnx("TPM: cannot unseal the root key: the PCR "
			    "policy does not match: the values of PCRs %s "
			    "changed since the key was sealed [%s, 0x%08x]",
			    pcrs, Tss2_RC_Decode(rc), (unsigned)rc);
			ret = TPMKEY_EPOLICY;
		} else {
			rc_warn(rc, "cannot unseal the root key");
			ret = TPMKEY_ERR;
		}
		goto out;
	}
	if (out->size != TPM_ROOTKEY_LEN) {
		log_warnx("TPM: the sealed object holds %u bytes, not %d",
		    out->size, TPM_ROOTKEY_LEN);
		ret = TPMKEY_ERR;
		goto out;
	}
	memcpy(key, out->buffer, TPM_ROOTKEY_LEN);
	ret = TPMKEY_OK;
 out:
	if (out != NULL) {
		explicit_bzero(out, sizeof(*out));
		Esys_Free(out);
	}
	tpm_close(&t);
	return ret;
}

#endif /* HAVE_TSS2 */
