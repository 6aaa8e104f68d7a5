/*
 * Locked, undumpable memory for key bytes (see secmem.h for why this does
 * its own mlock and madvise on top of sodium_malloc).
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "priv/secmem.h"

static size_t	 secmem_nunlocked;
static int	 secmem_warned;

int
secmem_init(void)
{
	/* 0: initialised now, 1: already was, -1: failure. */
	return sodium_init() < 0 ? -1 : 0;
}

/*
 * The whole pages under [p, p + len).  They belong to this allocation only:
 * sodium_malloc() hands out a page-aligned, page-sized-multiple region of
 * its own, with p and the canary inside it.
 */
static void
page_span(void *p, size_t len, void **start, size_t *span)
{
	uintptr_t	 pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t	 lo, hi;

	lo = (uintptr_t)p & ~(pg - 1);
	hi = ((uintptr_t)p + len + pg - 1) & ~(pg - 1);
	*start = (void *)lo;
	*span = (size_t)(hi - lo);
}

static void
protect_pages(void *p, size_t len)
{
	void	*start;
	size_t	 span;

	page_span(p, len, &start, &span);
	/* Best effort: old kernels lack MADV_DONTDUMP; dromosd also sets
	 * RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. */
	if (madvise(start, span, MADV_DONTDUMP) == -1)
		log_debug("secmem: madvise MADV_DONTDUMP: %s",
		    strerror(errno));
	/* The system call itself: sanitizers turn mlock(3) into a no-op that
	 * succeeds, which would hide exactly the failure counted here. */
	if (syscall(SYS_mlock, start, span) == -1) {
		secmem_nunlocked++;
		if (!secmem_warned) {
			secmem_warned = 1;
			log_warn("secmem: mlock of key memory failed%s; key "
			    "bytes may reach swap (raise RLIMIT_MEMLOCK)",
			    geteuid() == 0 ? "" : " (not root)");
		}
	}
}

void *
secmem_alloc(size_t len)
{
	void	*p;

	if (len == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (secmem_init() == -1) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = sodium_malloc(len)) == NULL)
		return NULL;
	protect_pages(p, len);
	/* sodium_malloc() fills with 0xdb; callers expect zeroes. */
	memset(p, 0, len);
	return p;
}

void
secmem_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	/* sodium_free() checks the canary, zeroes again, munlocks, unmaps. */
	sodium_free(p);
}

size_t
secmem_unlocked(void)
{
	return secmem_nunlocked;
}
