/*
 * Numeric TCP addresses of listeners: "127.0.0.1:9101", "[::1]:9101",
 * "0.0.0.0:8444".  Names are not resolved: a listener's address is fixed by
 * its configuration, never by DNS.
 */
#ifndef DROMOS_COMMON_ADDR_H
#define DROMOS_COMMON_ADDR_H

#include <sys/types.h>
#include <sys/socket.h>

#define ADDR_TEXT_MAX	64	/* "[v6 address]:port" fits */

enum addr_result {
	ADDR_LOOPBACK = 0,	/* a loopback address: 127.0.0.0/8, ::1 */
	ADDR_OTHER = -1,	/* numeric, but not loopback */
	ADDR_MALFORMED = -2,	/* not host:port with a numeric host */
};

/*
 * Parse s into *ss and *len (either may be NULL when only the check is
 * wanted).  An IPv6 address needs brackets; the port is 1..65535 in
 * decimal.  IPv4-mapped ::ffff:127.x.y.z counts as loopback.
 */
enum addr_result addr_parse_local(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len);
/*
 * The same check, but *ss and *len are filled for any numeric address
 * (ADDR_LOOPBACK or ADDR_OTHER), for listeners that may face a network.
 */
enum addr_result addr_parse(const char *s, struct sockaddr_storage *ss,
		    socklen_t *len);

#endif /* DROMOS_COMMON_ADDR_H */
