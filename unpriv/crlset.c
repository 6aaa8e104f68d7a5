/*
 * crlset.c: the broker's client CRLs and their reload (crlset.h).
 *
 * The lists in use are swapped under a read-write lock: handshakes read
 * them, a reload replaces them whole.  One handshake at a time looks at
 * the file (the others go on with the lists there are), and not more
 * than once a second.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/log.h"
#include "common/secfile.h"
#include "unpriv/crlset.h"

/*
 * The signature only: the dates are judged apart, with their own reason.
 * GnuTLS flags a list past its next update (or issued in the future) even
 * so, and marks it invalid for that alone.
 */
#define VERIFY_SIGNATURE	GNUTLS_VERIFY_DISABLE_TIME_CHECKS
#define DATE_BITS	(GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED | \
			    GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)

struct crls {
	gnutls_x509_crl_t	*v;
	unsigned int		 n;
};

struct crlset {
	const char		*name;
	char			*path;
	gnutls_x509_crt_t	*cas;		/* the client CAs */
	unsigned int		 ncas;
	pthread_rwlock_t	 lock;		/* cur */
	struct crls		 cur;
	pthread_mutex_t		 reload;	/* one looks at the file */
	atomic_llong		 checked;	/* when, monotonic seconds */
	struct stat		 seen;		/* the file as last read */
};

/* The list is signed by one of the client CAs. */
static int
signed_by_ca(const struct crlset *c, gnutls_x509_crl_t crl)
{
	unsigned int	 v = 0;

	if (gnutls_x509_crl_verify(crl, c->cas, c->ncas, VERIFY_SIGNATURE,
	    &v) < 0)
		return 0;
	if (v & DATE_BITS)
		v &= ~(unsigned int)(DATE_BITS | GNUTLS_CERT_INVALID);
	return v == 0;
}

static void
crls_free(struct crls *l)
{
	unsigned int	 i;

	for (i = 0; i < l->n; i++)
		gnutls_x509_crl_deinit(l->v[i]);
	gnutls_free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * PEM text into lists, each signed by a client CA, issued and not past
 * its next update.  NULL, or the reason.
 */
static const char *
crls_load(const struct crlset *c, const char *pem, struct crls *l)
{
	gnutls_datum_t	 d;
	time_t		 now = time(NULL), t;
	unsigned int	 i;

	memset(l, 0, sizeof(*l));
	d.data = (unsigned char *)(uintptr_t)pem;
	d.size = (unsigned int)strlen(pem);
	if (gnutls_x509_crl_list_import2(&l->v, &l->n, &d,
	    GNUTLS_X509_FMT_PEM, 0) < 0 || l->n == 0) {
		crls_free(l);
		return "no PEM CRL in it";
	}
	for (i = 0; i < l->n; i++) {
		if (!signed_by_ca(c, l->v[i])) {
			crls_free(l);
			return "a CRL is not signed by a client CA";
		}
		t = gnutls_x509_crl_get_this_update(l->v[i]);
		if (t == (time_t)-1 || t > now) {
			crls_free(l);
			return "a CRL is not issued yet";
		}
		t = gnutls_x509_crl_get_next_update(l->v[i]);
		if (t == (time_t)-1 || t <= now) {
			crls_free(l);
			return "a CRL has no next update, or it has passed";
		}
	}
	return NULL;
}

struct crlset *
crlset_new(const char *name, const char *path, const char *crl_pem,
    const char *ca_pem)
{
	struct crlset	*c;
	gnutls_datum_t	 d;
	unsigned int	 i;
	int		 rv;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		log_warn("%s", __func__);
		free(c);
		return NULL;
	}
	c->name = name;
	pthread_rwlock_init(&c->lock, NULL);
	pthread_mutex_init(&c->reload, NULL);
	d.data = (unsigned char *)(uintptr_t)ca_pem;
	d.size = (unsigned int)strlen(ca_pem);
	if ((rv = gnutls_x509_crt_list_import2(&c->cas, &c->ncas, &d,
	    GNUTLS_X509_FMT_PEM, 0)) < 0) {
		log_warnx("%s: client ca: %s", name, gnutls_strerror(rv));
		crlset_free(c);
		return NULL;
	}
	/* At start an expired list is taken: it refuses everyone, logged. */
	d.data = (unsigned char *)(uintptr_t)crl_pem;
	d.size = (unsigned int)strlen(crl_pem);
	if ((rv = gnutls_x509_crl_list_import2(&c->cur.v, &c->cur.n, &d,
	    GNUTLS_X509_FMT_PEM, 0)) < 0 || c->cur.n == 0) {
		log_warnx("%s: client crl: %s", name, rv < 0 ?
		    gnutls_strerror(rv) : "no CRL in it");
		crlset_free(c);
		return NULL;
	}
	for (i = 0; i < c->cur.n; i++)
		if (!signed_by_ca(c, c->cur.v[i])) {
			log_warnx("%s: client crl: CRL %u is not signed by a "
			    "client CA", name, i + 1);
			crlset_free(c);
			return NULL;
		}
	/* The file as it was read (before the sandbox, by root maybe). */
	if (stat(path, &c->seen) == -1)
		memset(&c->seen, 0, sizeof(c->seen));
	return c;
}

void
crlset_free(struct crlset *c)
{
	unsigned int	 i;

	if (c == NULL)
		return;
	crls_free(&c->cur);
	for (i = 0; i < c->ncas; i++)
		gnutls_x509_crt_deinit(c->cas[i]);
	gnutls_free(c->cas);
	pthread_rwlock_destroy(&c->lock);
	pthread_mutex_destroy(&c->reload);
	free(c->path);
	free(c);
}

/* Read the file again and take its lists; the reload mutex is held. */
static void
reload(struct crlset *c, const struct stat *st)
{
	struct crls	 l, old;
	const char	*why;
	char		*pem, err[512];
	size_t		 len;

	c->seen = *st;		/* this version is judged once */
	if (secfile_read(c->path, 0, CRLSET_FILE_MAX, &pem, &len, err,
	    sizeof(err)) == -1) {
		log_warnx("%s: client crl changed but cannot be read: %s; the "
		    "lists in use stay", c->name, err);
		return;
	}
	why = crls_load(c, pem, &l);
	secfile_free(pem, len);
	if (why != NULL) {
		log_warnx("%s: client crl %s changed but is refused: %s; the "
		    "lists in use stay", c->name, c->path, why);
		return;
	}
	pthread_rwlock_wrlock(&c->lock);
	old = c->cur;
	c->cur = l;
	pthread_rwlock_unlock(&c->lock);
	crls_free(&old);
	log_info("%s: client crl %s reloaded: %u list%s", c->name, c->path,
	    l.n, l.n == 1 ? "" : "s");
}

/* At most once a second, by one thread: has the file changed? */
static void
maybe_reload(struct crlset *c)
{
	struct timespec	 now;
	struct stat	 st;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (atomic_load(&c->checked) == (long long)now.tv_sec ||
	    pthread_mutex_trylock(&c->reload) != 0)
		return;
	atomic_store(&c->checked, (long long)now.tv_sec);
	if (stat(c->path, &st) == 0 && !secfile_same(&st, &c->seen))
		reload(c, &st);
	pthread_mutex_unlock(&c->reload);
}

/* Locked: the reason to refuse, or NULL. */
static const char *
judge(const struct crls *l, gnutls_session_t s)
{
	const gnutls_datum_t	*peers;
	gnutls_x509_crt_t	 crt;
	time_t			 now = time(NULL), next;
	unsigned int		 i, n = 0;
	int			 rv;

	for (i = 0; i < l->n; i++) {
		next = gnutls_x509_crl_get_next_update(l->v[i]);
		if (next != (time_t)-1 && next <= now)
			return "a client CRL has expired (its next update was "
			    "due): nobody is let in until a new one is "
			    "installed";
	}
	if ((peers = gnutls_certificate_get_peers(s, &n)) == NULL || n == 0 ||
	    gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
		return "its certificate cannot be checked for revocation";
	rv = gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER);
	if (rv == GNUTLS_E_SUCCESS)
		rv = gnutls_x509_crt_check_revocation(crt, l->v, l->n);
	gnutls_x509_crt_deinit(crt);
	if (rv == 1)
		return "its certificate is revoked (client crl)";
	return rv == 0 ? NULL :
	    "its certificate cannot be checked for revocation";
}

const char *
crlset_check(struct crlset *c, gnutls_session_t s)
{
	const char	*why;

	maybe_reload(c);
	pthread_rwlock_rdlock(&c->lock);
	why = judge(&c->cur, s);
	pthread_rwlock_unlock(&c->lock);
	return why;
}
