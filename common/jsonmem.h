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

#endif /* DROMOS_JSONMEM_H */
