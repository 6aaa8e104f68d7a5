/*
 * Each block carries its size in a header so that free can wipe it:
 * jansson's free hook is given only the pointer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jsonmem.h"

/* Keep the caller's memory aligned as malloc's would be. */
#define HDR	(sizeof(max_align_t))

static void *
jsonmem_malloc(size_t n)
{
	unsigned char	*p;

	if (n > SIZE_MAX - HDR || (p = malloc(n + HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void
jsonmem_free(void *v)
{
	unsigned char	*p;
	size_t		 n;

	if (v == NULL)
		return;
	p = (unsigned char *)v - HDR;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + HDR);
	free(p);
}

void
jsonmem_init(void)
{
	json_set_alloc_funcs(jsonmem_malloc, jsonmem_free);
}

void
jsonmem_strfree(char *s)
{
	json_malloc_t	 m;
	json_free_t	 f;

	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	json_get_alloc_funcs(&m, &f);
	f(s);
}
