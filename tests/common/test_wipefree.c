/*
 * common/wipefree.c, in a program of its own that links it as the daemons
 * do: a block freed, a block realloc(3) moves or shrinks, and the buffer
 * the C library's stdio allocates and frees by itself leave no copy of
 * what they held on the heap.  The search reads the heap in place and
 * never holds the secret itself: it compares through a mask.  A block
 * handed straight to the C library's free shows that the search finds
 * what freeing leaves behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/rand.h>

#define SECRET_LEN	32

void	*__libc_malloc(size_t);
void	 __libc_free(void *);

struct masked {
	unsigned char	 mask[SECRET_LEN];
	unsigned char	 val[SECRET_LEN];	/* secret ^ mask */
};

/* A new random secret, kept masked only. */
static void
masked_new(struct masked *m)
{
	unsigned char	 s[SECRET_LEN];
	size_t		 i;

	assert_int_equal(RAND_bytes(s, sizeof(s)), 1);
	assert_int_equal(RAND_bytes(m->mask, sizeof(m->mask)), 1);
	for (i = 0; i < SECRET_LEN; i++)
		m->val[i] = s[i] ^ m->mask[i];
	explicit_bzero(s, sizeof(s));
}

/* Unmask into dst (a heap block under test). */
static void
masked_put(const struct masked *m, unsigned char *dst)
{
	size_t	 i;

	for (i = 0; i < SECRET_LEN; i++)
		dst[i] = m->val[i] ^ m->mask[i];
}

/* Whether the heap ([heap] in /proc/self/maps) holds the secret. */
static int
heap_holds(const struct masked *m)
{
	FILE			*f;
	char			 line[512];
	unsigned long		 lo, hi;
	const volatile unsigned char *p;
	size_t			 i, j;
	int			 found = 0;

	assert_non_null(f = fopen("/proc/self/maps", "re"));
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "[heap]") == NULL ||
		    sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		p = (const volatile unsigned char *)(uintptr_t)lo;
		for (i = 0; !found && i + SECRET_LEN <= hi - lo; i++) {
			for (j = 0; j < SECRET_LEN; j++)
				if ((p[i + j] ^ m->mask[j]) != m->val[j])
					break;
			found = j == SECRET_LEN;
		}
	}
	fclose(f);
	return found;
}

/* A block of 200 bytes holding the secret at offset 64. */
static unsigned char *
block_with(const struct masked *m, int libc)
{
	unsigned char	*b;

	b = libc ? __libc_malloc(200) : malloc(200);
	assert_non_null(b);
	memset(b, 0x5a, 200);
	masked_put(m, b + 64);
	return b;
}

/* The C library's own free leaves it: the search can fail. */
static void
test_unwiped_free_is_found(void **state)
{
	struct masked	 m;

	(void)state;
	masked_new(&m);
	__libc_free(block_with(&m, 1));
	assert_true(heap_holds(&m));
}

static void
test_free_wipes(void **state)
{
	struct masked	 m;

	(void)state;
	masked_new(&m);
	free(block_with(&m, 0));
	assert_false(heap_holds(&m));
}

static void
test_realloc_wipes(void **state)
{
	struct masked	 m;
	unsigned char	*b, *c;

	(void)state;
	/* Grown: moved, the old block wiped, the bytes carried over. */
	masked_new(&m);
	b = block_with(&m, 0);
	assert_non_null(c = realloc(b, 64 * 1024));
	assert_int_equal(c[63], 0x5a);
	explicit_bzero(c + 64, SECRET_LEN);
	assert_false(heap_holds(&m));
	free(c);

	/* Shrunk: the tail that held it is wiped, the head kept. */
	masked_new(&m);
	b = block_with(&m, 0);
	assert_non_null(c = realloc(b, 64));
	assert_int_equal(c[0], 0x5a);
	assert_int_equal(c[63], 0x5a);
	assert_false(heap_holds(&m));
	free(c);

	/* reallocarray: the same. */
	masked_new(&m);
	b = block_with(&m, 0);
	assert_non_null(c = reallocarray(b, 1024, 64));
	explicit_bzero(c + 64, SECRET_LEN);
	assert_false(heap_holds(&m));
	free(c);
}

/*
 * The C library frees stdio's buffer itself, at fclose(3): that call
 * reaches this free too, as libpq's read of a password file does.
 */
static void
test_stdio_buffer_wiped(void **state)
{
	struct masked	 m;
	unsigned char	 s[SECRET_LEN], pad[64];
	char		 path[] = "/tmp/dromos-test-wipefree.XXXXXX";
	FILE		*f;
	int		 fd, c;

	(void)state;
	masked_new(&m);
	assert_true((fd = mkstemp(path)) >= 0);
	/* Past where the allocator keeps its own links in a freed block. */
	memset(pad, 0x5a, sizeof(pad));
	assert_int_equal(write(fd, pad, sizeof(pad)), (ssize_t)sizeof(pad));
	masked_put(&m, s);
	assert_int_equal(write(fd, s, sizeof(s)), (ssize_t)sizeof(s));
	explicit_bzero(s, sizeof(s));
	close(fd);
	assert_non_null(f = fopen(path, "re"));
	while ((c = getc(f)) != EOF)
		;		/* read into stdio's buffer, kept nowhere else */
	assert_true(heap_holds(&m));	/* in the live buffer */
	fclose(f);
	assert_false(heap_holds(&m));
	assert_int_equal(unlink(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unwiped_free_is_found),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_realloc_wipes),
		cmocka_unit_test(test_stdio_buffer_wiped),
	};

	return cmocka_run_group_tests_name("wipefree", tests, NULL, NULL);
}
