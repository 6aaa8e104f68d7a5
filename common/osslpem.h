#ifndef DROMOS_COMMON_OSSLPEM_H
#define DROMOS_COMMON_OSSLPEM_H

#include <openssl/safestack.h>
#include <openssl/types.h>
#include <openssl/x509.h>

/*
 * Small pieces every reader of PEM files through OpenSSL shares (dromosd's
 * check of the broker's TLS files, the gateway's client to the broker).
 */

/* A pem_password_cb that never gives one: an encrypted key is refused. */
int		 osslpem_no_passphrase(char *buf, int size, int rwflag,
		    void *arg);

/* The last OpenSSL error's reason (a static string), the queue emptied. */
const char	*osslpem_why(void);

/*
 * Why a CRL's dates make it unfit now ("has expired (...)"), or NULL: the
 * rule both ends of the broker's TLS load their CRLs by.
 */
const char	*osslpem_crl_time(const X509_CRL *);

/*
 * 1 if a certificate of cas whose subject is the CRL's issuer verifies its
 * signature (each such one is tried: a CA renewed under the same name).
 */
int		 osslpem_crl_signed(X509_CRL *, STACK_OF(X509) *cas);

#endif /* DROMOS_COMMON_OSSLPEM_H */
