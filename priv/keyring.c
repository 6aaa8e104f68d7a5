/*
 * Versioned data-encryption keys, their seal counts, and the keyring blob
 * (format in keyring.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "priv/aead.h"
#include "priv/keyring.h"
#include "priv/secmem.h"

#define KEYS_SIZE	((size_t)KEYRING_MAX_VERSIONS * AEAD_KEYLEN)

/* The blob's place, as associated data. */
#define BLOB_PURPOSE	"keyring"
#define BLOB_TABLE	"keyring"
#define BLOB_ROW	"root"
#define BLOB_COLUMN	"blob"

static const uint8_t	 kr_magic[4] = { 'D', 'R', 'K', 'R' };
#define KR_FORMAT	0x01

struct kr_entry {
	uint32_t	 version;
	uint64_t	 seals;
	int64_t		 created;
};

struct keyring {
	struct kr_entry	 ent[KEYRING_MAX_VERSIONS];	/* ascending */
	uint8_t		*keys;		/* secmem; ent[i]'s key at i * 32 */
	size_t		 n;		/* >= 1 once set up; ent[n-1] active */
	int64_t		 created;
	uint64_t	 threshold;
	int		 needs_save;
	int		 warned;	/* "cannot rotate" said once */
};

static int64_t
now(void)
{
	time_t	 t = time(NULL);

	return t < 0 ? 0 : (int64_t)t;
}

/* An empty keyring with its key memory. */
static struct keyring *
kr_alloc(void)
{
	struct keyring	*kr;

	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		return NULL;
	if ((kr->keys = secmem_alloc(KEYS_SIZE)) == NULL) {
		free(kr);
		return NULL;
	}
	kr->threshold = KEYRING_ROTATE_DEFAULT;
	return kr;
}

void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	secmem_free(kr->keys, KEYS_SIZE);
	free(kr);
}

struct keyring *
keyring_new(void)
{
	struct keyring	*kr;

	if ((kr = kr_alloc()) == NULL) {
		log_warn("keyring: allocation");
		return NULL;
	}
	kr->created = now();
	if (keyring_rotate(kr, NULL) == -1) {
		keyring_free(kr);
		return NULL;
	}
	return kr;
}

int
keyring_rotate(struct keyring *kr, uint32_t *version)
{
	struct kr_entry	*e;
	uint32_t	 v = kr->n == 0 ? 1 : kr->ent[kr->n - 1].version + 1;

	if (kr->n == KEYRING_MAX_VERSIONS || v == 0) {
		log_warnx("keyring: full (%zu versions); cannot rotate",
		    kr->n);
		return -1;
	}
	if (aead_random(kr->keys + kr->n * AEAD_KEYLEN, AEAD_KEYLEN) == -1) {
		log_warn("keyring: getrandom");
		return -1;
	}
	e = &kr->ent[kr->n++];
	e->version = v;
	e->seals = 0;
	e->created = now();
	kr->needs_save = 1;
	kr->warned = 0;
	if (version != NULL)
		*version = v;
	return 0;
}

int
keyring_set_rotate_threshold(struct keyring *kr, uint64_t n)
{
	if (n == 0 || n > KEYRING_SEAL_LIMIT)
		return -1;
	kr->threshold = n;
	return 0;
}

uint32_t
keyring_active(const struct keyring *kr)
{
	return kr->ent[kr->n - 1].version;
}

int64_t
keyring_created(const struct keyring *kr)
{
	return kr->created;
}

int
keyring_needs_save(const struct keyring *kr)
{
	return kr->needs_save;
}

size_t
keyring_status(const struct keyring *kr, struct keyring_status *st,
    size_t max)
{
	size_t	 i;

	for (i = 0; i < kr->n && i < max; i++) {
		st[i].version = kr->ent[i].version;
		st[i].seals = kr->ent[i].seals;
		st[i].created = kr->ent[i].created;
	}
	return kr->n;
}

int
keyring_seal_key(struct keyring *kr, uint32_t *version, const uint8_t **key)
{
	struct kr_entry	*e = &kr->ent[kr->n - 1];
	uint32_t	 old = e->version;

	if (e->seals >= kr->threshold) {
		if (keyring_rotate(kr, NULL) == 0)
			log_info("keyring: version %" PRIu32 " made %" PRIu64
			    " seals; rotated to %" PRIu32, old, e->seals,
			    keyring_active(kr));
		else if (!kr->warned) {
			kr->warned = 1;
			log_warnx("keyring: version %" PRIu32 " is due for "
			    "rotation and cannot rotate", old);
		}
		e = &kr->ent[kr->n - 1];
	}
	if (e->seals >= KEYRING_SEAL_LIMIT)
		return -1;
	e->seals++;
	*version = e->version;
	*key = kr->keys + (size_t)(e - kr->ent) * AEAD_KEYLEN;
	return 0;
}

const uint8_t *
keyring_key(const struct keyring *kr, uint32_t version)
{
	size_t	 lo = 0, hi = kr->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kr->ent[mid].version == version)
			return kr->keys + mid * AEAD_KEYLEN;
		if (kr->ent[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * A keyring continues another when it was made from it by rotation: the
 * same creation time, and every version of the old one with the same key
 * (compared in constant time).  Versions may only have been added.
 */
int
keyring_succeeds(struct keyring *newer, const struct keyring *kr)
{
	const uint8_t	*k;
	size_t		 i, j = 0;

	if (newer->created != kr->created || newer->n < kr->n)
		return 0;
	for (i = 0; i < kr->n; i++) {
		if ((k = keyring_key(newer, kr->ent[i].version)) == NULL ||
		    CRYPTO_memcmp(k, kr->keys + i * AEAD_KEYLEN,
		    AEAD_KEYLEN) != 0)
			return 0;
	}
	/* Both ascend: keep the larger count of each shared version. */
	for (i = 0; i < kr->n; i++) {
		while (newer->ent[j].version != kr->ent[i].version)
			j++;
		if (kr->ent[i].seals > newer->ent[j].seals)
			newer->ent[j].seals = kr->ent[i].seals;
	}
	newer->threshold = kr->threshold;
	return 1;
}

/* Big-endian writer and reader for the plaintext layer. */
static uint8_t *
put_be(uint8_t *p, uint64_t v, size_t size)
{
	size_t	 i;

	for (i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
	return p + size;
}

struct reader {
	const uint8_t	*p;
	size_t		 left;
};

static int
get_be(struct reader *r, size_t size, uint64_t *v)
{
	size_t	 i;

	if (r->left < size)
		return -1;
	*v = 0;
	for (i = 0; i < size; i++)
		*v = *v << 8 | r->p[i];
	r->p += size;
	r->left -= size;
	return 0;
}

int
keyring_encode(const struct keyring *kr, uint8_t *out, size_t outsz,
    size_t *outlen)
{
	size_t	 i, len = KEYRING_HDRLEN + kr->n * KEYRING_ENTLEN;
	uint8_t	*p = out;

	*outlen = 0;
	if (outsz < len)
		return AEAD_ERR_SPACE;
	memcpy(p, kr_magic, sizeof(kr_magic));
	p += sizeof(kr_magic);
	*p++ = KR_FORMAT;
	p = put_be(p, (uint64_t)kr->created, 8);
	p = put_be(p, keyring_active(kr), 4);
	p = put_be(p, kr->n, 2);
	for (i = 0; i < kr->n; i++) {
		p = put_be(p, kr->ent[i].version, 4);
		p = put_be(p, (uint64_t)kr->ent[i].created, 8);
		p = put_be(p, kr->ent[i].seals, 8);
		memcpy(p, kr->keys + i * AEAD_KEYLEN, AEAD_KEYLEN);
		p += AEAD_KEYLEN;
	}
	*outlen = len;
	return AEAD_OK;
}

/* One per-version record; versions must ascend from prev. */
static int
decode_entry(struct reader *r, struct keyring *kr, uint32_t prev)
{
	struct kr_entry	*e = &kr->ent[kr->n];
	uint64_t	 version, created, seals;

	if (get_be(r, 4, &version) == -1 || get_be(r, 8, &created) == -1 ||
	    get_be(r, 8, &seals) == -1 || r->left < AEAD_KEYLEN)
		return -1;
	if (version <= prev || created > INT64_MAX ||
	    seals > KEYRING_SEAL_LIMIT)
		return -1;
	e->version = (uint32_t)version;
	e->created = (int64_t)created;
	e->seals = seals;
	memcpy(kr->keys + kr->n * AEAD_KEYLEN, r->p, AEAD_KEYLEN);
	r->p += AEAD_KEYLEN;
	r->left -= AEAD_KEYLEN;
	kr->n++;
	return 0;
}

static int
decode(struct reader *r, struct keyring *kr)
{
	uint64_t	 format, created, active, count, i;

	if (r->left < sizeof(kr_magic) ||
	    memcmp(r->p, kr_magic, sizeof(kr_magic)) != 0)
		return -1;
	r->p += sizeof(kr_magic);
	r->left -= sizeof(kr_magic);
	if (get_be(r, 1, &format) == -1 || format != KR_FORMAT ||
	    get_be(r, 8, &created) == -1 || created > INT64_MAX ||
	    get_be(r, 4, &active) == -1 || get_be(r, 2, &count) == -1 ||
	    count == 0 || count > KEYRING_MAX_VERSIONS ||
	    r->left != count * KEYRING_ENTLEN)
		return -1;
	kr->created = (int64_t)created;
	for (i = 0; i < count; i++)
		if (decode_entry(r, kr, i == 0 ? 0 :
		    kr->ent[kr->n - 1].version) == -1)
			return -1;
	/* Rotation only ever appends, so the active version is the last. */
	if (r->left != 0 || active != keyring_active(kr))
		return -1;
	return 0;
}

int
keyring_decode(const uint8_t *plain, size_t len, struct keyring **krp)
{
	struct reader	 r = { plain, len };
	struct keyring	*kr;

	*krp = NULL;
	if ((kr = kr_alloc()) == NULL)
		return AEAD_ERR_INTERNAL;
	if (decode(&r, kr) == -1) {
		keyring_free(kr);
		return AEAD_ERR_MALFORMED;
	}
	*krp = kr;
	return AEAD_OK;
}

int
keyring_save(struct keyring *kr, const uint8_t root[AEAD_KEYLEN],
    uint8_t *out, size_t outsz, size_t *outlen)
{
	uint8_t	*plain;
	size_t	 len;
	int	 rv;

	*outlen = 0;
	if ((plain = secmem_alloc(KEYRING_PLAIN_MAX)) == NULL)
		return AEAD_ERR_INTERNAL;
	if ((rv = keyring_encode(kr, plain, KEYRING_PLAIN_MAX, &len)) ==
	    AEAD_OK)
		rv = aead_seal_key(root, AEAD_ROOT_VERSION, BLOB_PURPOSE,
		    BLOB_TABLE, BLOB_ROW, BLOB_COLUMN, plain, len, out, outsz,
		    outlen);
	secmem_free(plain, KEYRING_PLAIN_MAX);
	if (rv == AEAD_OK)
		kr->needs_save = 0;
	return rv;
}

int
keyring_load(const uint8_t root[AEAD_KEYLEN], const uint8_t *blob,
    size_t len, struct keyring **krp)
{
	uint8_t	*plain;
	size_t	 plen;
	int	 rv;

	*krp = NULL;
	/* Longer than any keyring could seal to: not worth decrypting. */
	if (len > KEYRING_BLOB_MAX)
		return AEAD_ERR_MALFORMED;
	if ((plain = secmem_alloc(KEYRING_PLAIN_MAX)) == NULL)
		return AEAD_ERR_INTERNAL;
	if ((rv = aead_open_key(root, AEAD_ROOT_VERSION, BLOB_PURPOSE,
	    BLOB_TABLE, BLOB_ROW, BLOB_COLUMN, blob, len, plain,
	    KEYRING_PLAIN_MAX, &plen)) == AEAD_OK)
		rv = keyring_decode(plain, plen, krp);
	secmem_free(plain, KEYRING_PLAIN_MAX);
	return rv;
}
