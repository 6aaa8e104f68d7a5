/*
 * PEM files the gateway reads at start, before it drops privileges: its
 * server certificate and key, and for "broker tls" the CA, the client
 * certificate and its key.  The file checks are common/secfile.h's.
 */
#ifndef DROMOS_GATEWAY_PEM_H
#define DROMOS_GATEWAY_PEM_H

#include <stddef.h>

#include "common/secfile.h"

#define GW_PEM_MAX	((size_t)1024 * 1024)

/*
 * A PEM file, whole and NUL-terminated, or NULL with the reason in err.
 * flags: 0 for a file that is no secret; SECFILE_SECRET for a private key
 * (root's or ours, no access for group or others), with SECFILE_GROUP_OK
 * if its group may read it.
 */
char	*gw_pem_read(const char *path, int flags, char *err, size_t errlen);
/* Wipes and frees; NULL is fine. */
void	 gw_pem_free(char *);

#endif /* DROMOS_GATEWAY_PEM_H */
