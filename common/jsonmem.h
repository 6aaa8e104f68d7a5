/*
 * jansson allocators that wipe what they free.  JSON documents in the
 * broker carry secrets (captured credentials, tokens, payloads) and
 * jansson copies every string it holds; with these installed, none of
 * those copies outlives its document in the heap.
 */
#ifndef DROMOS_JSONMEM_H
#define DROMOS_JSONMEM_H

/* Install once, before any json_t exists. */
void	 jsonmem_init(void);

/*
 * Free what json_dumps() returned: it came from jansson's allocator, which
 * may be ours, so plain free() is wrong.  Wipes it first.
 */
void	 jsonmem_strfree(char *);

#endif /* DROMOS_JSONMEM_H */
