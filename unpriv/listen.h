/*
 * The broker's listening sockets: unix stream sockets (the internal HTTP
 * socket, the admin socket) and TCP ones (the metrics, the internal API
 * over TLS), created as root before privileges are dropped.
 */
#ifndef DROMOS_UNPRIV_LISTEN_H
#define DROMOS_UNPRIV_LISTEN_H

#include <sys/types.h>

/*
 * Bind and listen on path.  A socket already there is replaced when nobody
 * accepts on it (left by a previous run); anything else there (a live
 * socket, a file, a directory, a link) is refused.  The socket gets mode
 * and, unless uid or gid is (uid_t)-1 / (gid_t)-1, that owner and group.
 * The directory must exist and must not be writable by others.
 * Returns a non-blocking, close-on-exec descriptor, or -1 with the reason
 * logged and errno set.
 */
int	 listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid);

/*
 * Bind and listen on a numeric TCP address, "host:port" or "[v6]:port"
 * (common/addr.h), with SO_REUSEADDR (a restart need not wait out the
 * last run's TIME_WAIT) and, for IPv6, IPV6_V6ONLY ("[::]" is IPv6
 * only).  Returns a non-blocking, close-on-exec descriptor, or -1 with
 * the reason logged and errno set.
 */
int	 listen_tcp(const char *addr, int backlog);

#endif /* DROMOS_UNPRIV_LISTEN_H */
