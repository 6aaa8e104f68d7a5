/*
 * "broker tls" (gateway.conf): the broker's addresses, resolved once, and
 * the one OpenSSL client context every connection to it is made from.
 * Built at start, before the gateway drops its privileges and loads its
 * seccomp filter: the files are root's, the resolver may read files and
 * load modules, and OpenSSL loads its configuration and providers.
 *
 * The context speaks TLS 1.3 only, trusts the configured CA file and
 * nothing else (no system store), checks the broker's certificate for
 * the configured name (a DNS name, or an address in subjectAltName),
 * and presents the gateway's certificate and key.  With "crl", the
 * broker's certificate must also not be revoked by a CRL of its CA, and
 * that CRL must not have expired (checked at every handshake); the CRL
 * file is read again when it changes (gw_broker_verify_store()).
 */
#ifndef DROMOS_GATEWAY_BROKERTLS_H
#define DROMOS_GATEWAY_BROKERTLS_H

#include <sys/socket.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <openssl/types.h>

#include "gateway/config.h"
#include "gateway/upstream.h"

struct gw_broker {
	struct up_addr		 addrs[UP_ADDRS_MAX];	/* resolved, in order */
	size_t			 naddrs;
	char			 addr[80];	/* the first, numeric, for the log */
	SSL_CTX			*ctx;
	const char		*sni;		/* NULL: the name is an address */
	const char		*label;		/* "HOST:PORT" as written */
	/* "crl": its file, read again when it changes. */
	char			*crl;		/* NULL: no CRL */
	char			*ca;		/* the CA file, for messages */
	pthread_mutex_t		 mtx;		/* store */
	X509_STORE		*store;		/* NULL: the context's */
	pthread_mutex_t		 reload;	/* one looks at the file */
	atomic_llong		 checked;	/* when, monotonic seconds */
	struct stat		 seen;		/* the file as last read */
	int			 locks;		/* the mutexes exist */
};

/*
 * Resolve, read and check every file, build the context: 0, or -1 with
 * the reason in err ("path: ...").  The private key is read into a
 * buffer that is wiped once OpenSSL has parsed it.  Each CRL must be
 * signed by a certificate of the CA file, issued already and not past
 * its next update.
 */
int	 gw_broker_open(const struct gw_conf *, struct gw_broker *,
	    char *err, size_t errlen);
void	 gw_broker_close(struct gw_broker *);
/*
 * With "crl": the store a new connection's handshake verifies against, a
 * reference the caller frees; NULL: the context's own.  The CRL file is
 * looked at again, at most once a second, by the connection that asks:
 * when it has changed (device, inode, size or time) it is read again, as
 * the gateway's user, and taken, with the CA file's certificates, if each
 * list is signed by one of them, issued and not past its next update;
 * otherwise the lists in use stay and the refusal is logged once for that
 * version of the file.  Connections already made keep their handshake's
 * verdict.  Safe from any thread.
 */
X509_STORE *gw_broker_verify_store(struct gw_broker *);

#endif /* DROMOS_GATEWAY_BROKERTLS_H */
