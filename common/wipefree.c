/*
 * Every heap block the process frees is wiped first, whoever frees it.
 *
 * The libraries the daemons use keep secrets in memory they free without
 * wiping: GnuTLS decodes a private key through base64 and DER buffers,
 * tpm2-tss copies what it seals, libpq reads a password file through
 * stdio, libcurl and libmicrohttpd hold requests and answers.  Hooks
 * exist for some of them (OpenSSL's, jansson's: common/osslmem.h,
 * common/jsonmem.h), not for the rest.  So free(3) and realloc(3) are
 * defined here: the program's definitions are the ones every library and
 * the C library itself call.  They wipe the whole usable size of the
 * block, then hand it to the C library's allocator, which does the rest
 * as before (malloc and calloc are not touched).
 *
 * Linked into each program (not into a library, where a program would
 * take it without asking: see the module.mk files).  Left out of
 * sanitizer builds, whose run-time replaces the allocator itself.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define WIPEFREE_OFF	1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WIPEFREE_OFF	1
#endif

#ifndef WIPEFREE_OFF

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The C library's own entry points (glibc exports them for this use). */
void	*__libc_malloc(size_t);
void	 __libc_free(void *);

void
free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	__libc_free(p);
}

/*
 * A block that shrinks keeps its place, its tail wiped (glibc would hand
 * the tail back unwiped); one that grows is copied to a new block and
 * the old one freed, wiped, here.
 */
void *
realloc(void *p, size_t n)
{
	size_t	 old;
	void	*q;

	if (p == NULL)
		return __libc_malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old) {
		explicit_bzero((unsigned char *)p + n, old - n);
		return p;
	}
	if ((q = __libc_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old);
	free(p);
	return q;
}

void *
reallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, nmemb * size);
}

#else

/* ISO C wants a translation unit to declare something. */
extern int	wipefree_off;

#endif /* WIPEFREE_OFF */
