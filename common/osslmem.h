/*
 * OpenSSL allocators that wipe what they free.  OpenSSL cleanses the
 * secrets it knows of (keys, decrypted records with the right option),
 * but not every copy: OpenSSL 3.0's decoders leave the DER of a private
 * key they parsed, and its scalar, in blocks they free as they are.
 * With these installed, no block OpenSSL frees keeps its contents.
 */
#ifndef DROMOS_OSSLMEM_H
#define DROMOS_OSSLMEM_H

/*
 * Install first thing in main(), before OpenSSL allocates anything:
 * 0, or -1 when it is too late (OpenSSL then keeps its own allocator).
 */
int	 osslmem_init(void);

#endif /* DROMOS_OSSLMEM_H */
