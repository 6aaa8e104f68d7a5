/*
 * Outbound HTTP with libcurl (outbound.h).  One easy handle per call: the
 * calls are rare (a token exchange, a refresh, a revocation, a discovery
 * fetch per hour) and a fresh handle shares nothing between threads.
 *
 * The URL is parsed once into a CURLU handle, checked, and handed to
 * libcurl as that handle (CURLOPT_CURLU), so the string that was checked
 * and the one that is connected to cannot differ.  The protocols libcurl
 * may speak are restricted as well, so a bug here cannot widen them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "unpriv/outbound.h"

static struct {
	char	*ca_file;
	long	 connect_timeout_ms;
	long	 timeout_ms;
	size_t	 max_body;
} cfg = {
	NULL, OUTBOUND_CONNECT_TIMEOUT_MS, OUTBOUND_TIMEOUT_MS,
	OUTBOUND_MAX_BODY,
};

int
outbound_configure(const struct outbound_opts *o)
{
	char	*ca = NULL;

	if (o != NULL && o->ca_file != NULL &&
	    (ca = strdup(o->ca_file)) == NULL)
		return -1;
	free(cfg.ca_file);
	cfg.ca_file = ca;
	cfg.connect_timeout_ms = o != NULL && o->connect_timeout_ms > 0 ?
	    o->connect_timeout_ms : OUTBOUND_CONNECT_TIMEOUT_MS;
	cfg.timeout_ms = o != NULL && o->timeout_ms > 0 ?
	    o->timeout_ms : OUTBOUND_TIMEOUT_MS;
	cfg.max_body = o != NULL && o->max_body > 0 ?
	    o->max_body : OUTBOUND_MAX_BODY;
	return 0;
}

const char *
outbound_strerror(enum outbound_err err)
{
	static const char *const names[] = {
		[OUTBOUND_OK] = "ok",
		[OUTBOUND_EURL] = "URL refused",
		[OUTBOUND_ENET] = "network error",
		[OUTBOUND_ETIMEOUT] = "timeout",
		[OUTBOUND_ETLS] = "TLS error",
		[OUTBOUND_EBIG] = "response too large",
		[OUTBOUND_ENOMEM] = "out of memory",
		[OUTBOUND_EOTHER] = "HTTP client error",
	};

	if ((size_t)err >= sizeof(names) / sizeof(names[0]) ||
	    names[err] == NULL)
		return "unknown error";
	return names[err];
}

/* ---- URLs ---- */

static int
host_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 buf[INET6_ADDRSTRLEN + 2];
	size_t		 len = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* libcurl keeps the brackets of an IPv6 literal. */
	if (len < 3 || len - 2 >= sizeof(buf) || host[0] != '[' ||
	    host[len - 1] != ']')
		return 0;
	memcpy(buf, host + 1, len - 2);
	buf[len - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* 1 if part of u is present. */
static int
has_part(CURLU *u, CURLUPart part)
{
	char	*s = NULL;
	int	 rc;

	rc = curl_url_get(u, part, &s, 0) == CURLUE_OK;
	curl_free(s);
	return rc;
}

/*
 * Parse and check url into u; *plain is set when it is a loopback http
 * URL.  0, or -1 with why.
 */
static int
url_check(CURLU *u, const char *url, int *plain, char *why, size_t whysz)
{
	char		*scheme = NULL, *host = NULL;
	const char	*bad = NULL;

	*plain = 0;
	if (strlen(url) > 8192)
		bad = "URL too long";
	else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		bad = "malformed URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0')
		bad = "URL without scheme or host";
	else if (has_part(u, CURLUPART_USER) ||
	    has_part(u, CURLUPART_PASSWORD) || has_part(u, CURLUPART_OPTIONS))
		bad = "URL with credentials";
	else if (has_part(u, CURLUPART_FRAGMENT))
		bad = "URL with a fragment";
	else if (strcmp(scheme, "https") == 0)
		;
	else if (strcmp(scheme, "http") != 0)
		bad = "URL scheme is not https";
	else if (!host_is_loopback(host))
		bad = "http:// is allowed to loopback hosts only";
	else
		*plain = 1;
	curl_free(scheme);
	curl_free(host);
	if (bad != NULL) {
		snprintf(why, whysz, "%s", bad);
		return -1;
	}
	return 0;
}

int
outbound_url_ok(const char *url, char *why, size_t whysz)
{
	CURLU	*u;
	int	 plain, rc;

	if ((u = curl_url()) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	rc = url_check(u, url, &plain, why, whysz);
	curl_url_cleanup(u);
	return rc;
}

/* ---- buffers that leave no copies behind ---- */

/*
 * A growing buffer, always NUL-terminated once it holds anything.  It
 * grows by copying and wiping the old block, never by realloc (which may
 * leave the old bytes in freed memory).
 */
struct wbuf {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

/* Room for n more bytes and a NUL. */
static int
wbuf_reserve(struct wbuf *w, size_t n)
{
	char	*nb;
	size_t	 ncap;

	if (n > SIZE_MAX / 4 - w->len)
		return -1;
	if (w->len + n + 1 <= w->cap)
		return 0;
	for (ncap = w->cap ? w->cap : 256; ncap < w->len + n + 1;)
		ncap *= 2;
	if ((nb = malloc(ncap)) == NULL)
		return -1;
	if (w->buf != NULL) {
		memcpy(nb, w->buf, w->len);
		explicit_bzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nb;
	w->cap = ncap;
	return 0;
}

static int
wbuf_add(struct wbuf *w, const char *p, size_t n)
{
	if (wbuf_reserve(w, n) == -1)
		return -1;
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return 0;
}

static void
wbuf_wipe(struct wbuf *w)
{
	if (w->buf != NULL) {
		explicit_bzero(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

/* The response body: capped. */
struct sink {
	struct wbuf	 w;
	size_t		 max;
	int		 big;
	int		 nomem;
};

static size_t
sink_write(char *p, size_t size, size_t n, void *arg)
{
	struct sink	*s = arg;

	/* size is always 1 (CURLOPT_WRITEFUNCTION). */
	(void)size;
	if (n > s->max - s->w.len) {
		s->big = 1;
		return 0;
	}
	if (wbuf_add(&s->w, p, n) == -1) {
		s->nomem = 1;
		return 0;
	}
	return n;
}

/* Append curl_easy_escape(s) to w; the escaped copy is wiped. */
static int
add_escaped(struct wbuf *w, const char *s)
{
	char	*e;
	size_t	 len = strlen(s);
	int	 rc;

	if (len > INT32_MAX || (e = curl_easy_escape(NULL, s, (int)len)) ==
	    NULL)
		return -1;
	len = strlen(e);
	rc = wbuf_add(w, e, len);
	explicit_bzero(e, len);
	curl_free(e);
	return rc;
}

/* name=value&... with every name and value escaped. */
static int
form_encode(struct wbuf *w, const struct form *f)
{
	for (; f != NULL && f->name != NULL; f++) {
		if ((w->len > 0 && wbuf_add(w, "&", 1) == -1) ||
		    add_escaped(w, f->name) == -1 ||
		    wbuf_add(w, "=", 1) == -1 ||
		    (f->value != NULL && add_escaped(w, f->value) == -1))
			return -1;
	}
	return wbuf_add(w, "", 0);
}

/*
 * "Authorization: Basic " base64(form-urlencode(user) ":"
 * form-urlencode(pass)) (RFC 6749 §2.3.1).
 */
static int
basic_header(struct wbuf *hdr, const char *user, const char *pass)
{
	static const char	 pfx[] = "Authorization: Basic ";
	struct wbuf		 joined = { 0 };
	size_t			 b64len;
	int			 rc = -1;

	if (add_escaped(&joined, user) == -1 ||
	    wbuf_add(&joined, ":", 1) == -1 ||
	    add_escaped(&joined, pass != NULL ? pass : "") == -1 ||
	    joined.len > INT32_MAX / 2)
		goto done;
	b64len = 4 * ((joined.len + 2) / 3);
	if (wbuf_add(hdr, pfx, sizeof(pfx) - 1) == -1 ||
	    wbuf_reserve(hdr, b64len) == -1)
		goto done;
	/* Writes b64len bytes and a NUL, which wbuf_reserve made room for. */
	EVP_EncodeBlock((unsigned char *)hdr->buf + hdr->len,
	    (const unsigned char *)joined.buf, (int)joined.len);
	hdr->len += b64len;
	rc = 0;
 done:
	wbuf_wipe(&joined);
	return rc;
}

/* Frees a header list after wiping every header in it. */
static void
headers_free(struct curl_slist *h)
{
	struct curl_slist	*l;

	for (l = h; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h);
}

static int
headers_add(struct curl_slist **h, const char *line)
{
	struct curl_slist	*n;

	if ((n = curl_slist_append(*h, line)) == NULL)
		return -1;
	*h = n;
	return 0;
}

/* ---- one call ---- */

static enum outbound_err
map_error(CURLcode rc, const struct sink *s)
{
	if (s->big || rc == CURLE_FILESIZE_EXCEEDED)
		return OUTBOUND_EBIG;
	if (s->nomem || rc == CURLE_OUT_OF_MEMORY)
		return OUTBOUND_ENOMEM;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return OUTBOUND_ETIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return OUTBOUND_ENET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return OUTBOUND_ETLS;
	case CURLE_UNSUPPORTED_PROTOCOL:	/* a redirect to http:// */
	case CURLE_TOO_MANY_REDIRECTS:
		return OUTBOUND_EURL;
	default:
		return OUTBOUND_EOTHER;
	}
}

#define SETOPT(c, o, v, ok)	do {					\
	if (curl_easy_setopt((c), (o), (v)) != CURLE_OK)		\
		(ok) = 0;						\
} while (0)

/* The options every call gets. */
static int
base_options(CURL *c, CURLU *u, int plain, struct sink *s, char *errbuf)
{
	int	 ok = 1;

	SETOPT(c, CURLOPT_CURLU, u, ok);
	SETOPT(c, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https", ok);
	SETOPT(c, CURLOPT_REDIR_PROTOCOLS_STR, "https", ok);
	SETOPT(c, CURLOPT_NOSIGNAL, 1L, ok);
	SETOPT(c, CURLOPT_PROXY, "", ok);
	SETOPT(c, CURLOPT_NOPROXY, "*", ok);
	SETOPT(c, CURLOPT_SSL_VERIFYPEER, 1L, ok);
	SETOPT(c, CURLOPT_SSL_VERIFYHOST, 2L, ok);
	SETOPT(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2, ok);
	if (cfg.ca_file != NULL)
		SETOPT(c, CURLOPT_CAINFO, cfg.ca_file, ok);
	SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, cfg.connect_timeout_ms, ok);
	SETOPT(c, CURLOPT_TIMEOUT_MS, cfg.timeout_ms, ok);
	SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg.max_body, ok);
	SETOPT(c, CURLOPT_WRITEFUNCTION, sink_write, ok);
	SETOPT(c, CURLOPT_WRITEDATA, s, ok);
	SETOPT(c, CURLOPT_ERRORBUFFER, errbuf, ok);
	SETOPT(c, CURLOPT_USERAGENT, "dromos-broker", ok);
	return ok ? 0 : -1;
}

/* Status, Content-Type and Retry-After of a finished transfer. */
static void
collect(CURL *c, struct outbound_resp *resp)
{
	char		*ct = NULL;
	curl_off_t	 ra = 0;

	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL && strlen(ct) < sizeof(resp->content_type))
		memcpy(resp->content_type, ct, strlen(ct) + 1);
	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		resp->retry_after = ra > OUTBOUND_RETRY_AFTER_MAX ?
		    OUTBOUND_RETRY_AFTER_MAX : (long)ra;
}

static int
fail(struct outbound_resp *resp, enum outbound_err err, const char *why)
{
	size_t	 n = strnlen(why, sizeof(resp->why) - 1);

	/* Cut to fit: libcurl's messages can be long. */
	resp->err = err;
	memcpy(resp->why, why, n);
	resp->why[n] = '\0';
	return -1;
}

/* A handle for one call; NULL when out of memory. */
static CURL *
setup(CURLU *u, int plain, const struct wbuf *post, struct curl_slist *h,
    struct sink *s, char *errbuf)
{
	CURL	*c;
	int	 ok;

	if ((c = curl_easy_init()) == NULL)
		return NULL;
	ok = base_options(c, u, plain, s, errbuf) == 0;
	SETOPT(c, CURLOPT_HTTPHEADER, h, ok);
	if (post != NULL) {
		/* libcurl sends our buffer: no copy of the body is made. */
		SETOPT(c, CURLOPT_POSTFIELDS, post->buf, ok);
		SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post->len,
		    ok);
		SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L, ok);
	} else {
		SETOPT(c, CURLOPT_HTTPGET, 1L, ok);
		SETOPT(c, CURLOPT_FOLLOWLOCATION, 1L, ok);
		SETOPT(c, CURLOPT_MAXREDIRS, (long)OUTBOUND_MAX_REDIRS, ok);
	}
	if (!ok) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

/* post: the form body, NULL for a GET; authz: an Authorization header. */
static int
perform(const char *url, const struct wbuf *post, const char *authz,
    struct outbound_resp *resp)
{
	char			 errbuf[CURL_ERROR_SIZE] = "";
	char			 why[CURL_ERROR_SIZE + 64];
	struct sink		 s = { .max = cfg.max_body };
	struct curl_slist	*h = NULL;
	enum outbound_err	 e;
	CURLU			*u;
	CURL			*c = NULL;
	CURLcode		 rc;
	int			 plain, rv = -1;

	memset(resp, 0, sizeof(*resp));
	if ((u = curl_url()) == NULL)
		return fail(resp, OUTBOUND_ENOMEM, "out of memory");
	if (url_check(u, url, &plain, why, sizeof(why)) == -1) {
		fail(resp, OUTBOUND_EURL, why);
		goto done;
	}
	/* "Expect:": no 100-continue round trip for these small bodies. */
	if (headers_add(&h, "Accept: application/json") == -1 ||
	    headers_add(&h, "Expect:") == -1 ||
	    (authz != NULL && headers_add(&h, authz) == -1) ||
	    (c = setup(u, plain, post, h, &s, errbuf)) == NULL) {
		fail(resp, OUTBOUND_ENOMEM, "cannot set up the HTTP client");
		goto done;
	}
	rc = curl_easy_perform(c);
	collect(c, resp);
	if (rc != CURLE_OK) {
		e = map_error(rc, &s);
		snprintf(why, sizeof(why), "%s%s%s", outbound_strerror(e),
		    e == OUTBOUND_EBIG || e == OUTBOUND_ENOMEM ? "" : ": ",
		    e == OUTBOUND_EBIG || e == OUTBOUND_ENOMEM ? "" :
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		fail(resp, e, why);
		goto done;
	}
	if (wbuf_add(&s.w, "", 0) == -1) {	/* an empty body: "" */
		fail(resp, OUTBOUND_ENOMEM, "out of memory");
		goto done;
	}
	resp->body = s.w.buf;
	resp->len = s.w.len;
	memset(&s.w, 0, sizeof(s.w));
	rv = 0;
 done:
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_url_cleanup(u);
	headers_free(h);
	wbuf_wipe(&s.w);
	return rv;
}

int
outbound_post_form(const char *url, const struct form *fields,
    const char *basic_user, const char *basic_pass,
    struct outbound_resp *resp)
{
	struct wbuf	 body = { 0 }, authz = { 0 };
	int		 rc;

	if (form_encode(&body, fields) == -1 || (basic_user != NULL &&
	    basic_header(&authz, basic_user, basic_pass) == -1)) {
		memset(resp, 0, sizeof(*resp));
		rc = fail(resp, OUTBOUND_ENOMEM, "cannot encode the request");
	} else
		rc = perform(url, &body, authz.buf, resp);
	wbuf_wipe(&body);
	wbuf_wipe(&authz);
	return rc;
}

int
outbound_get(const char *url, struct outbound_resp *resp)
{
	return perform(url, NULL, NULL, resp);
}

void
outbound_resp_free(struct outbound_resp *resp)
{
	/*
	 * Only len + 1 bytes of the block were ever written (it grew by
	 * copying, and each old block was wiped).
	 */
	if (resp->body != NULL) {
		explicit_bzero(resp->body, resp->len + 1);
		free(resp->body);
	}
	resp->body = NULL;
	resp->len = 0;
}
