/*
 * Numeric listener addresses (common/addr.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "common/addr.h"

/* The port: 1..65535, decimal digits only, no sign, no leading zero. */
static int
port_parse(const char *p, uint16_t *port)
{
	unsigned long	 n = 0;

	if (*p < '1' || *p > '9')
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > 65535)
			return -1;
	}
	*port = (uint16_t)n;
	return 0;
}

enum addr_result
addr_parse(const char *s, struct sockaddr_storage *ssp, socklen_t *lenp)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	char			 host[INET6_ADDRSTRLEN];
	const char		*colon, *end;
	size_t			 hl;
	uint16_t		 port;
	socklen_t		 len;
	int			 loop, v6 = s[0] == '[';

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return ADDR_MALFORMED;
		s++;
		hl = (size_t)(end - s);
		colon = end + 1;
	} else {
		if ((colon = strchr(s, ':')) == NULL ||
		    strchr(colon + 1, ':') != NULL)
			return ADDR_MALFORMED;	/* bare IPv6 needs brackets */
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || port_parse(colon + 1, &port) == -1)
		return ADDR_MALFORMED;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!v6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
		loop = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	} else if (v6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
		loop = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
	} else
		return ADDR_MALFORMED;
	if (ssp != NULL)
		*ssp = ss;
	if (lenp != NULL)
		*lenp = len;
	return loop ? ADDR_LOOPBACK : ADDR_OTHER;
}

enum addr_result
addr_parse_local(const char *s, struct sockaddr_storage *ssp, socklen_t *lenp)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	enum addr_result	 r;

	if ((r = addr_parse(s, &ss, &len)) != ADDR_LOOPBACK)
		return r;
	if (ssp != NULL)
		*ssp = ss;
	if (lenp != NULL)
		*lenp = len;
	return r;
}
