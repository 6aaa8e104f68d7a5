/* PEM files read whole (gateway/pem.h). */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/pem.h"

static const char *
open_to(mode_t bad)
{
	return (bad & S_IRWXG) != 0 ? "group or others" : "others";
}

char *
gw_pem_read(const char *path, mode_t secret, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (size_t)st.st_size > GW_PEM_MAX) {
		snprintf(err, errlen, "%s: not a regular file of 1 to %zu "
		    "bytes", path, GW_PEM_MAX);
		close(fd);
		return NULL;
	}
	if (secret != 0 && ((st.st_mode & secret) != 0 ||
	    (st.st_uid != 0 && st.st_uid != geteuid()))) {
		snprintf(err, errlen, "%s: a private key must belong to root "
		    "(or to us) and not be open to %s (mode %03o)", path,
		    open_to(secret), (unsigned int)(st.st_mode & 0777));
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	if (strstr(buf, "-----BEGIN ") == NULL || strlen(buf) != off) {
		snprintf(err, errlen, "%s: not a PEM file", path);
		explicit_bzero(buf, off);
		free(buf);
		return NULL;
	}
	return buf;
}

void
gw_pem_free(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}
