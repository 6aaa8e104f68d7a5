/* PEM files read whole (gateway/pem.h). */
#include <stdio.h>
#include <string.h>

#include "common/secfile.h"
#include "gateway/pem.h"

char *
gw_pem_read(const char *path, int flags, char *err, size_t errlen)
{
	char	*buf;
	size_t	 len;

	if (secfile_read(path, flags, GW_PEM_MAX, &buf, &len, err,
	    errlen) == -1)
		return NULL;
	if (strstr(buf, "-----BEGIN ") == NULL) {
		snprintf(err, errlen, "%s: not a PEM file", path);
		secfile_free(buf, len);
		return NULL;
	}
	return buf;
}

void
gw_pem_free(char *p)
{
	/* secfile_read() refused any NUL inside: strlen is its length. */
	if (p != NULL)
		secfile_free(p, strlen(p));
}
