/*
 * Fuzz target for the keyholder's parsers of broker-supplied bytes
 * (priv/aead.c, priv/keyring.c).  Every input is used four ways:
 *
 *   1. as a sealed value: header parse, then aead_open under a keyring
 *      with versions 1..3 (it must never open: the fuzzer cannot forge);
 *   2. as a keyring blob: keyring_load under a fixed root key (likewise);
 *   3. as a keyring plaintext: keyring_decode, the layer behind the tag the
 *      fuzzer can otherwise never reach; what decodes must encode back to
 *      the same bytes and must seal and open a value;
 *   4. as "purpose\0table\0row\0column\0plaintext": the field checks, then
 *      a seal that must open again, and must not open with one bit flipped.
 *
 * A broken property calls abort().
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "priv/aead.h"
#include "priv/keyring.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_INPUT	(KEYRING_BLOB_MAX + 64)

static struct keyring	*fz_kr;
static const uint8_t	 fz_root[AEAD_KEYLEN] = { 0x52, 0x4f, 0x4f, 0x54 };
static uint8_t		 fz_out[MAX_INPUT + AEAD_OVERHEAD];
static uint8_t		 fz_buf[MAX_INPUT + AEAD_OVERHEAD];

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
setup(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_WRONLY)) != -1)
		log_setfd(fd);		/* rotations log; keep the run quiet */
	check(aead_init() == 0);
	check((fz_kr = keyring_new()) != NULL);
	check(keyring_rotate(fz_kr, NULL) == 0);
	check(keyring_rotate(fz_kr, NULL) == 0);
}

static void
as_sealed(const uint8_t *data, size_t size)
{
	uint32_t	 v;
	size_t		 olen = 1;
	int		 rv;

	rv = aead_parse_header(data, size, &v);
	check(rv == AEAD_OK || rv == AEAD_ERR_MALFORMED);
	rv = aead_open(fz_kr, "credentials", "connections", "acme", "token",
	    data, size, fz_out, sizeof(fz_out), &olen);
	check(rv == AEAD_ERR_MALFORMED || rv == AEAD_ERR_VERSION ||
	    rv == AEAD_ERR_AUTH);
	check(olen == 0);
}

static void
as_blob(const uint8_t *data, size_t size)
{
	struct keyring	*kr;

	check(keyring_load(fz_root, data, size, &kr) != AEAD_OK);
	check(kr == NULL);
}

static void
as_plain(const uint8_t *data, size_t size)
{
	struct keyring_status	 st[4];
	struct keyring		*kr;
	size_t			 len, slen, olen, n;
	int			 rv;

	if ((rv = keyring_decode(data, size, &kr)) != AEAD_OK) {
		check(rv == AEAD_ERR_MALFORMED && kr == NULL);
		return;
	}
	/* Canonical: one byte string per keyring. */
	check(keyring_encode(kr, fz_buf, sizeof(fz_buf), &len) == AEAD_OK);
	check(len == size && memcmp(fz_buf, data, size) == 0);
	n = keyring_status(kr, st, 4);
	check(n >= 1 && n <= KEYRING_MAX_VERSIONS);
	check(st[n < 4 ? n - 1 : 3].version <= keyring_active(kr));
	/* The keys work; a seal may rotate (or exhaust) a loaded keyring. */
	rv = aead_seal(kr, "p", "t", "r", "c", data, size < 64 ? size : 64,
	    fz_out, sizeof(fz_out), &slen);
	if (rv == AEAD_OK) {
		check(aead_open(kr, "p", "t", "r", "c", fz_out, slen, fz_buf,
		    sizeof(fz_buf), &olen) == AEAD_OK);
		check(olen == slen - AEAD_OVERHEAD &&
		    memcmp(fz_buf, data, olen) == 0);
	} else
		check(rv == AEAD_ERR_EXHAUSTED);
	keyring_free(kr);
}

/* The next NUL-terminated piece of data, or NULL. */
static const char *
piece(const uint8_t **p, const uint8_t *end)
{
	const uint8_t	*nul;
	const char	*s = (const char *)*p;

	if ((nul = memchr(*p, '\0', (size_t)(end - *p))) == NULL)
		return NULL;
	*p = nul + 1;
	return s;
}

static void
as_fields(const uint8_t *data, size_t size)
{
	const uint8_t	*p = data, *end = data + size;
	const char	*f[4];
	size_t		 i, plen, slen, olen;
	int		 rv;

	for (i = 0; i < 4; i++)
		if ((f[i] = piece(&p, end)) == NULL)
			return;
	plen = (size_t)(end - p);
	rv = aead_seal(fz_kr, f[0], f[1], f[2], f[3], p, plen, fz_out,
	    sizeof(fz_out), &slen);
	if (rv != AEAD_OK) {
		check(rv == AEAD_ERR_FIELD);
		check(aead_open(fz_kr, f[0], f[1], f[2], f[3], fz_out,
		    AEAD_OVERHEAD, fz_buf, sizeof(fz_buf), &olen) ==
		    AEAD_ERR_FIELD);
		return;
	}
	check(slen == plen + AEAD_OVERHEAD);
	check(aead_open(fz_kr, f[0], f[1], f[2], f[3], fz_out, slen, fz_buf,
	    sizeof(fz_buf), &olen) == AEAD_OK);
	check(olen == plen && memcmp(fz_buf, p, plen) == 0);
	/* Any one bit, chosen by the input, breaks it. */
	i = (size * 131u + (size > 0 ? data[0] : 0)) % (slen * 8);
	fz_out[i / 8] ^= (uint8_t)(1u << (i % 8));
	check(aead_open(fz_kr, f[0], f[1], f[2], f[3], fz_out, slen, fz_buf,
	    sizeof(fz_buf), &olen) != AEAD_OK);
	check(olen == 0);
	for (i = 0; i < plen; i++)
		check(fz_buf[i] == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_kr == NULL)
		setup();
	if (size > MAX_INPUT)
		return 0;
	as_sealed(data, size);
	as_blob(data, size);
	as_plain(data, size);
	as_fields(data, size);
	return 0;
}
