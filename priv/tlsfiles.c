/*
 * The files of "listen tls" (dromos.conf(5)), checked when dromosd loads
 * its configuration so that "dromosd -n" finds a missing file, a stray
 * mode or a key of another certificate, and dromosd never starts a broker
 * that would refuse them.  The broker reads them again itself, with
 * GnuTLS; the checks here are OpenSSL's, which dromosd links already.
 *
 * A client CRL file must hold CRLs only of the client CAs, each with dates
 * that make it fit now (osslpem_crl_time(), the gateway's rule too): the
 * broker refuses every client while one has expired (fail closed), so one
 * that already has would make a broker that serves nobody.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/osslpem.h"
#include "common/secfile.h"
#include "priv/config.h"

/* PEM files are small; a CA bundle of a few hundred certificates fits. */
#define TLS_FILE_MAX	((size_t)1024 * 1024)

struct tlscheck {
	const char	*name;		/* dromos.conf, for messages */
	int		 line;
	char		*err;
	size_t		 errlen;
};

static int
tls_error(struct tlscheck *t, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));

static int
tls_error(struct tlscheck *t, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	ERR_clear_error();
	if (t->errlen == 0)
		return -1;
	n = snprintf(t->err, t->errlen, "%s:%d: \"listen tls\": ", t->name,
	    t->line);
	if (n < 0 || (size_t)n >= t->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Every certificate of a certificate file must parse, and there must be
 * at least one; the first is returned (the leaf, for the certificate
 * file), and all are pushed on keep if it is not NULL.  Other PEM blocks
 * are skipped, as GnuTLS skips them.
 */
static X509 *
read_certs(struct tlscheck *t, const char *what, const char *path,
    STACK_OF(X509) *keep)
{
	X509	*first = NULL, *x;
	BIO	*bio;
	char	*buf, err[512];
	size_t	 len;
	int	 n = 0;

	if (secfile_read(path, 0, TLS_FILE_MAX, &buf, &len, err,
	    sizeof(err)) == -1) {
		tls_error(t, "%s %s", what, err);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		secfile_free(buf, len);
		tls_error(t, "%s %s: out of memory", what, path);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, osslpem_no_passphrase, NULL)) !=
	    NULL) {
		if (keep != NULL && (!X509_up_ref(x) ||
		    !sk_X509_push(keep, x))) {
			X509_free(x);
			break;
		}
		if (first == NULL)
			first = x;
		else
			X509_free(x);
		n++;
	}
	/* The end of the text, or a certificate that does not parse. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
	    n == 0) {
		X509_free(first);
		first = NULL;
		tls_error(t, "%s %s: %s", what, path, n == 0 ?
		    "no PEM certificate in it" : "a certificate in it does not "
		    "parse");
	}
	ERR_clear_error();
	BIO_free(bio);
	secfile_free(buf, len);
	return first;
}

/* Every CRL of path parses, and is a client CA's, and is fit now. */
static int
check_crls(struct tlscheck *t, const char *path, STACK_OF(X509) *cas)
{
	const char	*why;
	X509_CRL	*crl;
	BIO		*bio;
	char		*buf, err[512];
	size_t		 len;
	int		 n = 0, r = -1;

	if (secfile_read(path, 0, TLS_FILE_MAX, &buf, &len, err,
	    sizeof(err)) == -1)
		return tls_error(t, "client crl %s", err);
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		secfile_free(buf, len);
		return tls_error(t, "client crl %s: out of memory", path);
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		n++;
		if (!osslpem_crl_signed(crl, cas))
			tls_error(t, "client crl %s: CRL %d is not signed by "
			    "a certificate of the client ca file", path, n);
		else if ((why = osslpem_crl_time(crl)) != NULL)
			tls_error(t, "client crl %s: CRL %d %s", path, n, why);
		else {
			X509_CRL_free(crl);
			continue;
		}
		X509_CRL_free(crl);
		goto out;
	}
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE ||
	    n == 0) {
		tls_error(t, "client crl %s: %s", path, n == 0 ?
		    "no PEM CRL in it" : "a CRL in it does not parse");
		goto out;
	}
	r = 0;
 out:
	ERR_clear_error();
	BIO_free(bio);
	secfile_free(buf, len);
	return r;
}

static EVP_PKEY *
read_key(struct tlscheck *t, const char *path)
{
	EVP_PKEY	*pk;
	BIO		*bio;
	char		*buf, err[512];
	size_t		 len;

	if (secfile_read(path, SECFILE_SECRET, TLS_FILE_MAX, &buf, &len, err,
	    sizeof(err)) == -1) {
		tls_error(t, "key %s", err);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		secfile_free(buf, len);
		tls_error(t, "key %s: out of memory", path);
		return NULL;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, osslpem_no_passphrase, NULL);
	BIO_free(bio);
	secfile_free(buf, len);
	if (pk == NULL)
		tls_error(t, "key %s: no PEM private key in it (an encrypted "
		    "key is refused: the broker has no passphrase)", path);
	ERR_clear_error();
	return pk;
}

int
config_check_tls(const struct dromos_conf *cf, const char *name, char *err,
    size_t errlen)
{
	struct tlscheck	 t = { name, cf->tls_line, err, errlen };
	STACK_OF(X509)	*cas = NULL;
	X509		*crt = NULL, *ca = NULL;
	EVP_PKEY	*pk = NULL;
	int		 r = -1;

	if (cf->tls_listen == NULL)
		return 0;
	if ((cas = sk_X509_new_null()) == NULL) {
		tls_error(&t, "out of memory");
		goto out;
	}
	if ((crt = read_certs(&t, "certificate", cf->tls_cert, NULL)) ==
	    NULL || (pk = read_key(&t, cf->tls_key)) == NULL ||
	    (ca = read_certs(&t, "client ca", cf->tls_ca, cas)) == NULL)
		goto out;
	if (X509_check_private_key(crt, pk) != 1) {
		tls_error(&t, "key %s does not match certificate %s",
		    cf->tls_key, cf->tls_cert);
		goto out;
	}
	if (cf->tls_crl != NULL && check_crls(&t, cf->tls_crl, cas) == -1)
		goto out;
	r = 0;
 out:
	ERR_clear_error();
	sk_X509_pop_free(cas, X509_free);
	X509_free(ca);
	EVP_PKEY_free(pk);
	X509_free(crt);
	return r;
}
