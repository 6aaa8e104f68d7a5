/*
 * listen.c: unix and TCP sockets for the broker to serve on.
 *
 * The socket is bound under a restrictive umask so that it is never
 * reachable with wider permissions than asked, even for a moment; its mode
 * and owner are set before listen(2), so no connection is accepted before
 * they are right.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "unpriv/listen.h"

#define LISTEN_BACKLOG	128

static int
sun_fill(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Does a process accept connections on the socket at sun? */
static int
sun_alive(const struct sockaddr_un *sun)
{
	int	 fd, rv;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return 1;	/* cannot tell: do not take it over */
	rv = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	/* EAGAIN: its backlog is full, so it is very much alive. */
	rv = rv == 0 || errno == EAGAIN;
	(void)close(fd);
	return rv;
}

/* Make path free for bind(2), or refuse.  0 or -1 (logged). */
static int
clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket; not replacing it",
		    path);
		errno = EEXIST;
		return -1;
	}
	if (sun_alive(sun)) {
		log_warnx("%s: another process is listening on it", path);
		errno = EADDRINUSE;
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", path);
		return -1;
	}
	log_debug("removed stale socket %s", path);
	return 0;
}

int
listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct sockaddr_un	 sun;
	mode_t			 omask;
	int			 fd, rv, saved;

	if (sun_fill(&sun, path) == -1) {
		log_warnx("socket path too long or empty: %s", path);
		return -1;
	}
	if (clear_stale(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		log_warn("socket");
		return -1;
	}
	omask = umask(0177);
	rv = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	(void)umask(omask);
	if (rv == -1) {
		errno = saved;
		log_warn("bind %s", path);
		goto fail;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) == -1) {
		log_warn("chown %s", path);
		goto unlink;
	}
	if (chmod(path, mode) == -1) {
		log_warn("chmod %s", path);
		goto unlink;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("listen %s", path);
		goto unlink;
	}
	return fd;

 unlink:
	saved = errno;
	(void)unlink(path);
	errno = saved;
 fail:
	saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

int
listen_tcp(const char *addr, int backlog)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1, saved;

	if (addr_parse(addr, &ss, &len) == ADDR_MALFORMED) {
		log_warnx("%s: not a numeric address and port", addr);
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("%s: socket", addr);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, backlog) == -1) {
		saved = errno;
		log_warn("listen %s", addr);
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
