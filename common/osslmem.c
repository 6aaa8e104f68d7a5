/*
 * Each block carries its size in a header so that free can wipe it:
 * OpenSSL's free hook is given only the pointer (common/osslmem.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/osslmem.h"

/* Keep the caller's memory aligned as malloc's would be. */
#define HDR	(sizeof(max_align_t))

static void *
osslmem_malloc(size_t n, const char *file, int line)
{
	unsigned char	*p;

	(void)file;
	(void)line;
	if (n > SIZE_MAX - HDR || (p = malloc(n + HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void
osslmem_free(void *v, const char *file, int line)
{
	unsigned char	*p;
	size_t		 n;

	(void)file;
	(void)line;
	if (v == NULL)
		return;
	p = (unsigned char *)v - HDR;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + HDR);
	free(p);
}

/* Never realloc(3): it would free the old block unwiped. */
static void *
osslmem_realloc(void *v, size_t n, const char *file, int line)
{
	void	*nv;
	size_t	 old;

	if (v == NULL)
		return osslmem_malloc(n, file, line);
	if (n == 0) {
		osslmem_free(v, file, line);
		return NULL;
	}
	if ((nv = osslmem_malloc(n, file, line)) == NULL)
		return NULL;
	memcpy(&old, (unsigned char *)v - HDR, sizeof(old));
	memcpy(nv, v, old < n ? old : n);
	osslmem_free(v, file, line);
	return nv;
}

int
osslmem_init(void)
{
	return CRYPTO_set_mem_functions(osslmem_malloc, osslmem_realloc,
	    osslmem_free) == 1 ? 0 : -1;
}
