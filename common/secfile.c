/*
 * Reading small files whole, secrets among them (common/secfile.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secfile.h"

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((__format__(__printf__, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
check_stat(const struct stat *st, const char *path, int flags, char *err,
    size_t errlen)
{
	int	 secret = (flags & SECFILE_SECRET) != 0;
	mode_t	 bad = (flags & SECFILE_GROUP_OK) ? 037 : 077;

	if (!S_ISREG(st->st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (!secret)
		return 0;
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		seterr(err, errlen, "%s: owned by uid %lu, not by root or "
		    "uid %lu", path, (unsigned long)st->st_uid,
		    (unsigned long)geteuid());
		return -1;
	}
	if (st->st_mode & bad) {
		seterr(err, errlen, "%s: mode %04o lets %s in (chmod %s it)",
		    path, (unsigned int)(st->st_mode & 07777),
		    (flags & SECFILE_GROUP_OK) && !(st->st_mode & bad & 070) ?
		    "others" : "group or others",
		    (flags & SECFILE_GROUP_OK) ? "640" : "600");
		return -1;
	}
	return 0;
}

int
secfile_check(int fd, const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: fstat: %s", path, strerror(errno));
		return -1;
	}
	return check_stat(&st, path, SECFILE_SECRET, err, errlen);
}

/* Exactly len bytes, or -1 (a short file: it changed under us). */
static int
read_exact(int fd, char *buf, size_t len)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < len) {
		n = read(fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
secfile_read(const char *path, int flags, size_t max, char **bufp,
    size_t *lenp, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0;
	int		 fd, secret = (flags & SECFILE_SECRET) != 0;

	*bufp = NULL;
	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    (secret ? O_NOFOLLOW : 0))) == -1) {
		seterr(err, errlen, "%s: %s", path, errno == ELOOP && secret ?
		    "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: fstat: %s", path, strerror(errno));
		goto fail;
	}
	if (check_stat(&st, path, flags, err, errlen) == -1)
		goto fail;
	if (st.st_size <= 0) {
		seterr(err, errlen, "%s: empty", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		seterr(err, errlen, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len + 1)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	if (read_exact(fd, buf, len) == -1) {
		seterr(err, errlen, "%s: read: %s", path, strerror(errno));
		goto fail;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		seterr(err, errlen, "%s: holds a NUL byte: not a text file",
		    path);
		goto fail;
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
 fail:
	secfile_free(buf, len);
	close(fd);
	return -1;
}

void
secfile_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len + 1);
	free(buf);
}

int
secfile_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}
