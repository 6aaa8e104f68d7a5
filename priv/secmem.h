/*
 * Memory for key bytes: locked into RAM, left out of core dumps, fenced by
 * guard pages, and zeroed before it is given back.
 *
 * Allocations come from libsodium's sodium_malloc(), which places each one
 * between PROT_NONE guard pages with a canary in front, and calls
 * sodium_mlock() (mlock(2) plus madvise(MADV_DONTDUMP)) on its pages but
 * ignores the result.  secmem_alloc() locks and marks the same whole pages
 * again (both are idempotent) so that it knows whether that worked.
 *
 * A failed mlock() is not fatal: an unprivileged process is limited by
 * RLIMIT_MEMLOCK (8 MiB here) and tests may run unprivileged.  It is logged once
 * and counted; dromosd asks secmem_unlocked() after setting up and decides.
 * Keep key memory small: every allocation costs at least one locked page
 * plus three guard pages of address space.
 *
 * The keyholder's seccomp filter must allow mmap, mprotect (never with
 * PROT_EXEC), mlock, munlock, madvise and munmap for these.
 */
#ifndef DROMOS_PRIV_SECMEM_H
#define DROMOS_PRIV_SECMEM_H

#include <stddef.h>

/* Initialise libsodium; idempotent.  0, or -1 if libsodium cannot start. */
int	 secmem_init(void);

/* len zeroed bytes of key memory, or NULL (errno set). len must not be 0. */
void	*secmem_alloc(size_t len);

/* Zero len bytes at p, unlock and free.  p may be NULL. */
void	 secmem_free(void *p, size_t len);

/* How many allocations so far could not be locked into RAM. */
size_t	 secmem_unlocked(void);

#endif /* DROMOS_PRIV_SECMEM_H */
