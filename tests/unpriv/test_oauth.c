/*
 * Unit tests for unpriv/oauth.c, unpriv/outbound.c and unpriv/discovery.c:
 * PKCE against RFC 7636 Appendix B, the authorization URL, the callback
 * and token response parsers (tables), the URL checks of the HTTP client
 * (no network), and real calls to a small HTTP server on 127.0.0.1 run by
 * a thread here, which records every request so the tests can read what
 * went over the wire.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "tests/unpriv/tests.h"
#include "unpriv/discovery.h"
#include "unpriv/oauth.h"
#include "unpriv/outbound.h"
#include "unpriv/provider.h"
#include "unpriv/schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- a recording HTTP server on 127.0.0.1 ---- */

#define PEER_MAXREQ	8
#define PEER_REQSZ	16384

/* One canned answer; a script of them is served in order. */
struct canned {
	int		 status;
	const char	*ctype;		/* NULL: no Content-Type */
	const char	*body;
	const char	*headers;	/* extra lines, each ending in \r\n */
	size_t		 bigbody;	/* > 0: this many bytes of 'x' */
	int		 hang;		/* read the request, never answer */
};

struct peer {
	int			 lfd;
	int			 stopfd[2];
	int			 port;
	pthread_t		 th;
	pthread_mutex_t		 mtx;
	const struct canned	*script;
	size_t			 nscript;
	size_t			 nreq;
	char			 req[PEER_MAXREQ][PEER_REQSZ];
};

/* Wait for fd or the stop pipe; 1 if fd is ready. */
static int
peer_wait(struct peer *p, int fd, int ms)
{
	struct pollfd	 pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = p->stopfd[0], .events = POLLIN },
	};

	if (poll(pfd, 2, ms) <= 0 || (pfd[1].revents & POLLIN))
		return 0;
	return 1;
}

/* A whole request (head and Content-Length bytes of body) into buf. */
static size_t
peer_read(struct peer *p, int fd, char *buf, size_t bufsz)
{
	const char	*eoh, *cl;
	size_t		 len = 0, need = 0;
	ssize_t		 n;

	while (len < bufsz - 1 && peer_wait(p, fd, 5000)) {
		if ((n = read(fd, buf + len, bufsz - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if ((eoh = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (need == 0) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			need = (size_t)(eoh + 4 - buf) + (cl != NULL && cl <
			    eoh ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (len >= need)
			break;
	}
	buf[len] = '\0';
	return len;
}

static void
peer_write(int fd, const char *s, size_t len)
{
	ssize_t	 n;

	while (len > 0 && (n = write(fd, s, len)) > 0) {
		s += n;
		len -= (size_t)n;
	}
}

static void
peer_answer(struct peer *p, int fd, const struct canned *c)
{
	char	 head[1024], *big = NULL;
	size_t	 blen;

	if (c->hang) {
		(void)peer_wait(p, fd, 10000);
		return;
	}
	if (c->bigbody > 0) {
		if ((big = malloc(c->bigbody)) == NULL)
			return;
		memset(big, 'x', c->bigbody);
	}
	blen = big != NULL ? c->bigbody : strlen(c->body);
	snprintf(head, sizeof(head), "HTTP/1.1 %d Canned\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
	    c->status, blen, c->ctype != NULL ? "Content-Type: " : "",
	    c->ctype != NULL ? c->ctype : "", c->ctype != NULL ? "\r\n" : "",
	    c->headers != NULL ? c->headers : "");
	peer_write(fd, head, strlen(head));
	peer_write(fd, big != NULL ? big : c->body, blen);
	free(big);
}

static void *
peer_main(void *arg)
{
	static const struct canned	 none = { 500, "text/plain", "no more",
					    NULL, 0, 0 };
	struct peer			*p = arg;
	char				 buf[PEER_REQSZ];
	const struct canned		*c;
	size_t				 i;
	int				 fd;

	while (peer_wait(p, p->lfd, 30000)) {
		if ((fd = accept(p->lfd, NULL, NULL)) == -1)
			continue;
		peer_read(p, fd, buf, sizeof(buf));
		pthread_mutex_lock(&p->mtx);
		i = p->nreq++;
		if (i < PEER_MAXREQ)
			memcpy(p->req[i], buf, sizeof(buf));
		pthread_mutex_unlock(&p->mtx);
		c = i < p->nscript ? &p->script[i] : &none;
		peer_answer(p, fd, c);
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1 (p->port is then known), serving nothing yet. */
static void
peer_listen(struct peer *p)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	memset(p, 0, sizeof(*p));
	assert_int_equal(pthread_mutex_init(&p->mtx, NULL), 0);
	assert_int_equal(pipe(p->stopfd), 0);
	assert_true((p->lfd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(p->lfd, 8), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &sl), 0);
	p->port = ntohs(sin.sin_port);
}

/* Serve script (which must outlive the peer) from a thread. */
static void
peer_run(struct peer *p, const struct canned *script, size_t n)
{
	p->script = script;
	p->nscript = n;
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

static void
peer_start(struct peer *p, const struct canned *script, size_t n)
{
	peer_listen(p);
	peer_run(p, script, n);
}

static void
peer_stop(struct peer *p)
{
	assert_int_equal(write(p->stopfd[1], "x", 1), 1);
	assert_int_equal(pthread_join(p->th, NULL), 0);
	close(p->lfd);
	close(p->stopfd[0]);
	close(p->stopfd[1]);
	pthread_mutex_destroy(&p->mtx);
}

static size_t
peer_count(struct peer *p)
{
	size_t	 n;

	pthread_mutex_lock(&p->mtx);
	n = p->nreq;
	pthread_mutex_unlock(&p->mtx);
	return n;
}

/* The value of header name in request i ("" if absent). */
static const char *
req_header(struct peer *p, size_t i, const char *name, char *out,
    size_t outsz)
{
	char		 pat[128];
	const char	*h, *eoh = strstr(p->req[i], "\r\n\r\n");
	size_t		 n;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	if ((h = strcasestr(p->req[i], pat)) == NULL || eoh == NULL || h > eoh)
		return out;
	h += strlen(pat);
	h += strspn(h, " ");
	n = strcspn(h, "\r");
	snprintf(out, outsz, "%.*s", (int)n, h);
	return out;
}

static const char *
req_body(struct peer *p, size_t i)
{
	const char	*eoh = strstr(p->req[i], "\r\n\r\n");

	return eoh != NULL ? eoh + 4 : "";
}

/* ---- helpers ---- */

static json_t *
load(const char *text)
{
	json_error_t	 err;
	json_t		*j;

	if ((j = json_loads(text, 0, &err)) == NULL)
		fail_msg("bad test JSON at %d: %s", err.position, err.text);
	return j;
}

/* A checked oauth2 provider; extra are more members (",\"a\":1"). */
static json_t *
oprovider(const char *extra)
{
	char	 buf[4096], path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*doc, *norm;

	snprintf(buf, sizeof(buf), "{\"id\":\"acme\",\"display_name\":"
	    "\"Acme\",\"auth_mode\":\"oauth2\",\"client_id\":\"client:1\"%s}",
	    extra);
	doc = load(buf);
	if (provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)) != 0)
		fail_msg("test provider refused: %s: %s (%s)", path, reason,
		    buf);
	json_decref(doc);
	return norm;
}

#define ENDPOINTS	",\"authorization_url\":\"https://as.example/authorize\"" \
			",\"token_url\":\"https://as.example/token\""

/* Endpoints on the peer. */
static void
peer_endpoints(const struct peer *p, struct oauth_endpoints *ep)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->authorization, sizeof(ep->authorization),
	    "http://127.0.0.1:%d/authorize", p->port);
	snprintf(ep->token, sizeof(ep->token), "http://127.0.0.1:%d/token",
	    p->port);
	snprintf(ep->revocation, sizeof(ep->revocation),
	    "http://127.0.0.1:%d/revoke", p->port);
}

/* base64 text to a string. */
static void
b64decode(const char *in, char *out, size_t outsz)
{
	int	 n;

	assert_true(strlen(in) * 3 / 4 < outsz);
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in,
	    (int)strlen(in));
	assert_true(n >= 0);
	while (n > 0 && out[n - 1] == '\0')	/* padding decodes to NULs */
		n--;
	out[n] = '\0';
}

/* ---- PKCE and state ---- */

static void
test_pkce(void **state)
{
	/* RFC 7636 Appendix B. */
	static const uint8_t	 raw[32] = {
		116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216,
		173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5,
		88, 83, 132, 141, 121,
	};
	char	 v[OAUTH_B64_32_SIZE], c[OAUTH_B64_32_SIZE];
	char	 v2[OAUTH_B64_32_SIZE], c2[OAUTH_B64_32_SIZE];
	char	 again[OAUTH_B64_32_SIZE];
	char	 long_ok[129], too_long[130];

	(void)state;
	oauth_b64url_32(raw, v);
	assert_string_equal(v, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
	assert_int_equal(oauth_pkce_challenge(v, c), 0);
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");

	assert_int_equal(oauth_pkce_new(v, c), 0);
	assert_int_equal(oauth_pkce_new(v2, c2), 0);
	assert_int_equal(strlen(v), 43);
	assert_int_equal(strlen(c), 43);
	assert_int_equal(strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789-_"), 43);
	assert_string_not_equal(v, v2);
	assert_int_equal(oauth_pkce_challenge(v, again), 0);
	assert_string_equal(again, c);

	/* 43-128 unreserved characters (RFC 7636 §4.1). */
	assert_int_equal(oauth_pkce_challenge("short", again), -1);
	assert_int_equal(oauth_pkce_challenge(
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX!", again), -1);
	memset(long_ok, 'a', 128);
	long_ok[128] = '\0';
	assert_int_equal(oauth_pkce_challenge(long_ok, again), 0);
	memset(too_long, 'a', 129);
	too_long[129] = '\0';
	assert_int_equal(oauth_pkce_challenge(too_long, again), -1);
}

static void
test_state(void **state)
{
	char	 s1[OAUTH_B64_32_SIZE], s2[OAUTH_B64_32_SIZE];
	uint8_t	 h1[OAUTH_HASH_LEN], h2[OAUTH_HASH_LEN], h[OAUTH_HASH_LEN];
	/* SHA-256("abc") (FIPS 180-2). */
	static const uint8_t	 abc[OAUTH_HASH_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad,
	};

	(void)state;
	assert_int_equal(oauth_state_new(s1, h1), 0);
	assert_int_equal(oauth_state_new(s2, h2), 0);
	assert_int_equal(strlen(s1), 43);
	assert_string_not_equal(s1, s2);
	assert_memory_not_equal(h1, h2, OAUTH_HASH_LEN);
	oauth_state_hash(s1, strlen(s1), h);
	assert_memory_equal(h, h1, OAUTH_HASH_LEN);
	oauth_state_hash("abc", 3, h);
	assert_memory_equal(h, abc, OAUTH_HASH_LEN);
}

/* ---- the authorization URL ---- */

static void
authz_case(const char *extra, const char *endpoint, const char *want)
{
	struct oauth_endpoints	 ep;
	json_t			*p = oprovider(extra);
	char			*url;

	assert_int_equal(oauth_endpoints_static(p, &ep), 0);
	if (endpoint != NULL)
		snprintf(ep.authorization, sizeof(ep.authorization), "%s",
		    endpoint);
	assert_int_equal(oauth_authorize_url(p, &ep,
	    "http://127.0.0.1:8080/v1/auth/callback/acme",
	    "st4te-_x", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", &url),
	    0);
	assert_string_equal(url, want);
	free(url);
	json_decref(p);
}

#define AZ_COMMON	"response_type=code&client_id=client%3A1" \
	"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fv1%2Fauth%2F" \
	"callback%2Facme"
#define AZ_TAIL		"&state=st4te-_x" \
	"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" \
	"&code_challenge_method=S256"

static void
test_authorize_url(void **state)
{
	struct oauth_endpoints	 ep;
	json_t			*p;
	char			*url;

	(void)state;
	/* No scopes: no scope parameter. */
	authz_case(ENDPOINTS, NULL, "https://as.example/authorize?"
	    AZ_COMMON AZ_TAIL);
	/* Scopes joined by the separator, params after the protocol's. */
	authz_case(ENDPOINTS ",\"default_scopes\":[\"read:user\",\"repo\"],"
	    "\"authorization_params\":{\"prompt\":\"consent\","
	    "\"access_type\":\"offline x&y=z\"}", NULL,
	    "https://as.example/authorize?" AZ_COMMON
	    "&scope=read%3Auser%20repo" AZ_TAIL
	    "&prompt=consent&access_type=offline%20x%26y%3Dz");
	authz_case(ENDPOINTS ",\"default_scopes\":[\"a\",\"b\"],"
	    "\"scope_separator\":\",\"", NULL,
	    "https://as.example/authorize?" AZ_COMMON "&scope=a%2Cb" AZ_TAIL);
	/* An endpoint with a query of its own. */
	authz_case(ENDPOINTS, "https://as.example/authorize?tenant=t1",
	    "https://as.example/authorize?tenant=t1&" AZ_COMMON AZ_TAIL);
	authz_case(ENDPOINTS, "https://as.example/authorize?",
	    "https://as.example/authorize?" AZ_COMMON AZ_TAIL);

	/* No client_id, no endpoint: no URL. */
	p = oprovider(ENDPOINTS);
	assert_int_equal(oauth_endpoints_static(p, &ep), 0);
	json_object_del(p, "client_id");
	url = (char *)1;
	assert_int_equal(oauth_authorize_url(p, &ep, "https://r.example/cb",
	    "s", "c", &url), -1);
	assert_null(url);
	json_decref(p);
	/* A protocol parameter never comes twice, whatever the document. */
	p = oprovider(ENDPOINTS);
	assert_int_equal(oauth_endpoints_static(p, &ep), 0);
	json_object_set_new(p, "authorization_params",
	    json_pack("{s:s}", "state", "x"));
	assert_int_equal(oauth_authorize_url(p, &ep, "https://r.example/cb",
	    "s", "c", &url), -1);
	json_decref(p);
	p = oprovider(ENDPOINTS);
	memset(&ep, 0, sizeof(ep));
	assert_int_equal(oauth_authorize_url(p, &ep, "https://r.example/cb",
	    "s", "c", &url), -1);
	json_decref(p);
}

/* ---- the callback ---- */

struct cb_case {
	const char	*query;
	int		 rc;
	const char	*code;		/* expected when rc is 0 */
	const char	*state;
	const char	*error;
	enum oauth_authz_error	 ecode;
	const char	*desc;
	const char	*iss;
};

static const struct cb_case cb_cases[] = {
	{ "code=abc&state=xyz", 0, "abc", "xyz", "", 0, "", "" },
	{ "state=xyz&code=a%2Bb+c%7E", 0, "a+b c~", "xyz", "", 0, "", "" },
	{ "code=abc&state=xyz&iss=https%3A%2F%2Fas.example", 0, "abc", "xyz",
	    "", 0, "", "https://as.example" },
	{ "code=abc&state=xyz&scope=a+b&authuser=0&x=1&x=2", 0, "abc", "xyz",
	    "", 0, "", "" },
	{ "c%6Fde=abc&state=xyz", 0, "abc", "xyz", "", 0, "", "" },
	{ "error=access_denied&state=s&error_description=User+denied%0D%0A"
	    "access", 0, "", "s", "access_denied", OAUTH_AE_ACCESS_DENIED,
	    "User denied??access", "" },
	{ "error=login_required&state=s&error_uri=https%3A%2F%2Fd.example",
	    0, "", "s", "login_required", OAUTH_AE_OTHER, "", "" },
	{ "error=temporarily_unavailable&state=s", 0, "", "s",
	    "temporarily_unavailable", OAUTH_AE_TEMPORARILY_UNAVAILABLE, "",
	    "" },
	{ "error=invalid_scope&state=s&error_description=", 0, "", "s",
	    "invalid_scope", OAUTH_AE_INVALID_SCOPE, "", "" },
	/* Repeated (RFC 6749 §3.1), also when spelt differently. */
	{ "code=a&code=b&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "c%6fde=a&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s&iss=x&iss=x", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "error=a&error=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	/* Escapes. */
	{ "code=a%2&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a%&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a%zz&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s%", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a%00b&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "x=%G1&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "x=%00&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	/* Byte classes. */
	{ "code=a%0Ab&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=%C3%A9&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s%7F", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s&iss=https%3A%2F%2Fa+b", -1, NULL, NULL, NULL, 0,
	    NULL, NULL },
	{ "error=bad%22err&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "error=bad%5Cerr&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "error=access_denied&state=s&error_uri=a+b", -1, NULL, NULL, NULL,
	    0, NULL, NULL },
	/* Shape. */
	{ "", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=abc", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "error=access_denied", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "error=access_denied&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL,
	    NULL },
	{ "code=a&&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=s&", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "=x&code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "code=a&state=", -1, NULL, NULL, NULL, 0, NULL, NULL },
	{ "?code=a&state=s", -1, NULL, NULL, NULL, 0, NULL, NULL },
};

static void
test_callback_table(void **state)
{
	struct oauth_callback	 cb;
	const struct cb_case	*c;
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NELEM(cb_cases); i++) {
		c = &cb_cases[i];
		rc = oauth_callback_parse(c->query, &cb);
		if (rc != c->rc)
			fail_msg("callback \"%s\": %d (%s), want %d", c->query,
			    rc, cb.why != NULL ? cb.why : "", c->rc);
		if (rc == -1) {
			assert_non_null(cb.why);
			continue;
		}
		assert_string_equal(cb.code, c->code);
		assert_string_equal(cb.state, c->state);
		assert_string_equal(cb.error, c->error);
		assert_int_equal(cb.error_code, c->ecode);
		assert_string_equal(cb.error_description, c->desc);
		assert_string_equal(cb.iss, c->iss);
		oauth_callback_clear(&cb);
		assert_int_equal(cb.code[0], 0);
	}
	assert_int_equal(oauth_callback_parse(NULL, &cb), -1);
}

/* Lengths and counts at and past their limits. */
static void
test_callback_limits(void **state)
{
	char			*q;
	struct oauth_callback	 cb;
	size_t			 i, len;

	(void)state;
	q = malloc(OAUTH_QUERY_MAX + 64);
	assert_non_null(q);

	/* A code of exactly OAUTH_CODE_MAX, then one byte more. */
	memcpy(q, "state=s&code=", 13);
	memset(q + 13, 'c', OAUTH_CODE_MAX);
	q[13 + OAUTH_CODE_MAX] = '\0';
	assert_int_equal(oauth_callback_parse(q, &cb), 0);
	assert_int_equal(strlen(cb.code), OAUTH_CODE_MAX);
	strcat(q, "c");
	assert_int_equal(oauth_callback_parse(q, &cb), -1);

	/* A description is cut, not refused. */
	memcpy(q, "state=s&error=access_denied&error_description=", 46);
	memset(q + 46, 'd', 2000);
	q[46 + 2000] = '\0';
	assert_int_equal(oauth_callback_parse(q, &cb), 0);
	assert_int_equal(strlen(cb.error_description), OAUTH_ERRDESC_MAX);

	/* An overlong state. */
	memcpy(q, "code=c&state=", 13);
	memset(q + 13, 's', OAUTH_STATE_MAX + 1);
	q[13 + OAUTH_STATE_MAX + 1] = '\0';
	assert_int_equal(oauth_callback_parse(q, &cb), -1);

	/* OAUTH_PARAMS_MAX parameters, then one more. */
	strcpy(q, "code=c&state=s");
	for (i = 2; i < OAUTH_PARAMS_MAX; i++)
		strcat(q, "&u=1");
	assert_int_equal(oauth_callback_parse(q, &cb), 0);
	strcat(q, "&u=1");
	assert_int_equal(oauth_callback_parse(q, &cb), -1);

	/* The whole query. */
	strcpy(q, "code=c&state=s&pad=");
	len = strlen(q);
	memset(q + len, 'p', OAUTH_QUERY_MAX - len);
	q[OAUTH_QUERY_MAX] = '\0';
	assert_int_equal(oauth_callback_parse(q, &cb), 0);
	strcat(q, "p");
	assert_int_equal(oauth_callback_parse(q, &cb), -1);
	free(q);
}

/* The path for arguments a server library has already decoded. */
static void
test_callback_add(void **state)
{
	struct oauth_callback	 cb;

	(void)state;
	oauth_callback_init(&cb);
	assert_int_equal(oauth_callback_add(&cb, "code", 4, "a b", 3), 0);
	assert_int_equal(oauth_callback_add(&cb, "state", 5, "s", 1), 0);
	assert_int_equal(oauth_callback_finish(&cb), 0);
	assert_string_equal(cb.code, "a b");
	/* A repeated name, as libmicrohttpd reports it: one by one. */
	assert_int_equal(oauth_callback_add(&cb, "state", 5, "t", 1), -1);
	assert_non_null(cb.why);

	oauth_callback_init(&cb);
	assert_int_equal(oauth_callback_add(&cb, "code", 4, NULL, 0), -1);
	oauth_callback_init(&cb);
	assert_int_equal(oauth_callback_add(&cb, "code", 4, "a\0b", 3), -1);
	oauth_callback_init(&cb);
	assert_int_equal(oauth_callback_add(&cb, "state", 5, "s", 1), 0);
	assert_int_equal(oauth_callback_finish(&cb), -1);
}

static void
test_check_iss(void **state)
{
	struct oauth_callback	 with, without;
	const char		*why = NULL;

	(void)state;
	assert_int_equal(oauth_callback_parse("code=c&state=s&iss="
	    "https%3A%2F%2Fas.example", &with), 0);
	assert_int_equal(oauth_callback_parse("code=c&state=s", &without), 0);

	assert_int_equal(oauth_check_iss(&with, "https://as.example", 0,
	    &why), 0);
	assert_int_equal(oauth_check_iss(&with, "https://as.example", 1,
	    &why), 0);
	/* Exactly: no trailing slash, case or prefix games. */
	assert_int_equal(oauth_check_iss(&with, "https://as.example/", 0,
	    &why), -1);
	assert_non_null(why);
	assert_int_equal(oauth_check_iss(&with, "https://AS.example", 0,
	    &why), -1);
	assert_int_equal(oauth_check_iss(&with, "https://evil.example", 0,
	    &why), -1);
	/* Absent: fine unless the metadata promised it. */
	assert_int_equal(oauth_check_iss(&without, "https://as.example", 0,
	    &why), 0);
	why = NULL;
	assert_int_equal(oauth_check_iss(&without, "https://as.example", 1,
	    &why), -1);
	assert_non_null(why);
	/* No expected issuer: nothing to compare against. */
	assert_int_equal(oauth_check_iss(&with, "", 0, &why), 0);
}

/* ---- the token response ---- */

#define JSON_CT	"application/json"

struct tok_case {
	const char		*ctype;
	const char		*body;
	enum oauth_parsed	 want;
	const char		*access;	/* TOKENS */
	const char		*type;
	int64_t			 expires;
	const char		*refresh;	/* NULL: absent */
	unsigned int		 flags;
	const char		*error;		/* ERROR */
	enum oauth_token_error	 ecode;
};

#define TOK(ct, b, at, ty, ex, rt, fl)	\
	{ ct, b, OAUTH_PARSED_TOKENS, at, ty, ex, rt, fl, NULL, 0 }
#define ERR(b, e, c)	\
	{ JSON_CT, b, OAUTH_PARSED_ERROR, NULL, NULL, 0, NULL, 0, e, c }
#define BAD(ct, b)	\
	{ ct, b, OAUTH_PARSED_MALFORMED, NULL, NULL, 0, NULL, 0, NULL, 0 }

static const struct tok_case tok_cases[] = {
	TOK(JSON_CT, "{\"access_token\":\"at-1\",\"token_type\":\"bearer\","
	    "\"expires_in\":3600,\"refresh_token\":\"rt-1\",\"scope\":\"a b\","
	    "\"id_token\":\"h.p.s\",\"unknown\":{\"n\":[1,2]}}",
	    "at-1", "Bearer", 3600, "rt-1", 0),
	TOK("application/json; charset=utf-8", "{\"access_token\":\"a\","
	    "\"token_type\":\"Bearer\"}", "a", "Bearer", -1, NULL, 0),
	TOK("Application/JSON;charset=UTF-8", "{\"access_token\":\"a\","
	    "\"token_type\":\"BEARER\",\"expires_in\":0}", "a", "Bearer", 0,
	    NULL, 0),
	TOK(NULL, "{\"access_token\":\"a b~\",\"token_type\":\"DPoP\"}",
	    "a b~", "DPoP", -1, NULL, 0),
	TOK(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":\"3599\"}", "a", "Bearer", 3599, NULL,
	    OAUTH_TF_EXPIRES_STRING),
	TOK(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":99999999999}", "a", "Bearer", OAUTH_EXPIRES_MAX,
	    NULL, OAUTH_TF_EXPIRES_CLAMPED),
	TOK(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"refresh_token\":null,\"scope\":null,\"expires_in\":null}", "a",
	    "Bearer", -1, NULL, 0),
	TOK(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"scope\":[\"x\",\"y:z\"]}", "a", "Bearer", -1, NULL,
	    OAUTH_TF_SCOPE_ARRAY),
	/* Missing, empty or mistyped members. */
	BAD(JSON_CT, "{\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "{\"access_token\":\"\",\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "{\"access_token\":42,\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "{\"access_token\":null,\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\\u0001\",\"token_type\":\"b\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\\u0000\",\"token_type\":\"b\"}"),
	BAD(JSON_CT, "{\"access_token\":\"\\u00e9\",\"token_type\":\"b\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"Bearer x\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":[\"Bearer\"]}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":-1}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":1.5}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":\"36a0\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":\"-5\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"expires_in\":true}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"refresh_token\":5}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"refresh_token\":\"\"}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"scope\":[\"x\",1]}"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\","
	    "\"id_token\":{}}"),
	/* Not one JSON object. */
	BAD(JSON_CT, "{\"access_token\":\"a\",\"access_token\":\"b\","
	    "\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "access_token=a&token_type=bearer"),
	BAD(JSON_CT, "[{\"access_token\":\"a\",\"token_type\":\"bearer\"}]"),
	BAD(JSON_CT, "{\"access_token\":\"a\",\"token_type\":\"bearer\"} x"),
	BAD(JSON_CT, ""),
	BAD("text/html", "{\"access_token\":\"a\",\"token_type\":\"bearer\"}"),
	BAD("application/jsonx", "{\"access_token\":\"a\","
	    "\"token_type\":\"bearer\"}"),
	BAD("", "{\"access_token\":\"a\",\"token_type\":\"bearer\"}"),
	/* Error responses (RFC 6749 §5.2). */
	ERR("{\"error\":\"invalid_grant\",\"error_description\":\"bad\\ncode\""
	    ",\"error_uri\":\"https://e.example/x\"}", "invalid_grant",
	    OAUTH_TE_INVALID_GRANT),
	ERR("{\"error\":\"invalid_client\",\"error_uri\":null}",
	    "invalid_client", OAUTH_TE_INVALID_CLIENT),
	ERR("{\"error\":\"slow_down\"}", "slow_down", OAUTH_TE_OTHER),
	BAD(JSON_CT, "{\"error\":42}"),
	BAD(JSON_CT, "{\"error\":\"\"}"),
	BAD(JSON_CT, "{\"error\":\"a\\\"b\"}"),
	BAD(JSON_CT, "{\"error\":\"invalid_grant\",\"access_token\":\"a\","
	    "\"token_type\":\"bearer\"}"),
	BAD(JSON_CT, "{\"error\":\"invalid_grant\",\"error_uri\":\"a b\"}"),
	BAD(JSON_CT, "{\"error\":\"invalid_grant\",\"error_description\":7}"),
};

static void
test_token_table(void **state)
{
	const struct tok_case	*c;
	struct oauth_tokens	 t;
	struct oauth_error	 e;
	enum oauth_parsed	 p;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(tok_cases); i++) {
		c = &tok_cases[i];
		p = oauth_token_parse(c->body, strlen(c->body), c->ctype, &t,
		    &e);
		if (p != c->want)
			fail_msg("token case %zu (%s): %d (%s), want %d", i,
			    c->body, p, e.why != NULL ? e.why : "-", c->want);
		switch (p) {
		case OAUTH_PARSED_TOKENS:
			assert_string_equal(t.access_token, c->access);
			assert_string_equal(t.token_type, c->type);
			assert_int_equal(t.bearer,
			    strcmp(c->type, "Bearer") == 0);
			assert_int_equal(t.expires_in, c->expires);
			if (c->refresh == NULL)
				assert_null(t.refresh_token);
			else
				assert_string_equal(t.refresh_token,
				    c->refresh);
			assert_int_equal(t.flags, c->flags);
			break;
		case OAUTH_PARSED_ERROR:
			assert_null(t.access_token);
			assert_string_equal(e.error, c->error);
			assert_int_equal(e.code, c->ecode);
			break;
		default:
			assert_null(t.access_token);
			assert_non_null(e.why);
			break;
		}
		oauth_tokens_free(&t);
	}
}

/* Everything else a parsed response holds, and the size limits. */
static void
test_token_details(void **state)
{
	static const char	 full[] = "{\"access_token\":\"a\",\"token_type\":"
	    "\"bearer\",\"scope\":[\"x\",\"y:z\"],\"id_token\":\"h.p.s\"}";
	static const char	 err[] = "{\"error\":\"invalid_grant\","
	    "\"error_description\":\"bad\\ncode \\u00e9\","
	    "\"error_uri\":\"https://e.example/x\"}";
	struct oauth_tokens	 t;
	struct oauth_error	 e;
	char			*big;
	size_t			 n;

	(void)state;
	assert_int_equal(oauth_token_parse(full, strlen(full), JSON_CT, &t,
	    &e), OAUTH_PARSED_TOKENS);
	assert_string_equal(t.scope, "x y:z");
	assert_string_equal(t.id_token, "h.p.s");
	oauth_tokens_free(&t);
	assert_null(t.access_token);
	assert_int_equal(t.expires_in, -1);

	assert_int_equal(oauth_token_parse(err, strlen(err), JSON_CT, &t, &e),
	    OAUTH_PARSED_ERROR);
	/* Two bytes of UTF-8 become two '?'. */
	assert_string_equal(e.description, "bad?code ??");
	assert_string_equal(e.uri, "https://e.example/x");
	oauth_tokens_free(&t);

	/* An access token of exactly OAUTH_TOKEN_MAX, then one more. */
	big = malloc(OAUTH_TOKEN_MAX + 128);
	assert_non_null(big);
	n = (size_t)snprintf(big, 64, "{\"token_type\":\"bearer\","
	    "\"access_token\":\"");
	memset(big + n, 'a', OAUTH_TOKEN_MAX);
	strcpy(big + n + OAUTH_TOKEN_MAX, "\"}");
	assert_int_equal(oauth_token_parse(big, strlen(big), JSON_CT, &t, &e),
	    OAUTH_PARSED_TOKENS);
	assert_int_equal(strlen(t.access_token), OAUTH_TOKEN_MAX);
	oauth_tokens_free(&t);
	big[n] = 'b';
	memset(big + n + 1, 'a', OAUTH_TOKEN_MAX);
	strcpy(big + n + 1 + OAUTH_TOKEN_MAX, "\"}");
	assert_int_equal(oauth_token_parse(big, strlen(big), JSON_CT, &t, &e),
	    OAUTH_PARSED_MALFORMED);
	oauth_tokens_free(&t);
	free(big);

	assert_int_equal(oauth_token_parse(NULL, 0, NULL, &t, &e),
	    OAUTH_PARSED_MALFORMED);
	oauth_tokens_free(&t);
}

/* ---- outbound: what is refused before any network ---- */

static void
test_outbound_urls(void **state)
{
	static const char *const refused[] = {
		"http://example.com/token",
		"http://10.0.0.1/token",
		"http://[::2]/token",
		"http://[::ffff:127.0.0.1]/token",
		"http://127.0.0.1.nip.io/token",
		"http://localhost.example.com/token",
		"file:///etc/passwd",
		"ftp://127.0.0.1/x",
		"gopher://127.0.0.1/",
		"dict://127.0.0.1/",
		"ldap://127.0.0.1/",
		"scp://127.0.0.1/x",
		"smtp://127.0.0.1/",
		"telnet://127.0.0.1/",
		"HTTPX://127.0.0.1/",
		"https://user:pw@example.com/token",
		"https://user@example.com/token",
		"https://example.com/token#frag",
		"//example.com/token",
		"example.com/token",
		"",
		"https://",
	};
	static const char *const allowed[] = {
		"https://example.com/token",
		"https://example.com:8443/t?x=1",
		"HTTPS://EXAMPLE.COM/token",
		"http://127.0.0.1:1/token",
		"http://127.9.8.7/token",
		"http://localhost/token",
		"http://LocalHost:9/token",
		"http://[::1]:9/token",
	};
	static const struct form f[] = { { "a", "b" }, { NULL, NULL } };
	struct outbound_resp	 r;
	char			 why[128];
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(refused); i++) {
		if (outbound_url_ok(refused[i], why, sizeof(why)) != -1)
			fail_msg("URL %s accepted", refused[i]);
		assert_int_equal(outbound_post_form(refused[i], f, "id", "s",
		    &r), -1);
		assert_int_equal(r.err, OUTBOUND_EURL);
		assert_int_equal(r.status, 0);
		assert_null(r.body);
		outbound_resp_free(&r);
		assert_int_equal(outbound_get(refused[i], &r), -1);
		assert_int_equal(r.err, OUTBOUND_EURL);
		outbound_resp_free(&r);
	}
	for (i = 0; i < NELEM(allowed); i++)
		if (outbound_url_ok(allowed[i], why, sizeof(why)) != 0)
			fail_msg("URL %s refused: %s", allowed[i], why);
}

/* ---- outbound against the peer ---- */

static const char tokens_body[] = "{\"access_token\":\"at-1\","
    "\"token_type\":\"bearer\",\"expires_in\":3600,"
    "\"refresh_token\":\"rt-1\"}";

static void
test_outbound_wire(void **state)
{
	static const struct canned	 script[] = {
		{ 200, "application/json", "{\"ok\":true}", NULL, 0, 0 },
		{ 404, NULL, "", NULL, 0, 0 },
		{ 200, "application/json", "", NULL, 0, 0 },
	};
	static const struct form	 f[] = {
		{ "grant_type", "authorization_code" },
		{ "code", "a b&c=d+e/é" },
		{ "empty", "" },
		{ NULL, NULL },
	};
	struct peer			 p;
	struct outbound_resp		 r;
	char				 url[128], h[512];

	(void)state;
	peer_start(&p, script, NELEM(script));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/token?x=1", p.port);
	assert_int_equal(outbound_post_form(url, f, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.len, 11);
	assert_string_equal(r.body, "{\"ok\":true}");
	outbound_resp_free(&r);
	assert_null(r.body);

	/* Any status comes back as a response; an empty body is "". */
	assert_int_equal(outbound_get(url, &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "");
	outbound_resp_free(&r);
	snprintf(url, sizeof(url), "http://localhost:%d/meta", p.port);
	assert_int_equal(outbound_get(url, &r), 0);
	assert_non_null(r.body);
	assert_int_equal(r.len, 0);
	outbound_resp_free(&r);
	peer_stop(&p);

	assert_int_equal(p.nreq, 3);
	assert_true(strncmp(p.req[0], "POST /token?x=1 HTTP/1.1\r\n", 26) == 0);
	assert_string_equal(req_body(&p, 0), "grant_type=authorization_code&"
	    "code=a%20b%26c%3Dd%2Be%2F%C3%A9&empty=");
	assert_string_equal(req_header(&p, 0, "Content-Type", h, sizeof(h)),
	    "application/x-www-form-urlencoded");
	assert_string_equal(req_header(&p, 0, "Accept", h, sizeof(h)),
	    "application/json");
	assert_string_equal(req_header(&p, 0, "Authorization", h, sizeof(h)),
	    "");
	assert_string_equal(req_header(&p, 0, "Expect", h, sizeof(h)), "");
	assert_true(strncmp(p.req[1], "GET /token?x=1 HTTP/1.1\r\n", 25) == 0);
	assert_true(strncmp(p.req[2], "GET /meta HTTP/1.1\r\n", 20) == 0);
}

/* Timeouts, the body cap, redirects, refused connections. */
static void
test_outbound_failures(void **state)
{
	static const struct canned	 script[] = {
		{ 200, "application/json", "", NULL, 0, 1 },
		{ 200, "application/json", NULL, NULL, OUTBOUND_MAX_BODY + 1,
		    0 },
		{ 200, "application/json", NULL, NULL, OUTBOUND_MAX_BODY, 0 },
		{ 302, NULL, "", "Location: http://127.0.0.1:1/x\r\n", 0, 0 },
		{ 302, NULL, "", "Location: http://127.0.0.1:1/x\r\n", 0, 0 },
	};
	static const struct form	 f[] = { { "a", "b" }, { NULL, NULL } };
	struct outbound_opts		 o = { .connect_timeout_ms = 1000,
					    .timeout_ms = 500 };
	struct peer			 p;
	struct outbound_resp		 r;
	char				 url[128];
	int				 closed;
	struct sockaddr_in		 sin;
	socklen_t			 sl = sizeof(sin);

	(void)state;
	peer_start(&p, script, NELEM(script));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/token", p.port);

	assert_int_equal(outbound_configure(&o), 0);
	assert_int_equal(outbound_post_form(url, f, NULL, NULL, &r), -1);
	assert_int_equal(r.err, OUTBOUND_ETIMEOUT);
	assert_null(r.body);
	outbound_resp_free(&r);
	assert_int_equal(outbound_configure(NULL), 0);

	assert_int_equal(outbound_get(url, &r), -1);
	assert_int_equal(r.err, OUTBOUND_EBIG);
	outbound_resp_free(&r);
	assert_int_equal(outbound_get(url, &r), 0);
	assert_int_equal(r.len, OUTBOUND_MAX_BODY);
	outbound_resp_free(&r);

	/* A POST does not follow; a GET may not go to http://. */
	assert_int_equal(outbound_post_form(url, f, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 302);
	outbound_resp_free(&r);
	assert_int_equal(outbound_get(url, &r), -1);
	assert_int_equal(r.err, OUTBOUND_EURL);
	outbound_resp_free(&r);
	peer_stop(&p);
	assert_int_equal(p.nreq, 5);

	/* Nobody listening. */
	assert_true((closed = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(closed, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(getsockname(closed, (struct sockaddr *)&sin, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sin.sin_port));
	assert_int_equal(outbound_get(url, &r), -1);
	assert_int_equal(r.err, OUTBOUND_ENET);
	outbound_resp_free(&r);
	close(closed);
}

/* ---- token endpoint calls against the peer ---- */

static const char secret[] = "s3cr:t+ /\xc3\xa9%";
/* form-urlencode("client:1") ":" form-urlencode(secret) */
static const char basic_want[] = "client%3A1:s3cr%3At%2B%20%2F%C3%A9%25";

static void
test_exchange_auth(void **state)
{
	static const struct canned	 script[] = {
		{ 200, "application/json", tokens_body, NULL, 0, 0 },
		{ 200, "application/json", tokens_body, NULL, 0, 0 },
		{ 200, "application/json", tokens_body, NULL, 0, 0 },
	};
	static const char	*modes[] = {
		",\"token_auth\":\"client_secret_basic\"",
		",\"token_auth\":\"client_secret_post\"",
		",\"token_auth\":\"none\"",
	};
	static const char	 common[] = "grant_type=authorization_code&"
	    "code=c0de%2F1&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&"
	    "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	struct oauth_endpoints	 ep;
	struct oauth_tokens	 t;
	struct oauth_error	 e;
	struct oauth_outcome	 out;
	struct peer		 p;
	json_t			*prov;
	char			 h[512], dec[256], want[1024], extra[256];
	size_t			 i;

	(void)state;
	peer_start(&p, script, NELEM(script));
	peer_endpoints(&p, &ep);
	for (i = 0; i < NELEM(modes); i++) {
		snprintf(extra, sizeof(extra), "%s%s,\"token_params\":"
		    "{\"audience\":\"api x\"}", ENDPOINTS, modes[i]);
		prov = oprovider(extra);
		assert_int_equal(oauth_exchange_code(prov, &ep,
		    i == 2 ? NULL : secret, "c0de/1",
		    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		    "http://127.0.0.1/cb", &t, &e, &out), OAUTH_OK);
		assert_int_equal(out.result, OAUTH_OK);
		assert_int_equal(out.status, 200);
		assert_string_equal(t.access_token, "at-1");
		assert_string_equal(t.refresh_token, "rt-1");
		assert_string_equal(t.token_type, "Bearer");
		assert_int_equal(t.expires_in, 3600);
		oauth_tokens_free(&t);
		json_decref(prov);
	}
	peer_stop(&p);
	assert_int_equal(p.nreq, 3);

	/* client_secret_basic: RFC 6749 §2.3.1, nothing in the body. */
	assert_true(strncmp(p.req[0], "POST /token HTTP/1.1\r\n", 22) == 0);
	req_header(&p, 0, "Authorization", h, sizeof(h));
	assert_true(strncmp(h, "Basic ", 6) == 0);
	b64decode(h + 6, dec, sizeof(dec));
	assert_string_equal(dec, basic_want);
	snprintf(want, sizeof(want), "%s&audience=api%%20x", common);
	assert_string_equal(req_body(&p, 0), want);

	/* client_secret_post: both in the body, no header. */
	assert_string_equal(req_header(&p, 1, "Authorization", h, sizeof(h)),
	    "");
	snprintf(want, sizeof(want), "%s&client_id=client%%3A1&client_secret="
	    "s3cr%%3At%%2B%%20%%2F%%C3%%A9%%25&audience=api%%20x", common);
	assert_string_equal(req_body(&p, 1), want);

	/* none: client_id only. */
	assert_string_equal(req_header(&p, 2, "Authorization", h, sizeof(h)),
	    "");
	snprintf(want, sizeof(want), "%s&client_id=client%%3A1&"
	    "audience=api%%20x", common);
	assert_string_equal(req_body(&p, 2), want);

	/* A secret is needed unless token_auth is none. */
	prov = oprovider(ENDPOINTS);
	assert_int_equal(oauth_exchange_code(prov, &ep, NULL, "c", "v", "r",
	    &t, &e, &out), OAUTH_FATAL);
	assert_non_null(strstr(out.why, "secret"));
	json_decref(prov);
}

/* How refresh answers are classified. */
struct refresh_case {
	struct canned		 answer;
	enum oauth_result	 want;
	long			 retry_after;
	int			 tokens;
};

static const struct refresh_case refresh_cases[] = {
	{ { 200, "application/json", tokens_body, NULL, 0, 0 }, OAUTH_OK, 0,
	    1 },
	{ { 400, "application/json", "{\"error\":\"invalid_grant\"}", NULL,
	    0, 0 }, OAUTH_INVALID_GRANT, 0, 0 },
	/* Some providers answer errors with 200. */
	{ { 200, "application/json", "{\"error\":\"invalid_grant\"}", NULL,
	    0, 0 }, OAUTH_INVALID_GRANT, 0, 0 },
	{ { 401, "application/json", "{\"error\":\"invalid_client\"}", NULL,
	    0, 0 }, OAUTH_FATAL, 0, 0 },
	{ { 400, "application/json", "{\"error\":\"invalid_scope\"}", NULL,
	    0, 0 }, OAUTH_FATAL, 0, 0 },
	{ { 400, "application/json", "{\"error\":\"temporarily_unavailable\"}",
	    NULL, 0, 0 }, OAUTH_RETRYABLE, 0, 0 },
	{ { 503, "text/html", "<h1>down</h1>", "Retry-After: 7\r\n", 0, 0 },
	    OAUTH_RETRYABLE, 7, 0 },
	{ { 500, "application/json", "{\"error\":\"invalid_grant\"}", NULL,
	    0, 0 }, OAUTH_RETRYABLE, 0, 0 },
	{ { 429, "application/json", "{}", "Retry-After: 99999999\r\n", 0, 0 },
	    OAUTH_RETRYABLE, OUTBOUND_RETRY_AFTER_MAX, 0 },
	{ { 200, "application/json", "{\"access_token\":\"a\"}", NULL, 0, 0 },
	    OAUTH_FATAL, 0, 0 },
	{ { 200, "text/html", tokens_body, NULL, 0, 0 }, OAUTH_FATAL, 0, 0 },
	{ { 201, "application/json", tokens_body, NULL, 0, 0 }, OAUTH_FATAL,
	    0, 0 },
	{ { 403, "text/html", "no", NULL, 0, 0 }, OAUTH_FATAL, 0, 0 },
	{ { 302, NULL, "", "Location: https://elsewhere.example/\r\n", 0, 0 },
	    OAUTH_FATAL, 0, 0 },
	{ { 200, "application/json", NULL, NULL, OUTBOUND_MAX_BODY + 1, 0 },
	    OAUTH_FATAL, 0, 0 },
};

static void
test_refresh_classes(void **state)
{
	struct canned		 script[NELEM(refresh_cases)];
	struct oauth_endpoints	 ep;
	struct oauth_tokens	 t;
	struct oauth_error	 e;
	struct oauth_outcome	 out;
	struct peer		 p;
	json_t			*prov;
	enum oauth_result	 r;
	char			 h[512], dec[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(refresh_cases); i++)
		script[i] = refresh_cases[i].answer;
	peer_start(&p, script, NELEM(script));
	peer_endpoints(&p, &ep);
	prov = oprovider(ENDPOINTS);
	for (i = 0; i < NELEM(refresh_cases); i++) {
		r = oauth_refresh(prov, &ep, secret, "rt-0", &t, &e, &out);
		if (r != refresh_cases[i].want)
			fail_msg("refresh case %zu: %s (%s), want %s", i,
			    oauth_result_name(r), out.why,
			    oauth_result_name(refresh_cases[i].want));
		assert_int_equal(out.result, r);
		assert_int_equal(out.retry_after, refresh_cases[i].retry_after);
		assert_true(out.why[0] != '\0');
		if (refresh_cases[i].tokens)
			assert_string_equal(t.access_token, "at-1");
		else
			assert_null(t.access_token);
		oauth_tokens_free(&t);
	}
	json_decref(prov);
	peer_stop(&p);
	assert_int_equal(p.nreq, NELEM(refresh_cases));
	assert_string_equal(req_body(&p, 0), "grant_type=refresh_token&"
	    "refresh_token=rt-0");
	req_header(&p, 0, "Authorization", h, sizeof(h));
	b64decode(h + 6, dec, sizeof(dec));
	assert_string_equal(dec, basic_want);

	/* The network: nobody there, so retry. */
	prov = oprovider(ENDPOINTS);
	snprintf(ep.token, sizeof(ep.token), "http://127.0.0.1:%d/token",
	    p.port);
	assert_int_equal(oauth_refresh(prov, &ep, secret, "rt", &t, &e, &out),
	    OAUTH_RETRYABLE);
	assert_int_equal(out.net, OUTBOUND_ENET);
	/* A refused URL: never. */
	snprintf(ep.token, sizeof(ep.token), "http://as.example/token");
	assert_int_equal(oauth_refresh(prov, &ep, secret, "rt", &t, &e, &out),
	    OAUTH_FATAL);
	assert_int_equal(out.net, OUTBOUND_EURL);
	json_decref(prov);
}

static void
test_revoke(void **state)
{
	static const struct canned	 script[] = {
		{ 200, "text/plain", "whatever", NULL, 0, 0 },
		{ 503, NULL, "", "Retry-After: 3\r\n", 0, 0 },
		{ 400, "application/json", "{\"error\":\"unsupported_token_type\""
		    "}", NULL, 0, 0 },
	};
	struct oauth_endpoints	 ep;
	struct oauth_error	 e;
	struct oauth_outcome	 out;
	struct peer		 p;
	json_t			*prov;
	char			 h[512];

	(void)state;
	peer_start(&p, script, NELEM(script));
	peer_endpoints(&p, &ep);
	prov = oprovider(ENDPOINTS ",\"token_auth\":\"client_secret_post\","
	    "\"token_params\":{\"audience\":\"x\"}");
	assert_int_equal(oauth_revoke(prov, &ep, "sec", "rt-9",
	    "refresh_token", &e, &out), OAUTH_OK);
	assert_int_equal(oauth_revoke(prov, &ep, "sec", "rt-9", NULL, &e,
	    &out), OAUTH_RETRYABLE);
	assert_int_equal(out.retry_after, 3);
	assert_int_equal(oauth_revoke(prov, &ep, "sec", "rt-9", NULL, &e,
	    &out), OAUTH_FATAL);
	assert_int_equal(e.code, OAUTH_TE_UNSUPPORTED_TOKEN_TYPE);
	peer_stop(&p);
	assert_true(strncmp(p.req[0], "POST /revoke HTTP/1.1\r\n", 23) == 0);
	/* token_params belong to token requests only. */
	assert_string_equal(req_body(&p, 0), "token=rt-9&token_type_hint="
	    "refresh_token&client_id=client%3A1&client_secret=sec");
	assert_string_equal(req_body(&p, 1), "token=rt-9&client_id=client%3A1&"
	    "client_secret=sec");
	assert_string_equal(req_header(&p, 0, "Authorization", h, sizeof(h)),
	    "");

	ep.revocation[0] = '\0';
	assert_int_equal(oauth_revoke(prov, &ep, "sec", "rt-9", NULL, &e,
	    &out), OAUTH_FATAL);
	json_decref(prov);
}

/* ---- discovery ---- */

static void
test_discovery_urls(void **state)
{
	static const struct {
		const char	*issuer;
		const char	*as;
		const char	*oidc;
	} ok[] = {
		{ "https://as.example", "https://as.example/.well-known/"
		    "oauth-authorization-server", "https://as.example/"
		    ".well-known/openid-configuration" },
		{ "https://as.example/", "https://as.example/.well-known/"
		    "oauth-authorization-server", "https://as.example/"
		    ".well-known/openid-configuration" },
		{ "https://as.example:8443/tenant/v2/", "https://as.example:8443"
		    "/.well-known/oauth-authorization-server/tenant/v2",
		    "https://as.example:8443/tenant/v2/.well-known/"
		    "openid-configuration" },
	};
	char	 as[OAUTH_URL_SIZE], oidc[OAUTH_URL_SIZE];
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		assert_int_equal(discovery_urls(ok[i].issuer, as, oidc), 0);
		assert_string_equal(as, ok[i].as);
		assert_string_equal(oidc, ok[i].oidc);
	}
	assert_int_equal(discovery_urls("https://as.example/?x=1", as, oidc),
	    -1);
	assert_int_equal(discovery_urls("ftp://as.example", as, oidc), -1);
}

#define META(iss, extra)	"{\"issuer\":\"" iss "\"," \
	"\"authorization_endpoint\":\"https://as.example/authorize\"," \
	"\"token_endpoint\":\"https://as.example/token\"" extra "}"

static void
test_discovery_parse(void **state)
{
	static const struct {
		const char	*body;
		int		 rc;
		int		 iss_required;
	} cases[] = {
		{ META("https://as.example", ""), 0, 0 },
		{ META("https://as.example", ",\"revocation_endpoint\":"
		    "\"https://as.example/revoke\",\"authorization_response_iss_"
		    "parameter_supported\":true,\"code_challenge_methods_"
		    "supported\":[\"plain\",\"S256\"],\"x\":[1]"), 0, 1 },
		/* RFC 8414 §3.3: identical, not similar. */
		{ META("https://as.example/", ""), -1, 0 },
		{ META("https://evil.example", ""), -1, 0 },
		{ "{\"authorization_endpoint\":\"https://as.example/a\"}", -1,
		    0 },
		{ META("https://as.example", ",\"code_challenge_methods_"
		    "supported\":[\"plain\"]"), -1, 0 },
		{ META("https://as.example", ",\"code_challenge_methods_"
		    "supported\":\"S256\""), -1, 0 },
		{ META("https://as.example", ",\"authorization_response_iss_"
		    "parameter_supported\":\"yes\""), -1, 0 },
		{ META("https://as.example", ",\"revocation_endpoint\":"
		    "\"http://as.example/revoke\""), -1, 0 },
		{ META("https://as.example", ",\"revocation_endpoint\":5"), -1,
		    0 },
		{ "{\"issuer\":\"https://as.example\",\"token_endpoint\":"
		    "\"file:///etc/passwd\"}", -1, 0 },
		{ META("https://as.example", ",\"issuer\":\"https://as.example\""),
		    -1, 0 },
		{ "[]", -1, 0 },
		{ "not json", -1, 0 },
	};
	struct oauth_endpoints	 ep;
	char			 why[256];
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		rc = discovery_parse(cases[i].body, strlen(cases[i].body),
		    "application/json", "https://as.example", &ep, why,
		    sizeof(why));
		if (rc != cases[i].rc)
			fail_msg("metadata case %zu: %d (%s)", i, rc,
			    rc ? why : "");
		if (rc == 0) {
			assert_string_equal(ep.issuer, "https://as.example");
			assert_string_equal(ep.token,
			    "https://as.example/token");
			assert_int_equal(ep.iss_required,
			    cases[i].iss_required);
		}
	}
	/* Without an expected issuer any well-formed one is taken. */
	assert_int_equal(discovery_parse(cases[2].body, strlen(cases[2].body),
	    NULL, NULL, &ep, why, sizeof(why)), 0);
	assert_string_equal(ep.issuer, "https://as.example/");
	assert_int_equal(discovery_parse(cases[0].body, strlen(cases[0].body),
	    "text/html", NULL, &ep, why, sizeof(why)), -1);
}

static void
test_discovery_resolve(void **state)
{
	struct canned		 script[4];
	struct oauth_endpoints	 ep;
	struct peer		 p;
	json_t			*prov;
	char			 meta[1024], extra[512], why[256], base[64];

	(void)state;
	/* The script names the peer's port. */
	peer_listen(&p);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", p.port);
	snprintf(meta, sizeof(meta), "{\"issuer\":\"%s/t1\","
	    "\"authorization_endpoint\":\"%s/authorize\","
	    "\"token_endpoint\":\"%s/token\",\"revocation_endpoint\":"
	    "\"%s/revoke\",\"authorization_response_iss_parameter_supported\":"
	    "true}", base, base, base, base);
	script[0] = (struct canned){ 404, "text/html", "no", NULL, 0, 0 };
	script[1] = (struct canned){ 200, "application/json", meta, NULL, 0,
	    0 };
	script[2] = (struct canned){ 200, "application/json", meta, NULL, 0,
	    0 };
	script[3] = (struct canned){ 200, "application/json", meta, NULL, 0,
	    0 };
	peer_run(&p, script, NELEM(script));
	discovery_flush();
	discovery_set_ttl(DISCOVERY_TTL, DISCOVERY_FAIL_TTL);

	/* issuer only: RFC 8414 first, then OpenID; token_url wins. */
	snprintf(extra, sizeof(extra), ",\"issuer\":\"%s/t1\","
	    "\"token_url\":\"https://as.example/token\"", base);
	prov = oprovider(extra);
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), 0);
	assert_true(strcmp(ep.authorization, base) > 0 &&
	    strcmp(ep.authorization + strlen(base), "/authorize") == 0);
	assert_string_equal(ep.token, "https://as.example/token");
	assert_int_equal(ep.iss_required, 1);
	assert_int_equal(peer_count(&p), 2);
	/* Cached: no request. */
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), 0);
	assert_int_equal(peer_count(&p), 2);
	/* Flushed: the RFC 8414 location answers this time. */
	discovery_flush();
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), 0);
	assert_int_equal(peer_count(&p), 3);
	json_decref(prov);

	/* A different issuer: the document does not match. */
	snprintf(extra, sizeof(extra), ENDPOINTS ",\"discovery_url\":"
	    "\"%s/.well-known/openid-configuration\",\"issuer\":\"%s/t2\"",
	    base, base);
	prov = oprovider(extra);
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "issuer"));
	assert_int_equal(peer_count(&p), 4);
	/* Failures are cached too. */
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), -1);
	assert_int_equal(peer_count(&p), 4);
	json_decref(prov);
	peer_stop(&p);

	assert_true(strncmp(p.req[0], "GET /.well-known/oauth-authorization-"
	    "server/t1 HTTP/1.1\r\n", 53) == 0);
	assert_true(strncmp(p.req[1], "GET /t1/.well-known/openid-"
	    "configuration HTTP/1.1\r\n", 48) == 0);

	/* No issuer, no discovery_url: no network at all. */
	prov = oprovider(ENDPOINTS);
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), 0);
	assert_string_equal(ep.token, "https://as.example/token");
	assert_string_equal(ep.issuer, "");
	assert_int_equal(ep.iss_required, 0);
	json_decref(prov);
	discovery_flush();
}

/* A discovery URL alone implies its issuer, give or take a final '/'. */
static void
test_discovery_implied(void **state)
{
	struct canned		 script[2];
	struct oauth_endpoints	 ep;
	struct peer		 p;
	json_t			*prov;
	char			 m1[512], m2[512], extra[512], why[256];

	(void)state;
	peer_listen(&p);
	snprintf(m1, sizeof(m1), "{\"issuer\":\"http://127.0.0.1:%d/\","
	    "\"authorization_endpoint\":\"https://as.example/a\","
	    "\"token_endpoint\":\"https://as.example/t\"}", p.port);
	snprintf(m2, sizeof(m2), "{\"issuer\":\"http://127.0.0.1:%d/other\","
	    "\"authorization_endpoint\":\"https://as.example/a\","
	    "\"token_endpoint\":\"https://as.example/t\"}", p.port);
	script[0] = (struct canned){ 200, "application/json", m1, NULL, 0, 0 };
	script[1] = (struct canned){ 200, "application/json", m2, NULL, 0, 0 };
	peer_run(&p, script, NELEM(script));
	discovery_flush();
	discovery_set_ttl(0, 0);
	snprintf(extra, sizeof(extra), ",\"discovery_url\":\"http://127.0.0.1:"
	    "%d/.well-known/openid-configuration\"", p.port);
	prov = oprovider(extra);
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), 0);
	assert_string_equal(ep.token, "https://as.example/t");
	assert_true(ep.issuer[strlen(ep.issuer) - 1] == '/');
	/* A lifetime of 0 keeps nothing: asked again, and refused. */
	assert_int_equal(discovery_resolve(prov, &ep, why, sizeof(why)), -1);
	json_decref(prov);
	peer_stop(&p);
	assert_int_equal(p.nreq, 2);
	discovery_set_ttl(DISCOVERY_TTL, DISCOVERY_FAIL_TTL);
	discovery_flush();
}

static int
group_setup(void **state)
{
	(void)state;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	return outbound_configure(NULL);
}

static int
group_teardown(void **state)
{
	(void)state;
	discovery_flush();
	curl_global_cleanup();
	return 0;
}

int
run_oauth_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_authorize_url),
		cmocka_unit_test(test_callback_table),
		cmocka_unit_test(test_callback_limits),
		cmocka_unit_test(test_callback_add),
		cmocka_unit_test(test_check_iss),
		cmocka_unit_test(test_token_table),
		cmocka_unit_test(test_token_details),
		cmocka_unit_test(test_outbound_urls),
		cmocka_unit_test(test_outbound_wire),
		cmocka_unit_test(test_outbound_failures),
		cmocka_unit_test(test_exchange_auth),
		cmocka_unit_test(test_refresh_classes),
		cmocka_unit_test(test_revoke),
		cmocka_unit_test(test_discovery_urls),
		cmocka_unit_test(test_discovery_parse),
		cmocka_unit_test(test_discovery_resolve),
		cmocka_unit_test(test_discovery_implied),
	};

	return cmocka_run_group_tests_name("oauth", tests, group_setup,
	    group_teardown);
}
