/*
 * Unit tests for priv/keyring.c, priv/secmem.c and priv/rootkey.c:
 * rotation, seal counting, the sealed keyring blob and its strict parser,
 * locked memory, and the root key file checks.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "priv/aead.h"
#include "priv/keyring.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"
#include "tests/priv/tests.h"

#define P	"credentials"
#define T	"connections"
#define R	"acme-github"
#define C	"token"

static const uint8_t	 root_a[AEAD_KEYLEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t	 root_b[AEAD_KEYLEN] = { 1, 2, 3, 4, 5, 6, 7, 9 };

/* Capture what the logger writes, as test_log.c does. */
static char	 logbuf[16384];

static void
capture_begin(int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	log_setfd(fds[1]);
}

static const char *
capture_end(int fds[2])
{
	ssize_t	 n;

	log_setfd(STDERR_FILENO);
	close(fds[1]);
	n = read(fds[0], logbuf, sizeof(logbuf) - 1);
	close(fds[0]);
	assert_true(n >= 0);
	logbuf[n] = '\0';
	return logbuf;
}

static uint32_t
seal_version(struct keyring *kr, uint8_t *sealed, size_t sz, size_t *slen)
{
	uint32_t	 v;

	assert_int_equal(aead_seal(kr, P, T, R, C, (const uint8_t *)"value",
	    5, sealed, sz, slen), AEAD_OK);
	assert_int_equal(aead_parse_header(sealed, *slen, &v), AEAD_OK);
	return v;
}

static void
assert_opens(const struct keyring *kr, const uint8_t *sealed, size_t slen)
{
	uint8_t	 out[5];
	size_t	 olen;

	assert_int_equal(aead_open(kr, P, T, R, C, sealed, slen, out,
	    sizeof(out), &olen), AEAD_OK);
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "value", 5);
}

static void
test_new(void **state)
{
	struct keyring		*kr;
	struct keyring_status	 st[2];

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(keyring_active(kr), 1);
	assert_true(keyring_needs_save(kr));
	assert_true(keyring_created(kr) > 1700000000);
	assert_int_equal(keyring_status(kr, st, 2), 1);
	assert_int_equal(st[0].version, 1);
	assert_int_equal(st[0].seals, 0);
	assert_true(st[0].created >= keyring_created(kr));
	assert_non_null(keyring_key(kr, 1));
	assert_null(keyring_key(kr, 0));
	assert_null(keyring_key(kr, 2));
	assert_int_equal(keyring_status(kr, NULL, 0), 1);
	keyring_free(kr);
	keyring_free(NULL);
}

static void
test_rotate(void **state)
{
	struct keyring		*kr;
	struct keyring_status	 st[3];
	uint8_t			 s1[64], s2[64];
	size_t			 l1, l2;
	uint32_t		 v;

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(seal_version(kr, s1, sizeof(s1), &l1), 1);
	assert_int_equal(keyring_rotate(kr, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(keyring_active(kr), 2);
	assert_int_equal(seal_version(kr, s2, sizeof(s2), &l2), 2);
	assert_int_equal(seal_version(kr, s2, sizeof(s2), &l2), 2);
	assert_opens(kr, s1, l1);
	assert_opens(kr, s2, l2);
	/* Different versions, different keys. */
	assert_memory_not_equal(keyring_key(kr, 1), keyring_key(kr, 2),
	    AEAD_KEYLEN);
	assert_int_equal(keyring_status(kr, st, 3), 2);
	assert_int_equal(st[0].version, 1);
	assert_int_equal(st[0].seals, 1);
	assert_int_equal(st[1].version, 2);
	assert_int_equal(st[1].seals, 2);
	keyring_free(kr);
}

static void
test_auto_rotate(void **state)
{
	struct keyring		*kr;
	struct keyring_status	 st[3];
	uint8_t			 first[64], s[64];
	size_t			 lfirst, l;
	int			 i, fds[2];

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(keyring_set_rotate_threshold(kr, 0), -1);
	assert_int_equal(keyring_set_rotate_threshold(kr,
	    KEYRING_SEAL_LIMIT + 1), -1);
	assert_int_equal(keyring_set_rotate_threshold(kr, 3), 0);
	assert_int_equal(seal_version(kr, first, sizeof(first), &lfirst), 1);
	for (i = 0; i < 2; i++)
		assert_int_equal(seal_version(kr, s, sizeof(s), &l), 1);
	/* The fourth seal finds version 1 at its threshold. */
	capture_begin(fds);
	assert_int_equal(seal_version(kr, s, sizeof(s), &l), 2);
	assert_non_null(strstr(capture_end(fds), "rotated to 2"));
	assert_int_equal(keyring_active(kr), 2);
	assert_opens(kr, first, lfirst);
	assert_opens(kr, s, l);
	for (i = 0; i < 3; i++)
		assert_int_equal(seal_version(kr, s, sizeof(s), &l), 3 - (i < 2));
	assert_int_equal(keyring_status(kr, st, 3), 3);
	assert_int_equal(st[0].seals, 3);
	assert_int_equal(st[1].seals, 3);
	assert_int_equal(st[2].seals, 1);
	keyring_free(kr);
}

/* A full keyring cannot rotate; sealing goes on under the last version. */
static void
test_full(void **state)
{
	struct keyring	*kr;
	uint8_t		 s[64];
	size_t		 l;
	uint32_t	 v;
	int		 i, fds[2];

	(void)state;
	assert_non_null(kr = keyring_new());
	for (i = 1; i < KEYRING_MAX_VERSIONS; i++)
		assert_int_equal(keyring_rotate(kr, &v), 0);
	assert_int_equal(v, KEYRING_MAX_VERSIONS);
	capture_begin(fds);
	assert_int_equal(keyring_rotate(kr, &v), -1);
	assert_int_equal(keyring_set_rotate_threshold(kr, 1), 0);
	assert_int_equal(seal_version(kr, s, sizeof(s), &l),
	    KEYRING_MAX_VERSIONS);
	assert_int_equal(seal_version(kr, s, sizeof(s), &l),
	    KEYRING_MAX_VERSIONS);
	assert_non_null(strstr(capture_end(fds), "cannot rotate"));
	assert_opens(kr, s, l);
	keyring_free(kr);
}

/* Two keyrings agree on everything observable, keys included. */
static void
assert_same(const struct keyring *a, const struct keyring *b)
{
	struct keyring_status	 sa[8], sb[8];
	size_t			 n, i;

	assert_int_equal(keyring_active(a), keyring_active(b));
	assert_int_equal(keyring_created(a), keyring_created(b));
	n = keyring_status(a, sa, 8);
	assert_true(n <= 8);
	assert_int_equal(keyring_status(b, sb, 8), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(sa[i].version, sb[i].version);
		assert_int_equal(sa[i].seals, sb[i].seals);
		assert_int_equal(sa[i].created, sb[i].created);
		assert_memory_equal(keyring_key(a, sa[i].version),
		    keyring_key(b, sb[i].version), AEAD_KEYLEN);
	}
}

static void
test_blob_round_trip(void **state)
{
	struct keyring	*kr, *back;
	uint8_t		 blob[KEYRING_BLOB_MAX], s1[64], s2[64];
	size_t		 blen, l1, l2;
	uint32_t	 v;

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(seal_version(kr, s1, sizeof(s1), &l1), 1);
	assert_int_equal(keyring_rotate(kr, NULL), 0);
	assert_int_equal(seal_version(kr, s2, sizeof(s2), &l2), 2);
	assert_int_equal(keyring_save(kr, root_a, blob, sizeof(blob), &blen),
	    AEAD_OK);
	assert_false(keyring_needs_save(kr));
	assert_int_equal(blen, AEAD_OVERHEAD + KEYRING_HDRLEN +
	    2 * KEYRING_ENTLEN);
	assert_int_equal(aead_parse_header(blob, blen, &v), AEAD_OK);
	assert_int_equal(v, AEAD_ROOT_VERSION);
	/* No key bytes in the clear. */
	assert_null(memmem(blob, blen, keyring_key(kr, 1), AEAD_KEYLEN));
	assert_null(memmem(blob, blen, keyring_key(kr, 2), AEAD_KEYLEN));

	assert_int_equal(keyring_load(root_a, blob, blen, &back), AEAD_OK);
	assert_non_null(back);
	assert_false(keyring_needs_save(back));
	assert_same(kr, back);
	assert_opens(back, s1, l1);
	assert_opens(back, s2, l2);
	assert_int_equal(seal_version(back, s1, sizeof(s1), &l1), 2);
	assert_opens(kr, s1, l1);
	/* A blob that is too small for the keyring is refused cleanly. */
	assert_int_equal(keyring_save(kr, root_a, blob, blen - 1, &blen),
	    AEAD_ERR_SPACE);
	keyring_free(kr);
	keyring_free(back);
}

/* Only a keyring made from another by rotation succeeds it. */
static void
test_succeeds(void **state)
{
	struct keyring		*a, *b, *later, *other;
	struct keyring_status	 st[4];
	uint8_t			 blob[KEYRING_BLOB_MAX], s1[64];
	size_t			 blen, l1;

	(void)state;
	assert_non_null(a = keyring_new());
	assert_int_equal(seal_version(a, s1, sizeof(s1), &l1), 1);
	assert_int_equal(keyring_save(a, root_a, blob, sizeof(blob), &blen),
	    AEAD_OK);
	/* b: another keyholder's copy, which seals more and rotates. */
	assert_int_equal(keyring_load(root_a, blob, blen, &b), AEAD_OK);
	assert_int_equal(seal_version(b, s1, sizeof(s1), &l1), 1);
	assert_int_equal(seal_version(a, s1, sizeof(s1), &l1), 1);
	assert_int_equal(seal_version(a, s1, sizeof(s1), &l1), 1);
	assert_int_equal(keyring_rotate(b, NULL), 0);
	assert_int_equal(keyring_save(b, root_a, blob, sizeof(blob), &blen),
	    AEAD_OK);
	assert_int_equal(keyring_load(root_a, blob, blen, &later), AEAD_OK);

	/* The same keyring, and a rotated one, succeed a; a does not. */
	assert_int_equal(keyring_succeeds(later, a), 1);
	assert_int_equal(keyring_active(later), 2);
	assert_int_equal(keyring_status(later, st, 4), 2);
	assert_int_equal(st[0].seals, 3);	/* a's count was larger */
	assert_int_equal(keyring_succeeds(a, later), 0);
	assert_int_equal(keyring_succeeds(a, a), 1);

	/* An unrelated keyring, or one with a version's key changed, does not. */
	assert_non_null(other = keyring_new());
	assert_int_equal(keyring_succeeds(other, a), 0);
	assert_int_equal(keyring_rotate(other, NULL), 0);
	assert_int_equal(keyring_succeeds(other, a), 0);
	keyring_free(other);
	assert_int_equal(keyring_rotate(a, NULL), 0);	/* a's own version 2 */
	assert_int_equal(keyring_succeeds(later, a), 0);
	assert_int_equal(keyring_succeeds(a, later), 0);
	keyring_free(a);
	keyring_free(b);
	keyring_free(later);
}

/* Every way a blob from the broker can be wrong fails, with no keyring. */
static void
test_blob_hostile(void **state)
{
	struct keyring	*kr, *back;
	uint8_t		 blob[KEYRING_BLOB_MAX + 1], big[KEYRING_BLOB_MAX + 2];
	size_t		 blen, i, len;
	int		 rv;

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(keyring_rotate(kr, NULL), 0);
	assert_int_equal(keyring_save(kr, root_a, blob, sizeof(blob), &blen),
	    AEAD_OK);
	back = (struct keyring *)&back;		/* must be reset to NULL */
	assert_int_equal(keyring_load(root_b, blob, blen, &back),
	    AEAD_ERR_AUTH);
	assert_null(back);
	for (i = 0; i < blen; i++) {
		blob[i] ^= 0x01;
		rv = keyring_load(root_a, blob, blen, &back);
		assert_int_equal(rv, i < 4 ? AEAD_ERR_MALFORMED :
		    i < 8 ? AEAD_ERR_VERSION : AEAD_ERR_AUTH);
		assert_null(back);
		blob[i] ^= 0x01;
	}
	for (len = 0; len < blen; len++) {
		assert_int_not_equal(keyring_load(root_a, blob, len, &back),
		    AEAD_OK);
		assert_null(back);
	}
	blob[blen] = 0;
	assert_int_equal(keyring_load(root_a, blob, blen + 1, &back),
	    AEAD_ERR_AUTH);
	memset(big, 0, sizeof(big));
	memcpy(big, blob, blen);
	assert_int_equal(keyring_load(root_a, big, sizeof(big), &back),
	    AEAD_ERR_MALFORMED);
	/* A value sealed under the root key for another place is no blob. */
	assert_int_equal(aead_seal_key(root_a, AEAD_ROOT_VERSION, P, T, R, C,
	    (const uint8_t *)"x", 1, blob, sizeof(blob), &blen), AEAD_OK);
	assert_int_equal(keyring_load(root_a, blob, blen, &back),
	    AEAD_ERR_AUTH);
	assert_int_equal(keyring_load(root_a, blob, blen, &back), AEAD_ERR_AUTH);
	/* The broker cannot forge one: it is ok as a blob, but only under the
	 * real place.  The right place with junk inside fails to parse. */
	assert_int_equal(aead_seal_key(root_a, AEAD_ROOT_VERSION, "keyring",
	    "keyring", "root", "blob", (const uint8_t *)"DRKR", 4, blob,
	    sizeof(blob), &blen), AEAD_OK);
	assert_int_equal(keyring_load(root_a, blob, blen, &back),
	    AEAD_ERR_MALFORMED);
	assert_null(back);
	keyring_free(kr);
}

static void
put_be(uint8_t *p, uint64_t v, size_t size)
{
	size_t	 i;

	for (i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

/* Decode a mutated copy of plain; it must fail. */
static void
assert_decode_fails(const uint8_t *plain, size_t len, size_t off,
    uint64_t v, size_t size, const char *what)
{
	uint8_t		 buf[KEYRING_PLAIN_MAX + 1];
	struct keyring	*kr = NULL;

	assert_true(len <= sizeof(buf));
	memcpy(buf, plain, len);
	if (size > 0)
		put_be(buf + off, v, size);
	if (keyring_decode(buf, len, &kr) != AEAD_ERR_MALFORMED)
		fail_msg("decode accepted %s", what);
	assert_null(kr);
}

static void
test_decode_strict(void **state)
{
	struct keyring	*kr, *back;
	uint8_t		 plain[KEYRING_PLAIN_MAX + 1], again[KEYRING_PLAIN_MAX];
	size_t		 len, len2;
	const size_t	 e1 = KEYRING_HDRLEN, e2 = e1 + KEYRING_ENTLEN;

	(void)state;
	assert_non_null(kr = keyring_new());
	assert_int_equal(keyring_rotate(kr, NULL), 0);
	assert_int_equal(keyring_encode(kr, plain, sizeof(plain), &len), 0);
	assert_int_equal(len, KEYRING_HDRLEN + 2 * KEYRING_ENTLEN);
	/* The encoding is canonical: decode then encode gives it back. */
	assert_int_equal(keyring_decode(plain, len, &back), AEAD_OK);
	assert_int_equal(keyring_encode(back, again, sizeof(again), &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(plain, again, len);
	keyring_free(back);

	assert_decode_fails(plain, len, 0, 'X', 1, "bad magic");
	assert_decode_fails(plain, len, 4, 2, 1, "format 2");
	assert_decode_fails(plain, len, 5, (uint64_t)INT64_MAX + 1, 8,
	    "creation time past int64");
	assert_decode_fails(plain, len, 13, 1, 4, "active not the newest");
	assert_decode_fails(plain, len, 13, 3, 4, "active unknown");
	assert_decode_fails(plain, len, 17, 0, 2, "count 0");
	assert_decode_fails(plain, KEYRING_HDRLEN, 17, 0, 2,
	    "count 0 and no entries");
	assert_decode_fails(plain, len, 17, 1, 2, "count too small");
	assert_decode_fails(plain, len, 17, 3, 2, "count too large");
	assert_decode_fails(plain, len, 17, KEYRING_MAX_VERSIONS + 1, 2,
	    "count over the maximum");
	assert_decode_fails(plain, len, e1, 0, 4, "version 0");
	assert_decode_fails(plain, len, e2, 1, 4, "repeated version");
	assert_decode_fails(plain, len, e1, 3, 4, "descending versions");
	assert_decode_fails(plain, len, e1 + 4, (uint64_t)-1, 8,
	    "version created past int64");
	assert_decode_fails(plain, len, e1 + 12, KEYRING_SEAL_LIMIT + 1, 8,
	    "seal count over the limit");
	plain[len] = 0;
	assert_decode_fails(plain, len + 1, 0, 0, 0, "a byte left over");
	for (len2 = 0; len2 < len; len2++)
		assert_decode_fails(plain, len2, 0, 0, 0, "a truncation");
	/* Gaps between versions are fine (versions may be retired). */
	memcpy(again, plain, len);
	put_be(again + 13, 9, 4);
	put_be(again + e2, 9, 4);
	assert_int_equal(keyring_decode(again, len, &back), AEAD_OK);
	assert_int_equal(keyring_active(back), 9);
	assert_null(keyring_key(back, 2));
	keyring_free(back);
	/* So is the limit itself. */
	memcpy(again, plain, len);
	put_be(again + e1 + 12, KEYRING_SEAL_LIMIT, 8);
	assert_int_equal(keyring_decode(again, len, &back), AEAD_OK);
	keyring_free(back);
	keyring_free(kr);
}

/* The largest keyring still fits its documented blob size. */
static void
test_blob_max(void **state)
{
	struct keyring	*kr, *back;
	uint8_t		 blob[KEYRING_BLOB_MAX];
	size_t		 blen;
	int		 i;

	(void)state;
	assert_true(KEYRING_BLOB_MAX <= 16384 - 16 - 1024);
	assert_non_null(kr = keyring_new());
	for (i = 1; i < KEYRING_MAX_VERSIONS; i++)
		assert_int_equal(keyring_rotate(kr, NULL), 0);
	assert_int_equal(keyring_save(kr, root_a, blob, sizeof(blob), &blen),
	    AEAD_OK);
	assert_int_equal(blen, KEYRING_BLOB_MAX);
	assert_int_equal(keyring_load(root_a, blob, blen, &back), AEAD_OK);
	assert_int_equal(keyring_active(back), KEYRING_MAX_VERSIONS);
	keyring_free(back);
	keyring_free(kr);
}

/* One version more than the maximum, consistent otherwise, is refused. */
static void
test_decode_too_many(void **state)
{
	struct keyring	*kr, *back = NULL;
	uint8_t		*plain, *last;
	size_t		 len;
	int		 i;

	(void)state;
	assert_non_null(plain = malloc(KEYRING_PLAIN_MAX + KEYRING_ENTLEN));
	assert_non_null(kr = keyring_new());
	for (i = 1; i < KEYRING_MAX_VERSIONS; i++)
		assert_int_equal(keyring_rotate(kr, NULL), 0);
	assert_int_equal(keyring_encode(kr, plain, KEYRING_PLAIN_MAX, &len),
	    AEAD_OK);
	assert_int_equal(keyring_decode(plain, len, &back), AEAD_OK);
	keyring_free(back);
	last = plain + len - KEYRING_ENTLEN;
	memcpy(last + KEYRING_ENTLEN, last, KEYRING_ENTLEN);
	put_be(last + KEYRING_ENTLEN, KEYRING_MAX_VERSIONS + 1, 4);
	put_be(plain + 13, KEYRING_MAX_VERSIONS + 1, 4);
	put_be(plain + 17, KEYRING_MAX_VERSIONS + 1, 2);
	assert_int_equal(keyring_decode(plain, len + KEYRING_ENTLEN, &back),
	    AEAD_ERR_MALFORMED);
	assert_null(back);
	explicit_bzero(plain, KEYRING_PLAIN_MAX + KEYRING_ENTLEN);
	free(plain);
	keyring_free(kr);
}

/* secmem ---------------------------------------------------------------- */

/* The VmFlags line of the mapping that holds p, from /proc/self/smaps. */
static int
vmflags(const void *p, char *flags, size_t flagsz)
{
	FILE		*f;
	char		 line[512];
	uintptr_t	 lo, hi, a = (uintptr_t)p;
	int		 in = 0, found = -1;

	if ((f = fopen("/proc/self/smaps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, flagsz, "%s", line + 8);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void
test_secmem(void **state)
{
	uint8_t	*p;
	char	 flags[512];
	size_t	 i;

	(void)state;
	assert_int_equal(secmem_init(), 0);
	assert_null(secmem_alloc(0));
	assert_non_null(p = secmem_alloc(100));
	for (i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0x5a, 100);
	assert_int_equal(vmflags(p, flags, sizeof(flags)), 0);
	/* dd: left out of core dumps; lo: locked (when the limit allows). */
	assert_non_null(strstr(flags, " dd"));
	if (geteuid() == 0)
		assert_non_null(strstr(flags, " lo"));
	if (strstr(flags, " lo") != NULL)
		assert_int_equal(secmem_unlocked(), 0);
	secmem_free(p, 100);
	secmem_free(NULL, 0);
}

/*
 * Without the right to lock memory, allocation still works, and the failure
 * is counted and logged.  In a child that gives the right up for good.
 */
static void
test_secmem_unlocked(void **state)
{
	struct rlimit	 rl;
	pid_t		 pid;
	uint8_t		*p;
	int		 status, fds[2];

	(void)state;
	capture_begin(fds);
	if ((pid = fork()) == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
		    setresgid(65534, 65534, 65534) == -1 ||
		    setresuid(65534, 65534, 65534) == -1))
			_exit(2);
		if (getrlimit(RLIMIT_MEMLOCK, &rl) == -1)
			_exit(2);
		rl.rlim_cur = 0;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) == -1 ||
		    secmem_unlocked() != 0)
			_exit(3);
		if ((p = secmem_alloc(32)) == NULL)
			_exit(4);
		p[31] = 1;
		secmem_free(p, 32);
		_exit(secmem_unlocked() == 1 ? 0 : 5);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_non_null(strstr(capture_end(fds), "mlock of key memory failed"));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* rootkey --------------------------------------------------------------- */

static const char	*key_hex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

/* A key file in a fresh temporary directory, with these bytes and mode. */
static void
make_file(char *dir, char *path, size_t pathsz, const char *content,
    size_t len, mode_t mode)
{
	int	 fd;

	snprintf(path, pathsz, "%s/root.key", dir);
	(void)unlink(path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) != -1);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static int
setup_dir(void **state)
{
	char	*dir;

	if ((dir = strdup("/tmp/dromos-rootkey.XXXXXX")) == NULL ||
	    mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int
teardown_dir(void **state)
{
	char	 path[256];

	snprintf(path, sizeof(path), "%s/root.key", (char *)*state);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/link", (char *)*state);
	(void)unlink(path);
	(void)rmdir(*state);
	free(*state);
	return 0;
}

/* Read path and expect a refusal whose log names the problem. */
static void
assert_refused(const char *path, const char *why)
{
	uint8_t	 key[AEAD_KEYLEN];
	int	 fds[2];

	memset(key, 0xaa, sizeof(key));
	capture_begin(fds);
	assert_int_equal(rootkey_read_file(path, key), -1);
	if (strstr(capture_end(fds), why) == NULL)
		fail_msg("no \"%s\" in: %s", why, logbuf);
	assert_non_null(strstr(logbuf, path));
	for (size_t i = 0; i < sizeof(key); i++)
		assert_int_equal(key[i], 0);
}

static void
test_rootkey_modes(void **state)
{
	char	 path[256];
	uint8_t	 key[AEAD_KEYLEN];
	size_t	 i;

	make_file(*state, path, sizeof(path), key_hex, 64, 0644);
	assert_refused(path, "mode 0644");
	make_file(*state, path, sizeof(path), key_hex, 64, 0640);
	assert_refused(path, "mode 0640 gives group or others access");
	make_file(*state, path, sizeof(path), key_hex, 64, 0604);
	assert_refused(path, "mode 0604");
	make_file(*state, path, sizeof(path), key_hex, 64, 0400);
	assert_int_equal(rootkey_read_file(path, key), 0);
	for (i = 0; i < AEAD_KEYLEN; i++)
		assert_int_equal(key[i], i);
	make_file(*state, path, sizeof(path), "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 65, 0600);
	memset(key, 0, sizeof(key));
	assert_int_equal(rootkey_read_file(path, key), 0);
	assert_int_equal(key[31], 0x1f);
}

static void
test_rootkey_owner_and_type(void **state)
{
	char	 path[256], link[256];

	make_file(*state, path, sizeof(path), key_hex, 64, 0400);
	/* Another owner: only root can arrange that. */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_refused(path, "owned by uid 65534");
		assert_int_equal(chown(path, 0, 0), 0);
	}
	snprintf(link, sizeof(link), "%s/link", (char *)*state);
	assert_int_equal(symlink(path, link), 0);
	assert_refused(link, "open");
	assert_refused(*state, "not a regular file");
	snprintf(link, sizeof(link), "%s/missing", (char *)*state);
	assert_refused(link, "open");
}

static void
test_rootkey_content(void **state)
{
	static const struct {
		const char	*content;
		const char	*why;
	} bad[] = {
		{ "", "0 bytes" },
		{ "00", "2 bytes" },
		{ "000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1", "63 bytes" },
		{ "000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1f\n\n", "66 bytes" },
		{ "000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1g", "hexadecimal" },
		{ "000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1f ", "hexadecimal" },
		{ " 000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1", "hexadecimal" },
		{ "000102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e\n1", "hexadecimal" },
	};
	char	 path[256];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_file(*state, path, sizeof(path), bad[i].content,
		    strlen(bad[i].content), 0400);
		assert_refused(path, bad[i].why);
	}
}

static void
test_rootkey_write(void **state)
{
	char	 path[256];
	uint8_t	 key[AEAD_KEYLEN], back[AEAD_KEYLEN];
	struct stat st;
	int	 fds[2];

	snprintf(path, sizeof(path), "%s/root.key", (char *)*state);
	(void)unlink(path);
	assert_int_equal(aead_random(key, sizeof(key)), 0);
	assert_int_equal(rootkey_write_file(path, key), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(rootkey_read_file(path, back), 0);
	assert_memory_equal(key, back, sizeof(key));
	/* Never over an existing key. */
	capture_begin(fds);
	assert_int_equal(rootkey_write_file(path, key), -1);
	assert_non_null(strstr(capture_end(fds), "create"));
	assert_int_equal(rootkey_read_file(path, back), 0);
	assert_memory_equal(key, back, sizeof(key));
}

int
run_keyring_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_succeeds),
		cmocka_unit_test(test_auto_rotate),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_blob_round_trip),
		cmocka_unit_test(test_blob_hostile),
		cmocka_unit_test(test_decode_strict),
		cmocka_unit_test(test_blob_max),
		cmocka_unit_test(test_decode_too_many),
		cmocka_unit_test(test_secmem),
		cmocka_unit_test(test_secmem_unlocked),
		cmocka_unit_test_setup_teardown(test_rootkey_modes, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_rootkey_owner_and_type,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_rootkey_content,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_rootkey_write, setup_dir,
		    teardown_dir),
	};

	return cmocka_run_group_tests_name("keyring", tests, NULL, NULL);
}
