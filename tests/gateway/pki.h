/*
 * Certificates for the tests of the gateway's TLS client to the broker,
 * made with OpenSSL into a private directory: two CAs that share
 * nothing, a broker certificate of the first (broker.test, localhost,
 * 127.0.0.1) and a gateway client certificate of each.
 *
 *	ca1.pem ca2.pem		the CAs
 *	gw.crt gw.key		the gateway's, of ca1
 *	gx.crt gx.key		a stranger's, of ca2
 *
 * and on demand, CRLs of either CA (test_pki_crl).
 */
#ifndef DROMOS_TESTS_GATEWAY_PKI_H
#define DROMOS_TESTS_GATEWAY_PKI_H

#include <openssl/ssl.h>

struct test_pki {
	char		 dir[64];
	SSL_CTX		*good;		/* broker: TLS 1.3, clients of ca1 */
	SSL_CTX		*old;		/* the same, TLS 1.2 at most */
	X509		*ca[2];		/* kept to sign CRLs: ca1, ca2 */
	EVP_PKEY	*cakey[2];
	X509		*srv;		/* the broker's certificate */
};

/* A CRL, for test_pki_crl(). */
struct test_crl {
	int		 issuer;	/* whose name it bears: 0 ca1, 1 ca2 */
	int		 signer;	/* whose key signs it: 0 ca1, 1 ca2 */
	int		 revoke_srv;	/* revokes the broker's certificate */
	long		 last;		/* lastUpdate, seconds from now */
	long		 next;		/* nextUpdate, seconds from now */
	int		 no_next;	/* no nextUpdate at all */
};

/* cmocka assertions: call it from a test or a group setup. */
void	 test_pki_make(struct test_pki *);
/*
 * The CRL appended to the directory's file name (made if need be): its
 * path, in a static buffer.  Each revokes one serial number nobody has,
 * and the broker's too with revoke_srv.
 */
const char *test_pki_crl(struct test_pki *, const char *name,
	    const struct test_crl *);
/* The files and the directory removed, the contexts freed. */
void	 test_pki_free(struct test_pki *);

#endif /* DROMOS_TESTS_GATEWAY_PKI_H */
