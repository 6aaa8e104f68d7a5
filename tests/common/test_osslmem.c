/*
 * OpenSSL's allocator replaced by one that wipes (common/osslmem.c):
 * installed before OpenSSL allocates; blocks keep their contents through
 * realloc in both directions; OpenSSL works on it; and a block it frees
 * keeps nothing of its contents, read through /proc/self/mem (a plain
 * free does keep them: the reading can see them).
 */
#include <sys/types.h>
#include <sys/random.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/osslmem.h"

static int	 installed = -2;

static void
test_installed_first(void **state)
{
	(void)state;
	assert_int_equal(installed, 0);
}

static void
test_blocks(void **state)
{
	unsigned char	*p, *z;
	size_t		 i;

	(void)state;
	assert_non_null(p = OPENSSL_malloc(100));
	for (i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	assert_non_null(p = OPENSSL_realloc(p, 5000));
	for (i = 0; i < 100; i++)
		assert_int_equal(p[i], i);
	memset(p + 100, 0xa5, 4900);
	assert_non_null(p = OPENSSL_realloc(p, 10));
	for (i = 0; i < 10; i++)
		assert_int_equal(p[i], i);
	assert_non_null(z = OPENSSL_zalloc(64));
	for (i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	OPENSSL_free(z);
	OPENSSL_clear_free(p, 10);
	assert_null(OPENSSL_realloc(OPENSSL_malloc(8), 0));
	OPENSSL_free(NULL);
}

/* A needle kept masked, so that only what is written unmasked is found. */
struct needle {
	unsigned char	 mask[32];
	unsigned char	 masked[32];
};

static void
needle_new(struct needle *n)
{
	size_t	 i;

	assert_int_equal(getrandom(n->mask, sizeof(n->mask), 0),
	    sizeof(n->mask));
	assert_int_equal(getrandom(n->masked, sizeof(n->masked), 0),
	    sizeof(n->masked));
	for (i = 0; i < sizeof(n->mask); i++)
		n->mask[i] |= 1;	/* never the needle itself */
}

static void
needle_put(const struct needle *n, unsigned char *p)
{
	size_t	 i;

	for (i = 0; i < sizeof(n->mask); i++)
		p[i] = n->masked[i] ^ n->mask[i];
}

/*
 * Is the needle still at this address?  Read through /proc/self/mem: the
 * block may be freed, and the compiler and the sanitizers must not see a
 * read of freed memory.  Freed small blocks stay mapped (glibc's caches,
 * ASan's quarantine) and keep their contents unless wiped.
 */
static int
still_at(const struct needle *n, uintptr_t at)
{
	unsigned char	 buf[sizeof(n->mask)];
	size_t		 j;
	int		 fd;

	assert_true((fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)) != -1);
	assert_int_equal(pread(fd, buf, sizeof(buf), (off_t)at),
	    (ssize_t)sizeof(buf));
	close(fd);
	for (j = 0; j < sizeof(buf); j++)
		if ((buf[j] ^ n->mask[j]) != n->masked[j])
			return 0;
	return 1;
}

static void
test_freed_blocks_wiped(void **state)
{
	struct needle	 a, b, c;
	unsigned char	*p;
	uintptr_t	 at;

	(void)state;
	needle_new(&a);
	needle_new(&b);
	needle_new(&c);
	/* A plain free leaves the block's contents: the search sees them. */
	assert_non_null(p = malloc(200));
	needle_put(&a, p + 64);
	at = (uintptr_t)(p + 64);
	free(p);
	assert_true(still_at(&a, at));
	/* OpenSSL's free does not. */
	assert_non_null(p = OPENSSL_malloc(200));
	needle_put(&b, p + 64);
	at = (uintptr_t)(p + 64);
	assert_true(still_at(&b, at));
	OPENSSL_free(p);
	assert_false(still_at(&b, at));
	/* Nor its realloc, of the block it leaves. */
	assert_non_null(p = OPENSSL_malloc(200));
	needle_put(&c, p + 64);
	at = (uintptr_t)(p + 64);
	assert_non_null(p = OPENSSL_realloc(p, 100000));
	assert_false(still_at(&c, at));
	OPENSSL_free(p);
}

/* A digest: providers, contexts, all allocated here. */
static void
test_openssl_works(void **state)
{
	static const unsigned char want[] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0;

	(void)state;
	assert_int_equal(EVP_Digest("abc", 3, md, &len, EVP_sha256(), NULL),
	    1);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(md, want, sizeof(want));
}

/*
 * Installing again changes nothing (OpenSSL refuses a change only after
 * its own allocator has been used, which these tests cannot show).
 */
static void
test_again(void **state)
{
	void	*p;

	(void)state;
	assert_non_null(p = OPENSSL_malloc(32));
	assert_int_equal(osslmem_init(), 0);
	OPENSSL_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_installed_first),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_openssl_works),
		cmocka_unit_test(test_freed_blocks_wiped),
		cmocka_unit_test(test_again),
	};

	installed = osslmem_init();
	return cmocka_run_group_tests_name("osslmem", tests, NULL, NULL);
}
