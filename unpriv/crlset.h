/*
 * crlset.h: the client CRLs of the broker's TLS listener ("client crl" in
 * dromos.conf), and their reload while the broker runs.
 *
 * A revocation list is replaced before its next update is due, and the
 * broker refuses every client once one has passed it (fail closed).  So
 * the file is looked at again, at most once a second, by the handshake
 * that asks: when it has changed (device, inode, size or modification
 * time), it is read again as the broker's user, and the new lists are
 * taken if each is signed by a client CA, has been issued and is not
 * past its next update; otherwise the lists in use stay, and the refusal
 * is logged once for that version of the file.  Replace the file with
 * rename(2), readable by the broker's user.
 */
#ifndef DROMOS_UNPRIV_CRLSET_H
#define DROMOS_UNPRIV_CRLSET_H

#include <gnutls/gnutls.h>

#define CRLSET_FILE_MAX	((size_t)1024 * 1024)	/* as at start */

struct crlset;

/*
 * The lists in crl_pem (PEM text, read from path at start), checked
 * against the CAs in ca_pem, which are kept to check reloads.  name is for
 * the log.  NULL (logged) when they do not load or verify.
 */
struct crlset	*crlset_new(const char *name, const char *path,
		    const char *crl_pem, const char *ca_pem);
/*
 * Whether the certificate session's client presented is let in: NULL, or
 * the reason it is not (revoked, or a list has expired).  Reloads first
 * if the file changed.  Safe from any thread.
 */
const char	*crlset_check(struct crlset *, gnutls_session_t);
void		 crlset_free(struct crlset *);

#endif /* DROMOS_UNPRIV_CRLSET_H */
