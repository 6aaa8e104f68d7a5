/*
 * The broker's address and the TLS client context (gateway/brokertls.h).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/osslpem.h"
#include "common/secfile.h"
#include "gateway/brokertls.h"
#include "gateway/pem.h"

/* After the last certificate of a file: 0 at its clean end, else -1. */
static int
pem_end(void)
{
	unsigned long	 e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
	return -1;
}

static int
resolve(const struct gw_broker_tls *t, struct gw_broker *b, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	char		 host[INET6_ADDRSTRLEN], port[8];
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: cannot resolve: %s", t->text,
		    gai_strerror(rc));
		return -1;
	}
	/* Up to UP_ADDRS_MAX, in the resolver's order (RFC 6724). */
	b->naddrs = 0;
	for (ai = res; ai != NULL && b->naddrs < UP_ADDRS_MAX;
	    ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(b->addrs[0].ss))
			continue;
		memcpy(&b->addrs[b->naddrs].ss, ai->ai_addr, ai->ai_addrlen);
		b->addrs[b->naddrs++].len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (b->naddrs == 0) {
		snprintf(err, errlen, "%s: no usable address", t->text);
		return -1;
	}
	/* For the log: the first, and how many more. */
	if (getnameinfo((struct sockaddr *)&b->addrs[0].ss, b->addrs[0].len,
	    host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(b->addr, sizeof(b->addr), "?");
	else if (b->naddrs == 1)
		snprintf(b->addr, sizeof(b->addr), b->addrs[0].ss.ss_family ==
		    AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	else
		snprintf(b->addr, sizeof(b->addr), b->addrs[0].ss.ss_family ==
		    AF_INET6 ? "[%s]:%s+%zu" : "%s:%s+%zu", host, port,
		    b->naddrs - 1);
	return 0;
}

/* For messages: a CRL's issuer, "/CN=..." (not secret: it is public). */
static const char *
crl_issuer(const X509_CRL *crl, char *buf, int size)
{
	if (X509_NAME_oneline(X509_CRL_get_issuer(crl), buf, size) == NULL) {
		ERR_clear_error();
		snprintf(buf, (size_t)size, "?");
	}
	return buf;
}

/*
 * Is crl signed by a certificate of the CA file?  The store holds the CA
 * file's certificates (load_ca) and the CRLs already taken.
 */
static int
crl_signed(X509_STORE *store, X509_CRL *crl)
{
	STACK_OF(X509)	*cas;
	int		 ok;

	if ((cas = X509_STORE_get1_all_certs(store)) == NULL)
		return 0;
	ok = osslpem_crl_signed(crl, cas);
	sk_X509_pop_free(cas, X509_free);
	return ok;
}

static int
crl_check(X509_STORE *store, X509_CRL *crl, const char *path,
    const char *ca, char *err, size_t errlen)
{
	const char	*why;
	char		 issuer[256];

	if (!crl_signed(store, crl)) {
		snprintf(err, errlen, "%s: the CRL of %s is not signed by a "
		    "certificate of %s", path, crl_issuer(crl, issuer,
		    sizeof(issuer)), ca);
		return -1;
	}
	if ((why = osslpem_crl_time(crl)) != NULL) {
		snprintf(err, errlen, "%s: the CRL of %s %s", path,
		    crl_issuer(crl, issuer, sizeof(issuer)), why);
		return -1;
	}
	return 0;
}

/*
 * What a file of trust holds, one PEM block after another: take() reads
 * the next one and adds it to the store (1), finds none left (0), or
 * refuses it with err set (-1).
 */
struct trust_file {
	const char	*path;
	const char	*ca;		/* the CA file, for a CRL's message */
	const char	*what;		/* "certificate", "CRL" */
	int		(*take)(const struct trust_file *, X509_STORE *, BIO *,
			    char *, size_t);
};

/* The CA file: every certificate in it is trusted, and nothing else. */
static int
take_cert(const struct trust_file *f, X509_STORE *store, BIO *bio, char *err,
    size_t errlen)
{
	X509	*x;
	int	 rv = 1;

	if ((x = PEM_read_bio_X509(bio, NULL, osslpem_no_passphrase, NULL)) ==
	    NULL)
		return 0;
	if (X509_STORE_add_cert(store, x) != 1) {
		snprintf(err, errlen, "%s: %s", f->path, osslpem_why());
		rv = -1;
	}
	X509_free(x);
	return rv;
}

/*
 * The CRL file, after the CA file: one CRL or more, each checked
 * (crl_check), or the file is refused whole.  The broker's certificate is
 * then checked against the CRLs at each handshake: revoked, no CRL of its
 * issuer, or that CRL expired since we started, and the handshake fails
 * (fail closed).  The leaf only (X509_V_FLAG_CRL_CHECK, not _ALL): in our
 * deployments a CA of the CA file signs the broker's certificate
 * directly, so there is no intermediate to check, and _ALL would want a
 * CRL of each root too.
 */
static int
take_crl(const struct trust_file *f, X509_STORE *store, BIO *bio, char *err,
    size_t errlen)
{
	X509_CRL	*crl;
	int		 rv = 1;

	if ((crl = PEM_read_bio_X509_CRL(bio, NULL, osslpem_no_passphrase,
	    NULL)) == NULL)
		return 0;
	if (crl_check(store, crl, f->path, f->ca, err, errlen) == -1)
		rv = -1;
	else if (X509_STORE_add_crl(store, crl) != 1) {
		snprintf(err, errlen, "%s: %s", f->path, osslpem_why());
		rv = -1;
	}
	X509_CRL_free(crl);
	return rv;
}

static int
load_trust(X509_STORE *store, const struct trust_file *f, char *err,
    size_t errlen)
{
	BIO		*bio;
	char		*pem;
	int		 n = 0, r, rv = -1;

	if ((pem = gw_pem_read(f->path, 0, err, errlen)) == NULL)
		return -1;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", f->path);
		goto done;
	}
	while ((r = f->take(f, store, bio, err, errlen)) == 1)
		n++;
	if (r == -1)
		goto done;
	if (pem_end() == -1)
		snprintf(err, errlen, "%s: a malformed %s: %s", f->path,
		    f->what, osslpem_why());
	else if (n == 0)
		snprintf(err, errlen, "%s: no %s", f->path, f->what);
	else
		rv = 0;
 done:
	BIO_free(bio);
	gw_pem_free(pem);
	return rv;
}

static int
load_ca(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	const struct trust_file	 f = { path, NULL, "certificate", take_cert };

	return load_trust(SSL_CTX_get_cert_store(ctx), &f, err, errlen);
}

static int
load_crl(SSL_CTX *ctx, const char *path, const char *ca, char *err,
    size_t errlen)
{
	const struct trust_file	 f = { path, ca, "CRL", take_crl };

	if (load_trust(SSL_CTX_get_cert_store(ctx), &f, err, errlen) == -1)
		return -1;
	if (X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
	    X509_V_FLAG_CRL_CHECK) != 1) {
		snprintf(err, errlen, "TLS: %s", osslpem_why());
		return -1;
	}
	return 0;
}

/* The gateway's certificate, then any intermediates that follow it. */
static int
load_cert(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	X509	*x;
	BIO	*bio;
	char	*pem;
	int	 rv = -1;

	if ((pem = gw_pem_read(path, 0, err, errlen)) == NULL)
		return -1;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto done;
	}
	if ((x = PEM_read_bio_X509(bio, NULL, osslpem_no_passphrase, NULL)) == NULL) {
		snprintf(err, errlen, "%s: no certificate, or a malformed one: "
		    "%s", path, osslpem_why());
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		X509_free(x);
		snprintf(err, errlen, "%s: the certificate has expired", path);
		goto done;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		snprintf(err, errlen, "%s: %s", path, osslpem_why());
		goto done;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, osslpem_no_passphrase, NULL)) !=
	    NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			snprintf(err, errlen, "%s: %s", path, osslpem_why());
			goto done;
		}
	if (pem_end() == -1)
		snprintf(err, errlen, "%s: a malformed certificate: %s", path,
		    osslpem_why());
	else
		rv = 0;
 done:
	BIO_free(bio);
	gw_pem_free(pem);
	return rv;
}

/*
 * The key, from a buffer wiped at once; it must be the certificate's.
 * Its file must not be open to group or others.
 */
static int
load_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	EVP_PKEY	*pkey;
	BIO		*bio;
	char		*pem;
	int		 encrypted;

	if ((pem = gw_pem_read(path, SECFILE_SECRET, err, errlen)) == NULL)
		return -1;
	encrypted = strstr(pem, "ENCRYPTED") != NULL;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		gw_pem_free(pem);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, osslpem_no_passphrase, NULL);
	BIO_free(bio);
	gw_pem_free(pem);
	if (pkey == NULL) {
		snprintf(err, errlen, "%s: %s", path, encrypted ?
		    "an encrypted key: give it without a passphrase" :
		    "no private key, or a malformed one");
		ERR_clear_error();
		return -1;
	}
	/* OpenSSL refuses a key that is not the certificate's here. */
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		EVP_PKEY_free(pkey);
		snprintf(err, errlen, "%s: not the key of the certificate: %s",
		    path, osslpem_why());
		return -1;
	}
	EVP_PKEY_free(pkey);
	return 0;
}

/* What the broker's certificate must say: an address, or a DNS name. */
static int
set_name(SSL_CTX *ctx, const char *name, struct gw_broker *b)
{
	X509_VERIFY_PARAM	*vp = SSL_CTX_get0_param(ctx);
	struct in6_addr		 a6;
	struct in_addr		 a4;

	if (inet_pton(AF_INET, name, &a4) == 1 ||
	    inet_pton(AF_INET6, name, &a6) == 1) {
		b->sni = NULL;
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -1;
	}
	b->sni = name;
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -1;
}

static SSL_CTX *
context(const struct gw_conf *cf, struct gw_broker *b, char *err,
    size_t errlen)
{
	const struct gw_broker_tls	*t = &cf->broker_tls;
	SSL_CTX				*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", osslpem_why());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    set_name(ctx, gw_broker_name(cf), b) == -1) {
		snprintf(err, errlen, "TLS: %s", osslpem_why());
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Sessions are not resumed: tickets the broker sends are dropped. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/*
	 * Decrypted records are cleansed once read, and when freed; idle
	 * connections give their buffers back (up to 256 of them).
	 */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_RELEASE_BUFFERS);
	if (load_ca(ctx, t->ca, err, errlen) == -1 ||
	    (t->crl != NULL && load_crl(ctx, t->crl, t->ca, err,
	    errlen) == -1) ||
	    load_cert(ctx, t->cert, err, errlen) == -1 ||
	    load_key(ctx, t->key, err, errlen) == -1)
		goto fail;
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
gw_broker_open(const struct gw_conf *cf, struct gw_broker *b, char *err,
    size_t errlen)
{
	const struct gw_broker_tls	*t = &cf->broker_tls;

	memset(b, 0, sizeof(*b));
	b->label = t->text;
	if (resolve(t, b, err, errlen) == -1 ||
	    (b->ctx = context(cf, b, err, errlen)) == NULL)
		return -1;
	if (t->crl == NULL)
		return 0;
	if ((b->crl = strdup(t->crl)) == NULL ||
	    (b->ca = strdup(t->ca)) == NULL) {
		snprintf(err, errlen, "out of memory");
		gw_broker_close(b);
		return -1;
	}
	/* The file as it was read, by root maybe. */
	if (stat(b->crl, &b->seen) == -1)
		memset(&b->seen, 0, sizeof(b->seen));
	pthread_mutex_init(&b->mtx, NULL);
	pthread_mutex_init(&b->reload, NULL);
	b->locks = 1;
	return 0;
}

void
gw_broker_close(struct gw_broker *b)
{
	SSL_CTX_free(b->ctx);
	b->ctx = NULL;
	X509_STORE_free(b->store);
	b->store = NULL;
	free(b->crl);
	free(b->ca);
	b->crl = b->ca = NULL;
	if (b->locks) {
		pthread_mutex_destroy(&b->mtx);
		pthread_mutex_destroy(&b->reload);
		b->locks = 0;
	}
}

/* CRL reload (brokertls.h). */

/* A store of the CA file's certificates (as at start) and the CRL file. */
static X509_STORE *
new_store(struct gw_broker *b, char *err, size_t errlen)
{
	const struct trust_file	 f = { b->crl, b->ca, "CRL", take_crl };
	STACK_OF(X509)		*cas;
	X509_STORE		*st;
	int			 i, ok = 1;

	if ((st = X509_STORE_new()) == NULL || (cas =
	    X509_STORE_get1_all_certs(SSL_CTX_get_cert_store(b->ctx))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		X509_STORE_free(st);
		return NULL;
	}
	for (i = 0; ok && i < sk_X509_num(cas); i++)
		ok = X509_STORE_add_cert(st, sk_X509_value(cas, i)) == 1;
	sk_X509_pop_free(cas, X509_free);
	if (!ok)
		snprintf(err, errlen, "%s", osslpem_why());
	if (!ok || load_trust(st, &f, err, errlen) == -1) {
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

/* Read the file again; the reload mutex is held. */
static void
reload(struct gw_broker *b, const struct stat *sb)
{
	X509_STORE	*st, *old;
	char		 err[512];

	b->seen = *sb;		/* this version is judged once */
	if ((st = new_store(b, err, sizeof(err))) == NULL) {
		log_warnx("broker tls: crl changed but is refused: %s; the "
		    "lists in use stay", err);
		return;
	}
	pthread_mutex_lock(&b->mtx);
	old = b->store;
	b->store = st;
	pthread_mutex_unlock(&b->mtx);
	X509_STORE_free(old);
	log_info("broker tls: crl %s reloaded", b->crl);
}

X509_STORE *
gw_broker_verify_store(struct gw_broker *b)
{
	struct timespec	 now;
	struct stat	 sb;
	X509_STORE	*st;

	if (b->crl == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (atomic_load(&b->checked) != (long long)now.tv_sec &&
	    pthread_mutex_trylock(&b->reload) == 0) {
		atomic_store(&b->checked, (long long)now.tv_sec);
		if (stat(b->crl, &sb) == 0 && !secfile_same(&sb, &b->seen))
			reload(b, &sb);
		pthread_mutex_unlock(&b->reload);
	}
	pthread_mutex_lock(&b->mtx);
	if ((st = b->store) != NULL)
		X509_STORE_up_ref(st);
	pthread_mutex_unlock(&b->mtx);
	return st;
}
