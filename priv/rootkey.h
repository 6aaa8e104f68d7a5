/*
 * The root key in a file: 64 hexadecimal digits (either case) and at most
 * one trailing newline, nothing else, e.g. made by
 *
 *	umask 077; openssl rand -hex 32 > /etc/dromos/root.key
 *
 * Text rather than 32 raw bytes so that an operator can make, copy and
 * compare it with ordinary tools without a stray byte going unnoticed.
 *
 * The file must be a regular file owned by the effective user reading it,
 * with no permission bits for group or others (0400 or 0600), in the spirit
 * of OpenBSD's check_file_secrecy(); it is opened without following a
 * symbolic link.  Every refusal is logged with the path and the reason.
 */
#ifndef DROMOS_PRIV_ROOTKEY_H
#define DROMOS_PRIV_ROOTKEY_H

#include <stdint.h>

#include "priv/aead.h"

#define ROOTKEY_HEXLEN	(2 * AEAD_KEYLEN)

/*
 * Read the root key from path into out, which should be key memory
 * (secmem_alloc(AEAD_KEYLEN)).  0, or -1 (logged; out zeroed).
 */
int	 rootkey_read_file(const char *path, uint8_t out[AEAD_KEYLEN]);

/*
 * Write key to a new file path, mode 0400 (for "dromosctl key init").
 * Refuses to replace an existing file.  0, or -1 (logged).
 */
int	 rootkey_write_file(const char *path, const uint8_t key[AEAD_KEYLEN]);

#endif /* DROMOS_PRIV_ROOTKEY_H */
