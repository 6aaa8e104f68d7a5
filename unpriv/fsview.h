/*
 * What the sandboxed broker may still read by path (Landlock, through
 * policy_landlock()): its seccomp filter allows read-only opens, but
 * libraries read files long after start-up (the resolver's configuration,
 * the CA bundle libcurl verifies providers with, the zone files, the
 * client CRL it reloads, and whatever libpq's connection string names for
 * each new database connection).  Everything else on the file system is
 * out of reach, and nothing may be written or created by path.
 *
 * The view:
 *	/etc, /usr/lib, /lib		configuration, NSS modules, OpenSSL's
 *					directory (/usr/lib/ssl)
 *	/usr/share/ca-certificates,	the files /etc/ssl/certs links to
 *	/usr/local/share/ca-certificates
 *	/usr/share/zoneinfo
 *	/sys/devices/system/cpu		the processors online (get_nprocs())
 *	the directory /etc/resolv.conf resolves to (systemd-resolved's)
 *	the client CRL's directory	it is replaced by rename (crlset.c)
 *	for passfile, sslcert, sslkey, sslrootcert and sslcrl in the
 *	connection string: the file's directory, and the directory of what
 *	it links to; for sslcrldir, the directory itself.  Left unset, the
 *	defaults in the broker user's home are used as libpq would: the
 *	directory ~/.postgresql, and the files ~/.pgpass and
 *	~/.pg_service.conf (those two alone: not the whole home).
 * A path that does not exist when the broker starts is left out.
 */
#ifndef DROMOS_UNPRIV_FSVIEW_H
#define DROMOS_UNPRIV_FSVIEW_H

#include <stddef.h>

#include "policy/policy.h"

#define FSVIEW_MAX	32

struct fsview {
	struct policy_path	 p[FSVIEW_MAX];
	char			*own[FSVIEW_MAX];	/* p[i].path, if made */
	size_t			 n;
};

/*
 * The view for the connection string dsn and the CRL crl ("" or NULL:
 * none); home is the broker user's home directory (NULL: none).  0, or
 * -1 when dsn does not parse or memory runs out (the reason is logged,
 * never the string, which may hold a password).
 */
int	 fsview_make(struct fsview *, const char *dsn, const char *crl,
	    const char *home);
/* The paths, space-separated, for a log line; "" if none. */
void	 fsview_text(const struct fsview *, char *, size_t);
void	 fsview_free(struct fsview *);

#endif /* DROMOS_UNPRIV_FSVIEW_H */
