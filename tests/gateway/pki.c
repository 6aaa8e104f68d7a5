/* Test certificates (tests/gateway/pki.h). */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/gateway/pki.h"

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 v3;
	X509_EXTENSION	*e;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* issuer NULL: a self-signed CA; san NULL: a client certificate. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    const char *san)
{
	static long	 serial = 1;
	X509		*x;
	X509_NAME	*n;

	assert_non_null(x = X509_new());
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) :
	    n);
	if (issuer == NULL) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, san != NULL ?
		    "serverAuth" : "clientAuth");
		if (san != NULL)
			add_ext(x, issuer, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void
write_pem(const struct test_pki *p, const char *name, X509 *x,
    EVP_PKEY *key)
{
	char	 path[128];
	FILE	*fp;
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	if (x != NULL)
		assert_int_equal(PEM_write_X509(fp, x), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0,
		    NULL, NULL), 1);
	fclose(fp);
}

static SSL_CTX *
server_ctx(X509 *cert, EVP_PKEY *key, X509 *ca, int maxver)
{
	SSL_CTX	*ctx;

	assert_non_null(ctx = SSL_CTX_new(TLS_server_method()));
	SSL_CTX_set_min_proto_version(ctx, maxver == TLS1_3_VERSION ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, maxver);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca),
	    1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

static const char *const files[] = { "ca1.pem", "ca2.pem", "gw.crt",
    "gw.key", "gx.crt", "gx.key" };

/* ca1 signs the server and the gateway; ca2 is a stranger's. */
void
test_pki_make(struct test_pki *p)
{
	EVP_PKEY	*k1, *k2, *ks, *kg, *kx;
	X509		*ca1, *ca2, *srv, *gw, *gx;

	assert_non_null(k1 = EVP_EC_gen("P-256"));
	assert_non_null(k2 = EVP_EC_gen("P-256"));
	assert_non_null(ks = EVP_EC_gen("P-256"));
	assert_non_null(kg = EVP_EC_gen("P-256"));
	assert_non_null(kx = EVP_EC_gen("P-256"));
	ca1 = make_cert(k1, "test ca1", NULL, NULL, NULL);
	ca2 = make_cert(k2, "test ca2", NULL, NULL, NULL);
	srv = make_cert(ks, "broker", ca1, k1,
	    "DNS:broker.test,DNS:localhost,IP:127.0.0.1");
	gw = make_cert(kg, "gateway", ca1, k1, NULL);
	gx = make_cert(kx, "stranger", ca2, k2, NULL);
	snprintf(p->dir, sizeof(p->dir), "/tmp/dromos-gwtls-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	write_pem(p, files[0], ca1, NULL);
	write_pem(p, files[1], ca2, NULL);
	write_pem(p, files[2], gw, NULL);
	write_pem(p, files[3], NULL, kg);
	write_pem(p, files[4], gx, NULL);
	write_pem(p, files[5], NULL, kx);
	p->good = server_ctx(srv, ks, ca1, TLS1_3_VERSION);
	p->old = server_ctx(srv, ks, ca1, TLS1_2_VERSION);
	p->ca[0] = ca1;
	p->ca[1] = ca2;
	p->cakey[0] = k1;
	p->cakey[1] = k2;
	p->srv = srv;
	X509_free(gw);
	X509_free(gx);
	EVP_PKEY_free(ks);
	EVP_PKEY_free(kg);
	EVP_PKEY_free(kx);
}

/* Both are copied. */
static void
crl_revoke(X509_CRL *crl, ASN1_INTEGER *serial, ASN1_TIME *when)
{
	X509_REVOKED	*r;

	assert_non_null(r = X509_REVOKED_new());
	assert_int_equal(X509_REVOKED_set_serialNumber(r, serial), 1);
	assert_int_equal(X509_REVOKED_set_revocationDate(r, when), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
}

const char *
test_pki_crl(struct test_pki *p, const char *name, const struct test_crl *c)
{
	static char	 path[128];
	ASN1_INTEGER	*nobody;
	ASN1_TIME	*last, *next;
	X509_CRL	*crl;
	time_t		 now = time(NULL);
	FILE		*fp;
	int		 fd;

	assert_non_null(crl = X509_CRL_new());
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(p->ca[c->issuer])), 1);
	assert_non_null(last = ASN1_TIME_adj(NULL, now, 0, c->last));
	assert_non_null(next = ASN1_TIME_adj(NULL, now, 0, c->next));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
	if (!c->no_next)
		assert_int_equal(X509_CRL_set1_nextUpdate(crl, next), 1);
	assert_non_null(nobody = ASN1_INTEGER_new());
	assert_int_equal(ASN1_INTEGER_set(nobody, 0x7fffffff), 1);
	crl_revoke(crl, nobody, last);
	if (c->revoke_srv)
		crl_revoke(crl, X509_get_serialNumber(p->srv), last);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, p->cakey[c->signer], EVP_sha256()) > 0);

	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) != -1);
	assert_non_null(fp = fdopen(fd, "a"));
	assert_int_equal(PEM_write_X509_CRL(fp, crl), 1);
	assert_int_equal(fclose(fp), 0);
	ASN1_INTEGER_free(nobody);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return path;
}

/* Every file of the directory (the CRLs are the tests'), then it. */
void
test_pki_free(struct test_pki *p)
{
	struct dirent	*e;
	DIR		*d;
	char		 path[sizeof(p->dir) + sizeof(e->d_name) + 1];
	int		 i;

	SSL_CTX_free(p->good);
	SSL_CTX_free(p->old);
	p->good = p->old = NULL;
	for (i = 0; i < 2; i++) {
		X509_free(p->ca[i]);
		EVP_PKEY_free(p->cakey[i]);
		p->ca[i] = NULL;
		p->cakey[i] = NULL;
	}
	X509_free(p->srv);
	p->srv = NULL;
	if ((d = opendir(p->dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", p->dir,
			    e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(p->dir);
}
