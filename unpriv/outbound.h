/*
 * Outbound HTTP: the broker's only client, for the token, revocation and
 * discovery endpoints of OAuth providers (libcurl).
 *
 * Every call:
 *	- https only; plain http only to a loopback host (localhost,
 *	  127.0.0.0/8, [::1]), which is what the tests' servers listen on.
 *	  The URL is parsed once with libcurl's URL API, checked, and that
 *	  parse is what libcurl connects to; no user name or password in it;
 *	- certificate and host name checks on, TLS 1.2 or later;
 *	- no proxy, whatever the environment says; no cookies, no netrc, no
 *	  content decoding;
 *	- a connect timeout and a total timeout;
 *	- the response body capped (OUTBOUND_EBIG beyond it);
 *	- Accept: application/json.
 * POSTs never follow redirects (a 3xx comes back as it is); GETs follow at
 * most OUTBOUND_MAX_REDIRS, to https only.
 *
 * libcurl must be initialised (curl_global_init) before the first call;
 * the broker does it before its seccomp filter loads.
 */
#ifndef DROMOS_UNPRIV_OUTBOUND_H
#define DROMOS_UNPRIV_OUTBOUND_H

#include <stddef.h>

#define OUTBOUND_CONNECT_TIMEOUT_MS	5000
#define OUTBOUND_TIMEOUT_MS		15000
#define OUTBOUND_MAX_BODY		(256 * 1024)
#define OUTBOUND_MAX_REDIRS		3
#define OUTBOUND_RETRY_AFTER_MAX	86400	/* seconds; longer is cut */

/*
 * Process-wide settings.  Zero or NULL members take the defaults above
 * (ca_file NULL: libcurl's default bundle).  ca_file exists for tests that
 * run a TLS peer with their own CA; nothing reads it from the environment.
 * Call before any thread makes a call; NULL restores the defaults.
 * 0, or -1 when out of memory (the settings are then unchanged).
 */
struct outbound_opts {
	const char	*ca_file;
	long		 connect_timeout_ms;
	long		 timeout_ms;
	size_t		 max_body;
};
int	 outbound_configure(const struct outbound_opts *);

/* One field of a form body; an array of them ends with a NULL name. */
struct form {
	const char	*name;
	const char	*value;
};

enum outbound_err {
	OUTBOUND_OK = 0,
	OUTBOUND_EURL,		/* refused before any network: scheme,
				   non-loopback http, credentials, syntax */
	OUTBOUND_ENET,		/* resolving, connecting, sending, reading */
	OUTBOUND_ETIMEOUT,	/* connect or total timeout */
	OUTBOUND_ETLS,		/* handshake or certificate check failed */
	OUTBOUND_EBIG,		/* the body is over the cap */
	OUTBOUND_ENOMEM,
	OUTBOUND_EOTHER,	/* anything else libcurl reports */
};

#define OUTBOUND_CTYPE_MAX	128

/*
 * What came back.  body holds len bytes plus a NUL (never NULL after a
 * call that returned 0).  It may hold tokens: outbound_resp_free wipes it.
 */
struct outbound_resp {
	long		 status;		/* HTTP status; 0: none */
	char		 content_type[OUTBOUND_CTYPE_MAX]; /* "": none or
						   too long */
	char		*body;
	size_t		 len;
	long		 retry_after;		/* seconds from Retry-After
						   (delta or date); 0: none */
	enum outbound_err err;
	char		 why[128];		/* on -1: what went wrong,
						   never a header or body */
};

/*
 * POST fields as application/x-www-form-urlencoded.  With basic_user set,
 * adds Authorization: Basic per RFC 6749 §2.3.1: the user (client_id) and
 * password (client secret, "" if NULL) are each form-urlencoded before
 * they are joined with ':' and base64-encoded.  0 when an HTTP response
 * came back (any status: the caller judges it), -1 with resp->err and
 * resp->why otherwise.  Every copy of the body and the header this code
 * makes is wiped.  resp is always initialised: free it in both cases.
 */
int	 outbound_post_form(const char *url, const struct form *fields,
	    const char *basic_user, const char *basic_pass,
	    struct outbound_resp *resp);

/* GET url; like outbound_post_form. */
int	 outbound_get(const char *url, struct outbound_resp *resp);

/* Wipe and free the body; resp may then be reused. */
void	 outbound_resp_free(struct outbound_resp *resp);

/*
 * 0 if url may be called (the checks above; a fragment is refused too), -1
 * with why otherwise.  No network.  The discovery code checks the
 * endpoints a metadata document names with it.
 */
int	 outbound_url_ok(const char *url, char *why, size_t whysz);

/* A static string naming err ("timeout", …). */
const char *outbound_strerror(enum outbound_err err);

#endif /* DROMOS_UNPRIV_OUTBOUND_H */
