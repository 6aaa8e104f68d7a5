/*
 * Checks on what a client sends besides the target (gateway/route.h):
 * the header section, the request id, the body.  Pure functions over
 * bytes, shared by the server, the unit tests and the fuzzer.
 *
 * A request is refused before anything is forwarded when a header name
 * is not a token, a value holds a control character (CR, LF and NUL
 * among them: no header smuggling), Content-Length is repeated or not a
 * number, Transfer-Encoding comes with Content-Length or is anything but
 * "chunked", a header the gateway forwards or acts on is repeated, or
 * there are too many headers.
 */
#ifndef DROMOS_GATEWAY_CHECK_H
#define DROMOS_GATEWAY_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define GW_HEADERS_MAX	64	/* header fields in one request */
#define GW_REQID_MAX	64

struct gw_hdr {
	const char	*name;
	size_t		 namelen;
	const char	*value;
	size_t		 valuelen;
};

/* A refusal: status, problem type name, title, detail (all static). */
struct gw_refusal {
	unsigned int	 status;
	const char	*problem;
	const char	*title;
	const char	*detail;
};

/* What the checks found; pointers into the headers given. */
struct gw_hdrinfo {
	const char	*authorization;
	const char	*content_type;
	const char	*request_id;
	const char	*accept;
	const char	*origin;
	const char	*acr_method;	/* Access-Control-Request-Method */
	int		 has_length;
	uint64_t	 content_length;
	int		 chunked;
};

/* 0, or -1 with the refusal filled in. */
int	 gw_headers_check(const struct gw_hdr *, size_t n, uint64_t body_limit,
	    struct gw_hdrinfo *, struct gw_refusal *);

/* [A-Za-z0-9._-]{1,64}: 1 or 0. */
int	 gw_reqid_ok(const char *);
/* A Content-Length value: 1-19 digits, nothing else; 0 or -1. */
int	 gw_parse_length(const char *v, size_t len, uint64_t *out);

/*
 * The request id to use: the given one if it is sane, else 32 random
 * hex digits.  out holds GW_REQID_MAX + 1 bytes.
 */
void	 gw_reqid(const char *given, char *out);

/*
 * A body for a route with these flags: a JSON object (no duplicate keys)
 * sent as application/json with GW_F_JSON, else none.  0, or -1 with the refusal filled in.
 */
int	 gw_body_check(unsigned int flags, const char *content_type,
	    const unsigned char *body, size_t len, struct gw_refusal *);

/* Is this exactly "application/json", perhaps with parameters? */
int	 gw_ctype_json(const char *);

#endif /* DROMOS_GATEWAY_CHECK_H */
