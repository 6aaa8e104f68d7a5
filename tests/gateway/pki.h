/*
 * Certificates for the tests of the gateway's TLS client to the broker,
 * made with OpenSSL into a private directory: two CAs that share
 * nothing, a broker certificate of the first (broker.test, localhost,
 * 127.0.0.1) and a gateway client certificate of each.
 *
 *	ca1.pem ca2.pem		the CAs
 *	gw.crt gw.key		the gateway's, of ca1
 *	gx.crt gx.key		a stranger's, of ca2
 */
#ifndef DROMOS_TESTS_GATEWAY_PKI_H
#define DROMOS_TESTS_GATEWAY_PKI_H

#include <openssl/ssl.h>

struct test_pki {
	char		 dir[64];
	SSL_CTX		*good;		/* broker: TLS 1.3, clients of ca1 */
	SSL_CTX		*old;		/* the same, TLS 1.2 at most */
};

/* cmocka assertions: call it from a test or a group setup. */
void	 test_pki_make(struct test_pki *);
/* The files and the directory removed, the contexts freed. */
void	 test_pki_free(struct test_pki *);

#endif /* DROMOS_TESTS_GATEWAY_PKI_H */
