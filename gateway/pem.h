/*
 * PEM files the gateway reads at start, before it drops privileges: its
 * server certificate and key, and for "broker tls" the CA, the client
 * certificate and its key.
 */
#ifndef DROMOS_GATEWAY_PEM_H
#define DROMOS_GATEWAY_PEM_H

#include <sys/types.h>

#include <stddef.h>

#define GW_PEM_MAX	((size_t)1024 * 1024)

/*
 * A PEM file, whole and NUL-terminated, or NULL with the reason in err.
 * secret: the mode bits a private key must not have (S_IRWXO, or
 * S_IRWXG | S_IRWXO), and it must belong to root or to us; 0 for a file
 * that is no secret.
 */
char	*gw_pem_read(const char *path, mode_t secret, char *err,
	    size_t errlen);
/* Wipes and frees; NULL is fine. */
void	 gw_pem_free(char *);

#endif /* DROMOS_GATEWAY_PEM_H */
