/*
 * osslpem.c: common/osslpem.h.
 */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/osslpem.h"

int
osslpem_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

const char *
osslpem_why(void)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : "unknown error";
}

/*
 * What OpenSSL would refuse at every handshake, refused at load: a CRL
 * not issued yet, or past its next update.  One without a next update never
 * expires for OpenSSL; RFC 5280 (5.1.2.5) requires one, and without it a
 * CA that stopped publishing would go unnoticed: refused too.
 */
const char *
osslpem_crl_time(const X509_CRL *crl)
{
	const ASN1_TIME	*next = X509_CRL_get0_nextUpdate(crl);
	int		 c;

	if ((c = X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl))) == 0)
		return "has a malformed last update";
	if (c > 0)
		return "is not valid yet (its last update is ahead of our "
		    "clock)";
	if (next == NULL)
		return "has no next update";
	if ((c = X509_cmp_current_time(next)) == 0)
		return "has a malformed next update";
	if (c < 0)
		return "has expired (its next update is past)";
	return NULL;
}

int
osslpem_crl_signed(X509_CRL *crl, STACK_OF(X509) *cas)
{
	const X509_NAME	*issuer = X509_CRL_get_issuer(crl);
	X509		*ca;
	EVP_PKEY	*pub;
	int		 i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(ca), issuer) != 0 ||
		    (pub = X509_get0_pubkey(ca)) == NULL)
			continue;
		if (X509_CRL_verify(crl, pub) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}
