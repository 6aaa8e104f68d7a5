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
 * that CRL must not have expired (checked at every handshake).
 */
#ifndef DROMOS_GATEWAY_BROKERTLS_H
#define DROMOS_GATEWAY_BROKERTLS_H

#include <sys/socket.h>

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

#endif /* DROMOS_GATEWAY_BROKERTLS_H */
