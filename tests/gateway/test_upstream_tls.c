/*
 * The broker client over TCP and TLS (gateway/upstream.c, with the context
 * of gateway/brokertls.c), against an OpenSSL server in threads of this
 * process that does what a broker's libmicrohttpd and GnuTLS may do and a
 * test in Python cannot: send session tickets and key updates on an idle
 * pooled connection, read slowly enough that every write waits for room,
 * close idle connections.  And the handshakes that must fail: a
 * certificate for another name, a gateway certificate the server does not
 * trust, a server that stops at TLS 1.2.
 *
 * The certificates are made with OpenSSL (tests/gateway/pki.c).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gateway/brokertls.h"
#include "gateway/config.h"
#include "gateway/upstream.h"
#include "tests/gateway/pki.h"
#include "tests/gateway/tests.h"

#define BIG	((size_t)256 * 1024)	/* an answer of many records */
/* A request more than the kernel's socket buffers hold (4 MiB here). */
#define HUGE	((size_t)6 * 1024 * 1024)

enum tmode {
	T_PLAIN,		/* answer, keep the connection */
	T_IDLE_MESSAGES,	/* then a ticket and a key update, idle */
	T_IDLE_CLOSE,		/* then close, without close_notify */
	T_SLOW,			/* wait before reading each request */
	T_EXTRA,		/* the body in a record of its own, and more */
};

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 acceptor;
	int		 lfd;
	int		 port;
	struct test_pki	 pki;
	SSL_CTX		*cur;
	enum tmode	 mode;
	unsigned int	 accepts;
	unsigned int	 handshakes;
	unsigned int	 answered;	/* answers written, idle work done */
} ts = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .lfd = -1 };

/* The server. */

/* One request (head and body) into buf: its body's length, or -1. */
static long
read_request(SSL *s, char *buf, size_t sz)
{
	size_t	 len = 0, n, headlen = 0, want = 0;
	char	*end, *cl;

	for (;;) {
		if (len + 1 >= sz || SSL_read_ex(s, buf + len, sz - len - 1,
		    &n) != 1)
			return -1;
		len += n;
		buf[len] = '\0';
		if (headlen == 0) {
			if ((end = strstr(buf, "\r\n\r\n")) == NULL)
				continue;
			headlen = want = (size_t)(end + 4 - buf);
			if ((cl = strstr(buf, "Content-Length: ")) != NULL &&
			    cl < end)
				want += (size_t)strtoul(cl + 16, NULL, 10);
		}
		if (len >= want)
			return (long)(want - headlen);
	}
}

/* The body's bytes, as test_tls_big sends them. */
static int
pattern_ok(const char *buf, long len)
{
	const char	*body = strstr(buf, "\r\n\r\n") + 4;
	long		 i;

	for (i = 0; i < len; i++)
		if (body[i] != (char)('a' + i % 26))
			return 0;
	return 1;
}

static void
answer(SSL *s, const char *req, long bodylen)
{
	static char	 big[BIG + 256];
	char		 head[256];
	size_t		 n;

	if (strncmp(req, "GET /big ", 9) == 0) {
		n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n"
		    "Content-Length: %zu\r\n\r\n", BIG);
		memset(big + n, 'z', BIG);
		SSL_write_ex(s, big, n + BIG, &n);
		return;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%d\r\n\r\n%s", bodylen > 0 ? 3 : 2, bodylen <= 0 ? "ok" :
	    pattern_ok(req, bodylen) ? "yes" : "bad");
	SSL_write_ex(s, head, strlen(head), &n);
}

/* The head, then the body with bytes nobody asked for in one record. */
static void
answer_extra(SSL *s)
{
	static const char	 head[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\n\r\n";
	size_t			 n;

	SSL_write_ex(s, head, sizeof(head) - 1, &n);
	usleep(20000);
	SSL_write_ex(s, "okHTTP/1.1 200 OK\r\n", 19, &n);
}

/* After an answer, on the idle connection. */
static int
idle_work(SSL *s, enum tmode m)
{
	if (m == T_IDLE_MESSAGES) {
		/* Each sent by the next handshake step: now, while idle. */
		if (SSL_new_session_ticket(s) != 1 ||
		    SSL_do_handshake(s) != 1 ||
		    SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED) != 1 ||
		    SSL_do_handshake(s) != 1)
			return -1;
	}
	return m == T_IDLE_CLOSE ? -1 : 0;
}

static void *
serve_conn(void *arg)
{
	SSL		*s = arg;
	enum tmode	 m;
	char		*buf = NULL;
	long		 len;
	int		 fd = SSL_get_fd(s), rv;

	if ((buf = malloc(HUGE + 4096)) == NULL || SSL_accept(s) != 1)
		goto done;
	pthread_mutex_lock(&ts.mu);
	m = ts.mode;
	ts.handshakes++;
	pthread_mutex_unlock(&ts.mu);
	for (;;) {
		if (m == T_SLOW)
			usleep(100000);
		if ((len = read_request(s, buf, HUGE + 4096)) < 0)
			break;
		if (m == T_EXTRA)
			answer_extra(s);
		else
			answer(s, buf, len);
		rv = idle_work(s, m);
		pthread_mutex_lock(&ts.mu);
		ts.answered++;
		pthread_cond_broadcast(&ts.cv);
		pthread_mutex_unlock(&ts.mu);
		if (rv == -1)
			break;
	}
 done:
	free(buf);
	SSL_free(s);
	close(fd);
	ERR_clear_error();
	return NULL;
}

static void *
tls_acceptor(void *arg)
{
	pthread_t	 t;
	SSL		*s;
	int		 fd, on = 1;

	(void)arg;
	while ((fd = accept(ts.lfd, NULL, NULL)) != -1) {
		/* Small records (tickets, key updates) go out at once. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		pthread_mutex_lock(&ts.mu);
		ts.accepts++;
		s = SSL_new(ts.cur);
		pthread_mutex_unlock(&ts.mu);
		if (s == NULL || SSL_set_fd(s, fd) != 1 ||
		    pthread_create(&t, NULL, serve_conn, s) != 0) {
			SSL_free(s);
			close(fd);
		} else
			pthread_detach(t);
	}
	return NULL;
}

static int
tls_up(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 small = 4096;

	(void)state;
	test_pki_make(&ts.pki);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A small receive buffer: a large request fills it at once. */
	if ((ts.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(ts.lfd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)) == -1 ||
	    bind(ts.lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(ts.lfd, (struct sockaddr *)&sin, &len) == -1 ||
	    listen(ts.lfd, 16) == -1 ||
	    pthread_create(&ts.acceptor, NULL, tls_acceptor, NULL) != 0)
		return -1;
	ts.port = ntohs(sin.sin_port);
	return 0;
}

static int
tls_down(void **state)
{
	(void)state;
	shutdown(ts.lfd, SHUT_RDWR);
	pthread_join(ts.acceptor, NULL);
	close(ts.lfd);
	usleep(50000);
	test_pki_free(&ts.pki);
	return 0;
}

static void
set_tmode(enum tmode m, SSL_CTX *ctx)
{
	pthread_mutex_lock(&ts.mu);
	ts.mode = m;
	ts.cur = ctx;
	ts.accepts = ts.handshakes = ts.answered = 0;
	pthread_mutex_unlock(&ts.mu);
}

static unsigned int
counter(unsigned int *p)
{
	unsigned int	 n;

	pthread_mutex_lock(&ts.mu);
	n = *p;
	pthread_mutex_unlock(&ts.mu);
	return n;
}

/* Until the server has answered n times and done its idle work. */
static void
wait_answered(unsigned int n)
{
	pthread_mutex_lock(&ts.mu);
	while (ts.answered < n)
		pthread_cond_wait(&ts.cv, &ts.mu);
	pthread_mutex_unlock(&ts.mu);
}

/*
 * The loop's part while nothing is asked: what comes on idle connections
 * is handled when upstream_fd() says so.
 */
static void
idle_round(struct upstream *u)
{
	struct pollfd	 pfd = { .fd = upstream_fd(u), .events = POLLIN };

	if (poll(&pfd, 1, 1000) == 1)
		(void)upstream_run(u, 1);
}

/* The client. */

struct client {
	struct gw_conf		 cf;
	struct gw_broker	 b;
	struct upstream		*u;
	char			 hostport[32], port[8];
	char			 ca[96], cert[96], key[96], crl[128];
};

/* The "broker tls" statement of a client; crl NULL: none. */
static void
client_conf(struct client *c, const char *cert, const char *name,
    const char *crl)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->port, sizeof(c->port), "%d", ts.port);
	snprintf(c->hostport, sizeof(c->hostport), "127.0.0.1:%d", ts.port);
	snprintf(c->ca, sizeof(c->ca), "%s/ca1.pem", ts.pki.dir);
	snprintf(c->cert, sizeof(c->cert), "%s/%s.crt", ts.pki.dir, cert);
	snprintf(c->key, sizeof(c->key), "%s/%s.key", ts.pki.dir, cert);
	c->cf.broker_tls.text = c->hostport;
	c->cf.broker_tls.host = "127.0.0.1";
	c->cf.broker_tls.port = c->port;
	c->cf.broker_tls.ca = c->ca;
	c->cf.broker_tls.cert = c->cert;
	c->cf.broker_tls.key = c->key;
	c->cf.broker_tls.name = (char *)(uintptr_t)name;
	if (crl != NULL) {
		snprintf(c->crl, sizeof(c->crl), "%s", crl);
		c->cf.broker_tls.crl = c->crl;
	}
}

static void
client_new_crl(struct client *c, const char *cert, const char *name,
    const char *crl)
{
	struct up_tls	 t;
	char		 err[512];

	client_conf(c, cert, name, crl);
	if (gw_broker_open(&c->cf, &c->b, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	memset(&t, 0, sizeof(t));
	t.addrs = c->b.addrs;
	t.naddrs = c->b.naddrs;
	t.ctx = c->b.ctx;
	t.sni = c->b.sni;
	t.label = c->b.label;
	assert_non_null(c->u = upstream_new_tls(&t, 3000, 4));
}

static void
client_new(struct client *c, const char *cert, const char *name)
{
	client_new_crl(c, cert, name, NULL);
}

static void
client_free(struct client *c)
{
	upstream_free(c->u);
	gw_broker_close(&c->b);
}

static enum up_error
ask(struct client *c, const char *method, const char *target,
    const unsigned char *body, size_t bodylen, struct up_response *r,
    int *reused)
{
	struct up_request	 q;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.target = target;
	q.request_id = "rid-tls";
	q.authorization = "Bearer dro_tls_test";
	q.body = body;
	q.bodylen = bodylen;
	if (body != NULL)
		q.content_type = "application/json";
	return upstream_do(c->u, &q, r, reused);
}

static void
expect(struct client *c, const char *method, const char *want, int reused)
{
	struct up_response	 r;
	int			 was;

	assert_int_equal(ask(c, method, "/ready", NULL, 0, &r, &was), UP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.bodylen, strlen(want));
	assert_memory_equal(r.body, want, strlen(want));
	assert_int_equal(was, reused);
	up_clear(&r);
}

/* Many exchanges, one connection, one handshake. */
static void
test_tls_keepalive(void **state)
{
	struct client	 c;
	int		 i;

	(void)state;
	set_tmode(T_PLAIN, ts.pki.good);
	client_new(&c, "gw", NULL);
	expect(&c, "GET", "ok", 0);
	for (i = 0; i < 20; i++)
		expect(&c, "GET", "ok", 1);
	assert_int_equal(counter(&ts.accepts), 1);
	assert_int_equal(counter(&ts.handshakes), 1);
	client_free(&c);
}

/*
 * A session ticket and a key update (asking for ours) on an idle
 * connection: read as they come (an event of the loop), or when a
 * request that is not idempotent checks the connection first.  Neither
 * is taken for a close, and the keys that follow are the new ones.
 */
static void
test_tls_idle_messages(void **state)
{
	struct up_response	 r;
	struct client		 c;
	int			 reused;

	(void)state;
	set_tmode(T_IDLE_MESSAGES, ts.pki.good);
	client_new(&c, "gw", "broker.test");
	expect(&c, "GET", "ok", 0);
	wait_answered(1);
	idle_round(c.u);
	expect(&c, "GET", "ok", 1);
	wait_answered(2);
	usleep(20000);
	/* Not read by the loop this time: the check before a POST does. */
	assert_int_equal(ask(&c, "POST", "/connections",
	    (const unsigned char *)"{}", 2, &r, &reused), UP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(reused, 1);
	up_clear(&r);
	wait_answered(3);
	expect(&c, "GET", "ok", 1);
	assert_int_equal(counter(&ts.accepts), 1);
	client_free(&c);
}

/* The server closes an idle connection: the next exchange dials again. */
static void
test_tls_idle_close(void **state)
{
	struct client	 c;

	(void)state;
	set_tmode(T_IDLE_CLOSE, ts.pki.good);
	client_new(&c, "gw", NULL);
	expect(&c, "GET", "ok", 0);
	wait_answered(1);
	idle_round(c.u);		/* the close, seen by the loop */
	expect(&c, "GET", "ok", 0);
	wait_answered(2);
	usleep(50000);			/* not seen: the GET is sent again */
	expect(&c, "GET", "ok", 0);
	assert_int_equal(counter(&ts.accepts), 3);
	client_free(&c);
}

/*
 * A request of many records to a server that reads late into a small
 * buffer, larger than the kernel buffers on the way: writes wait for
 * room (SSL_ERROR_WANT_WRITE, EPOLLOUT).  Then an answer of many records.
 */
static void
test_tls_big(void **state)
{
	struct up_response	 r;
	struct client		 c;
	unsigned char		*body;
	size_t			 i;
	int			 reused;

	(void)state;
	set_tmode(T_SLOW, ts.pki.good);
	client_new(&c, "gw", NULL);
	assert_non_null(body = malloc(HUGE));
	for (i = 0; i < HUGE; i++)
		body[i] = (unsigned char)('a' + i % 26);
	assert_int_equal(ask(&c, "POST", "/connections", body, HUGE, &r,
	    &reused), UP_OK);
	assert_int_equal(r.bodylen, 3);
	assert_memory_equal(r.body, "yes", 3);
	up_clear(&r);
	assert_int_equal(ask(&c, "GET", "/big", NULL, 0, &r, &reused), UP_OK);
	assert_int_equal(r.bodylen, BIG);
	assert_int_equal(r.body[0], 'z');
	assert_int_equal(r.body[BIG - 1], 'z');
	assert_int_equal(reused, 1);
	up_clear(&r);
	free(body);
	assert_int_equal(counter(&ts.accepts), 1);
	client_free(&c);
}

/*
 * Decrypted bytes left in OpenSSL after an answer's last byte: the
 * connection is not kept, or the next answer would begin with them.
 */
static void
test_tls_extra_bytes(void **state)
{
	struct client	 c;

	(void)state;
	set_tmode(T_EXTRA, ts.pki.good);
	client_new(&c, "gw", NULL);
	expect(&c, "GET", "ok", 0);
	expect(&c, "GET", "ok", 0);
	assert_int_equal(counter(&ts.accepts), 2);
	client_free(&c);
}

/* Handshakes that must fail, each a connect error. */
static void
test_tls_refused(void **state)
{
	struct up_response	 r;
	struct client		 c;

	(void)state;
	/* The server's certificate does not carry this name. */
	set_tmode(T_PLAIN, ts.pki.good);
	client_new(&c, "gw", "other.test");
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(counter(&ts.handshakes), 0);
	client_free(&c);
	/* Nor this address. */
	client_new(&c, "gw", "127.0.0.2");
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	client_free(&c);
	/* Our certificate is a stranger's: refused after our handshake. */
	client_new(&c, "gx", NULL);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(counter(&ts.handshakes), 0);
	client_free(&c);
	/* TLS 1.2 is not enough. */
	set_tmode(T_PLAIN, ts.pki.old);
	client_new(&c, "gw", NULL);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(counter(&ts.handshakes), 0);
	client_free(&c);
	/* And with the right ones, it works. */
	set_tmode(T_PLAIN, ts.pki.good);
	client_new(&c, "gw", "127.0.0.1");
	expect(&c, "GET", "ok", 0);
	client_free(&c);
}

/* A loopback address whose port was free a moment ago: nobody listens. */
static void
nobody_addr(struct up_addr *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	socklen_t		 len = sizeof(*sin);
	int			 fd;

	memset(a, 0, sizeof(*a));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	close(fd);
	a->len = len;
}

/* The broker at addrs: c's upstream replaced. */
static void
client_addrs(struct client *c, const struct up_addr *addrs, size_t n)
{
	struct up_tls	 t;

	upstream_free(c->u);
	memset(&t, 0, sizeof(t));
	t.addrs = addrs;
	t.naddrs = n;
	t.ctx = c->b.ctx;
	t.label = "several";
	assert_non_null(c->u = upstream_new_tls(&t, 3000, 4));
}

/* Nobody listens: a connect error, at once. */
static void
test_tls_nobody(void **state)
{
	struct up_response	 r;
	struct up_addr		 a;
	struct client		 c;

	(void)state;
	client_new(&c, "gw", NULL);
	nobody_addr(&a);
	client_addrs(&c, &a, 1);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	client_free(&c);
}

/*
 * A name with several addresses, the first two refusing connections: the
 * exchange goes on to the next, whose connection is then kept.  When
 * every address refuses, a connect error.
 */
static void
test_tls_next_address(void **state)
{
	struct up_response	 r;
	struct up_addr		 a[3];
	struct client		 c;
	unsigned int		 accepts;
	int			 i;

	(void)state;
	set_tmode(T_PLAIN, ts.pki.good);
	client_new(&c, "gw", NULL);
	accepts = counter(&ts.accepts);
	nobody_addr(&a[0]);
	nobody_addr(&a[1]);
	a[2] = c.b.addrs[0];
	client_addrs(&c, a, 3);
	expect(&c, "GET", "ok", 0);
	for (i = 0; i < 5; i++)
		expect(&c, "GET", "ok", 1);
	assert_int_equal(counter(&ts.accepts), accepts + 1);

	/* Every address refuses. */
	client_addrs(&c, a, 2);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	client_free(&c);
}

/* CRLs (tests/gateway/pki.c): times in seconds from now. */
#define DAY	86400L
static const struct test_crl crl_good = { 0, 0, 0, -3600, DAY, 0 };
static const struct test_crl crl_revoking = { 0, 0, 1, -3600, DAY, 0 };

/* A CRL of ca1 that revokes the broker's certificate: no handshake. */
static void
test_tls_crl_revoked(void **state)
{
	struct up_response	 r;
	struct client		 c;

	(void)state;
	set_tmode(T_PLAIN, ts.pki.good);
	client_new_crl(&c, "gw", NULL, test_pki_crl(&ts.pki, "revoked.crl",
	    &crl_revoking));
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(counter(&ts.handshakes), 0);
	client_free(&c);
}

/*
 * A CRL of ca1 that revokes another certificate: the broker's passes,
 * and its connection is kept.  With a second CRL of ca1 in the file too.
 */
static void
test_tls_crl_not_revoked(void **state)
{
	struct client	 c;
	const char	*path;

	(void)state;
	set_tmode(T_PLAIN, ts.pki.good);
	client_new_crl(&c, "gw", "broker.test", test_pki_crl(&ts.pki,
	    "good.crl", &crl_good));
	expect(&c, "GET", "ok", 0);
	expect(&c, "GET", "ok", 1);
	assert_int_equal(counter(&ts.handshakes), 1);
	client_free(&c);

	set_tmode(T_PLAIN, ts.pki.good);
	(void)test_pki_crl(&ts.pki, "two.crl", &crl_good);
	path = test_pki_crl(&ts.pki, "two.crl", &crl_good);
	client_new_crl(&c, "gw", NULL, path);
	expect(&c, "GET", "ok", 0);
	client_free(&c);
}

/*
 * Fail closed: a CRL that expires while the gateway runs refuses the
 * handshakes made after (the server closes each connection after its
 * answer, so that the next request makes one).
 */
static void
test_tls_crl_expires(void **state)
{
	static const struct test_crl	 soon = { 0, 0, 0, -3600, 2, 0 };
	struct up_response		 r;
	struct client			 c;

	(void)state;
	set_tmode(T_IDLE_CLOSE, ts.pki.good);
	client_new_crl(&c, "gw", NULL, test_pki_crl(&ts.pki, "soon.crl",
	    &soon));
	expect(&c, "GET", "ok", 0);
	wait_answered(1);
	sleep(3);
	assert_int_equal(ask(&c, "GET", "/ready", NULL, 0, &r, NULL),
	    UP_ECONNECT);
	assert_int_equal(counter(&ts.handshakes), 1);
	client_free(&c);
}

/* gw_broker_open refuses the CRL file, naming it, with why. */
static void
crl_refused(const char *path, const char *why)
{
	struct client	 c;
	char		 err[512];

	client_conf(&c, "gw", NULL, path);
	if (gw_broker_open(&c.cf, &c.b, err, sizeof(err)) != -1) {
		gw_broker_close(&c.b);
		fail_msg("accepted: %s (%s)", path, why);
	}
	assert_null(c.b.ctx);
	if (strncmp(err, path, strlen(path)) != 0 || strstr(err, why) == NULL)
		fail_msg("got \"%s\", want \"%s: ...%s...\"", err, path, why);
}

/* Each bad CRL file is refused at load, before any connection. */
static void
test_tls_crl_refused(void **state)
{
	static const struct {
		const char		*name;
		struct test_crl		 crl;
		const char		*why;
	} cases[] = {
		/* ca2's, which the CA file does not hold. */
		{ "ca2.crl", { 1, 1, 0, -3600, DAY, 0 },
		    "the CRL of /CN=test ca2 is not signed by a certificate "
		    "of " },
		/* In ca1's name, signed with ca2's key. */
		{ "forged.crl", { 0, 1, 1, -3600, DAY, 0 },
		    "the CRL of /CN=test ca1 is not signed by a certificate" },
		{ "expired.crl", { 0, 0, 0, -2 * DAY, -DAY, 0 },
		    "the CRL of /CN=test ca1 has expired" },
		{ "future.crl", { 0, 0, 0, 3600, DAY, 0 }, "not valid yet" },
		{ "nonext.crl", { 0, 0, 0, -3600, 0, 1 }, "has no next update" },
	};
	char		 path[128], ca2[128];
	const char	*p;
	FILE		*fp;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		crl_refused(test_pki_crl(&ts.pki, cases[i].name,
		    &cases[i].crl), cases[i].why);

	/* A good CRL, then an expired one: the file is refused whole. */
	(void)test_pki_crl(&ts.pki, "mixed.crl", &crl_good);
	crl_refused(test_pki_crl(&ts.pki, "mixed.crl", &cases[2].crl),
	    "has expired");

	/* The message names the CA file the issuer was looked for in. */
	snprintf(ca2, sizeof(ca2), "%s/ca2.crl", ts.pki.dir);
	crl_refused(ca2, "ca1.pem");

	/* No CRL: a certificate; nothing at all; a broken one. */
	snprintf(path, sizeof(path), "%s/ca1.pem", ts.pki.dir);
	crl_refused(path, "no CRL");
	snprintf(path, sizeof(path), "%s/none.crl", ts.pki.dir);
	crl_refused(path, "No such file");
	p = test_pki_crl(&ts.pki, "broken.crl", &crl_good);
	snprintf(path, sizeof(path), "%s", p);
	assert_non_null(fp = fopen(path, "r+"));
	assert_int_equal(fseek(fp, 40, SEEK_SET), 0);
	assert_true(fputs("!!!!", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	crl_refused(path, "a malformed CRL");
}

int
run_upstream_tls_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_keepalive),
		cmocka_unit_test(test_tls_idle_messages),
		cmocka_unit_test(test_tls_idle_close),
		cmocka_unit_test(test_tls_big),
		cmocka_unit_test(test_tls_extra_bytes),
		cmocka_unit_test(test_tls_refused),
		cmocka_unit_test(test_tls_nobody),
		cmocka_unit_test(test_tls_next_address),
		cmocka_unit_test(test_tls_crl_revoked),
		cmocka_unit_test(test_tls_crl_not_revoked),
		cmocka_unit_test(test_tls_crl_expires),
		cmocka_unit_test(test_tls_crl_refused),
	};

	return cmocka_run_group_tests_name("upstream_tls", tests, tls_up,
	    tls_down);
}
