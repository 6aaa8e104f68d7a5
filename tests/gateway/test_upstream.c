/*
 * The HTTP/1.1 client to the broker (gateway/upstream.c): the response
 * parser on its own, then exchanges with a scripted server on a unix
 * socket (kept-alive reuse, Connection: close, a stale pooled connection,
 * an absent broker, a silent one), and the asynchronous interface of an
 * event loop (exchanges waiting for a connection, ended at free).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

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
#include <unistd.h>

#include <cmocka.h>

#include "gateway/upstream.h"
#include "tests/gateway/tests.h"

/* The parser. */

static int
parse(const char *s, struct up_response *r, struct up_framing *fr)
{
	return up_parse_head(s, strlen(s), 0, r, fr);
}

static void
test_parse_good(void **state)
{
	struct up_response	 r;
	struct up_framing	 fr;
	const char		*s;

	(void)state;
	s = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
	    "Content-Length: 12\r\nX-Request-Id: abc\r\nServer: x\r\n"
	    "Location:  https://a.example/x?y=1 \r\nRetry-After: 5\r\n"
	    "Allow: GET, POST\r\n\r\n{\"a\":1}";
	assert_int_equal(parse(s, &r, &fr), 1);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.location, "https://a.example/x?y=1");
	assert_string_equal(r.retry_after, "5");
	assert_string_equal(r.allow, "GET, POST");
	assert_true(fr.has_length);
	assert_int_equal(fr.length, 12);
	assert_false(fr.close);
	assert_int_equal(fr.headlen, strlen(s) - 7);

	assert_int_equal(parse("HTTP/1.1 204 No Content\r\n"
	    "Connection: keep-alive, close\r\n\r\n", &r, &fr), 1);
	assert_true(fr.close);
	assert_true(fr.has_length);
	assert_int_equal(fr.length, 0);
	/* HTTP/1.0 closes unless it says keep-alive. */
	assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\n", &r, &fr), 1);
	assert_true(fr.close);
	assert_false(fr.has_length);
	assert_int_equal(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
	    "Content-Length: 0\r\n\r\n", &r, &fr), 1);
	assert_false(fr.close);
	/* No reason phrase. */
	assert_int_equal(parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", &r,
	    &fr), 1);
	assert_int_equal(r.status, 404);
	/* A HEAD answer has no body whatever it declares. */
	assert_int_equal(up_parse_head("HTTP/1.1 200 OK\r\nContent-Length: 9"
	    "\r\n\r\n", 38, 1, &r, &fr), 1);
	assert_int_equal(fr.length, 0);
}

static void
test_parse_incomplete(void **state)
{
	struct up_response	 r;
	struct up_framing	 fr;

	(void)state;
	assert_int_equal(parse("", &r, &fr), 0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n", &r, &fr), 0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", &r,
	    &fr), 0);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r",
	    &r, &fr), 0);
}

static void
test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 99 OK\r\n\r\n",
		"HTTP/1.1 600 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 20x OK\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200 OK\n\n",
		"HTTP/1.1 200 OK\r\nA: b\n\r\n",
		"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: a\rb\r\n\r\n",
		"HTTP/1.1 200 OK\r\nLocation: a\x01\r\n\r\n",
	};
	struct up_response	 r;
	struct up_framing	 fr;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r, &fr) != -1)
			fail_msg("accepted: %s", bad[i]);
}

static void
test_parse_limits(void **state)
{
	struct up_response	 r;
	struct up_framing	 fr;
	char			*s;
	size_t			 n;

	(void)state;
	/* A head that never ends is refused at UP_HEAD_MAX. */
	n = UP_HEAD_MAX + 16;
	assert_non_null(s = malloc(n + 1));
	memcpy(s, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(s + 20, 'a', n - 20);
	s[n] = '\0';
	assert_int_equal(up_parse_head(s, n, 0, &r, &fr), -1);
	/* A kept value over its buffer is refused, not truncated. */
	snprintf(s, n, "HTTP/1.1 302 Found\r\nLocation: ");
	memset(s + strlen(s), 'l', UP_VALUE_MAX);
	memcpy(s + 31 + UP_VALUE_MAX, "\r\n\r\n", 5);
	assert_int_equal(parse(s, &r, &fr), -1);
	free(s);
}

/* A scripted broker on a unix socket. */

enum mode {
	M_NORMAL,	/* 200 with a body, kept alive */
	M_CLOSE,	/* 200, Connection: close */
	M_DROP_SECOND,	/* the second request on a connection: closed */
	M_SILENT,	/* never answers */
	M_NOLENGTH,	/* a body that ends with the connection */
	M_GARBAGE,	/* not HTTP */
};

static struct {
	pthread_mutex_t	 mu;
	char		 path[108];
	int		 lfd;
	pthread_t	 acceptor;
	enum mode	 mode;
	unsigned int	 accepts;
	unsigned int	 requests;
	char		 last[4096];
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER, .lfd = -1 };

static const char body[] = "{\"ok\":true}";

static void
say(int fd, const char *s)
{
	size_t	 off = 0, n = strlen(s);
	ssize_t	 w;

	while (off < n && (w = send(fd, s + off, n - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)w;
}

/* One request head (and its body) from fd into buf; -1 at the end. */
static int
read_request(int fd, char *buf, size_t sz)
{
	size_t	 len = 0;
	ssize_t	 n;
	char	*end, *cl;
	size_t	 want;

	for (;;) {
		if (len + 1 >= sz)
			return -1;
		if ((n = recv(fd, buf + len, sz - len - 1, 0)) <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		want = (size_t)(end + 4 - buf);
		if ((cl = strstr(buf, "Content-Length: ")) != NULL && cl < end)
			want += (size_t)strtoul(cl + 16, NULL, 10);
		if (len >= want)
			return 0;
	}
}

static void *
serve_conn(void *arg)
{
	int		 fd = (int)(intptr_t)arg, nth = 0;
	char		 buf[4096], out[256];
	enum mode	 m;

	while (read_request(fd, buf, sizeof(buf)) == 0) {
		nth++;
		pthread_mutex_lock(&srv.mu);
		srv.requests++;
		memcpy(srv.last, buf, sizeof(srv.last));
		m = srv.mode;
		pthread_mutex_unlock(&srv.mu);
		if (m == M_SILENT)
			continue;
		if (m == M_GARBAGE) {
			say(fd, "SSH-2.0-nope\r\n\r\n");
			break;
		}
		if (m == M_DROP_SECOND && nth == 2)
			break;
		if (m == M_NOLENGTH) {
			say(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			    "\r\nuntil the end");
			break;
		}
		snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
		    strlen(body), m == M_CLOSE ? "Connection: close\r\n" : "",
		    body);
		say(fd, out);
		if (m == M_CLOSE)
			break;
	}
	close(fd);
	return NULL;
}

static void *
acceptor(void *arg)
{
	pthread_t	 t;
	int		 fd;

	(void)arg;
	while ((fd = accept(srv.lfd, NULL, NULL)) != -1) {
		pthread_mutex_lock(&srv.mu);
		srv.accepts++;
		pthread_mutex_unlock(&srv.mu);
		if (pthread_create(&t, NULL, serve_conn,
		    (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
	return NULL;
}

static int
server_up(void **state)
{
	struct sockaddr_un	 sun;

	(void)state;
	snprintf(srv.path, sizeof(srv.path), "/tmp/dromos-gwtest-%d.sock",
	    (int)getpid());
	unlink(srv.path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, srv.path, strlen(srv.path) + 1);
	if ((srv.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(srv.lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(srv.lfd, 16) == -1 ||
	    pthread_create(&srv.acceptor, NULL, acceptor, NULL) != 0)
		return -1;
	return 0;
}

static int
server_down(void **state)
{
	(void)state;
	shutdown(srv.lfd, SHUT_RDWR);
	pthread_join(srv.acceptor, NULL);
	close(srv.lfd);
	unlink(srv.path);
	/* Let the connection threads see their clients go. */
	usleep(50000);
	return 0;
}

static void
set_mode(enum mode m)
{
	pthread_mutex_lock(&srv.mu);
	srv.mode = m;
	srv.accepts = 0;
	srv.requests = 0;
	pthread_mutex_unlock(&srv.mu);
}

static unsigned int
accepts(void)
{
	unsigned int	 n;

	pthread_mutex_lock(&srv.mu);
	n = srv.accepts;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static enum up_error
get(struct upstream *u, const char *method, struct up_response *r,
    int *reused)
{
	struct up_request	 q;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.target = "/token/acme?x=1";
	q.request_id = "rid-1";
	q.authorization = "Bearer dro_test";
	q.accept = "application/json";
	return upstream_do(u, &q, r, reused);
}

static void
test_keepalive(void **state)
{
	struct upstream		*u;
	struct up_response	 r;
	int			 reused, i;

	(void)state;
	set_mode(M_NORMAL);
	assert_non_null(u = upstream_new(srv.path, 2000, 4));
	for (i = 0; i < 5; i++) {
		assert_int_equal(get(u, "GET", &r, &reused), UP_OK);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.bodylen, strlen(body));
		assert_memory_equal(r.body, body, r.bodylen);
		assert_string_equal(r.content_type, "application/json");
		assert_int_equal(reused, i > 0);
		up_clear(&r);
	}
	/* One connection for all of them. */
	assert_int_equal(accepts(), 1);
	/* What the broker saw: our head, whitelisted headers only. */
	pthread_mutex_lock(&srv.mu);
	assert_non_null(strstr(srv.last, "GET /token/acme?x=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(srv.last, "\r\nX-Request-Id: rid-1\r\n"));
	assert_non_null(strstr(srv.last, "\r\nAuthorization: Bearer dro_test"
	    "\r\n"));
	assert_null(strstr(srv.last, "Content-Length"));
	pthread_mutex_unlock(&srv.mu);
	upstream_free(u);
}

static void
test_post_body(void **state)
{
	struct upstream		*u;
	struct up_request	 q;
	struct up_response	 r;

	(void)state;
	set_mode(M_NORMAL);
	assert_non_null(u = upstream_new(srv.path, 2000, 4));
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.target = "/connections";
	q.request_id = "rid-2";
	q.content_type = "application/json";
	q.body = (const unsigned char *)"{\"a\":1}";
	q.bodylen = 7;
	assert_int_equal(upstream_do(u, &q, &r, NULL), UP_OK);
	up_clear(&r);
	pthread_mutex_lock(&srv.mu);
	assert_non_null(strstr(srv.last, "\r\nContent-Length: 7\r\n\r\n"
	    "{\"a\":1}"));
	assert_non_null(strstr(srv.last, "\r\nContent-Type: application/json"
	    "\r\n"));
	pthread_mutex_unlock(&srv.mu);
	/* A POST without a body still says so. */
	q.body = NULL;
	q.bodylen = 0;
	q.content_type = NULL;
	assert_int_equal(upstream_do(u, &q, &r, NULL), UP_OK);
	up_clear(&r);
	pthread_mutex_lock(&srv.mu);
	assert_non_null(strstr(srv.last, "\r\nContent-Length: 0\r\n\r\n"));
	pthread_mutex_unlock(&srv.mu);
	/* Values that would split the head are never sent. */
	q.request_id = "a\r\nX-Evil: 1";
	assert_int_equal(upstream_do(u, &q, &r, NULL), UP_EINVAL);
	q.request_id = "rid";
	q.target = "/a b";
	assert_int_equal(upstream_do(u, &q, &r, NULL), UP_EINVAL);
	upstream_free(u);
}

static void
test_connection_close(void **state)
{
	struct upstream		*u;
	struct up_response	 r;
	int			 reused;

	(void)state;
	set_mode(M_CLOSE);
	assert_non_null(u = upstream_new(srv.path, 2000, 4));
	assert_int_equal(get(u, "GET", &r, &reused), UP_OK);
	up_clear(&r);
	assert_int_equal(get(u, "GET", &r, &reused), UP_OK);
	assert_false(reused);
	up_clear(&r);
	assert_int_equal(accepts(), 2);
	upstream_free(u);
}

static void
test_stale_retry(void **state)
{
	struct upstream		*u;
	struct up_response	 r;
	int			 reused;

	(void)state;
	set_mode(M_DROP_SECOND);
	assert_non_null(u = upstream_new(srv.path, 2000, 4));
	assert_int_equal(get(u, "GET", &r, &reused), UP_OK);
	up_clear(&r);
	/* The pooled connection dies under the request: sent again. */
	assert_int_equal(get(u, "GET", &r, &reused), UP_OK);
	assert_int_equal(r.status, 200);
	assert_false(reused);
	up_clear(&r);
	assert_int_equal(accepts(), 2);
	/* Not so for a POST: it may have been acted on. */
	assert_int_equal(get(u, "POST", &r, &reused), UP_EIO);
	upstream_free(u);
}

static void
test_no_length_and_garbage(void **state)
{
	struct upstream		*u;
	struct up_response	 r;

	(void)state;
	set_mode(M_NOLENGTH);
	assert_non_null(u = upstream_new(srv.path, 2000, 4));
	assert_int_equal(get(u, "GET", &r, NULL), UP_OK);
	assert_int_equal(r.bodylen, strlen("until the end"));
	up_clear(&r);
	set_mode(M_GARBAGE);
	assert_int_equal(get(u, "GET", &r, NULL), UP_EPROTO);
	upstream_free(u);
}

static void
test_unreachable_and_silent(void **state)
{
	struct upstream		*u;
	struct up_response	 r;

	(void)state;
	assert_non_null(u = upstream_new("/nonexistent/broker.sock", 500, 4));
	assert_int_equal(get(u, "GET", &r, NULL), UP_ECONNECT);
	upstream_free(u);
	set_mode(M_SILENT);
	assert_non_null(u = upstream_new(srv.path, 300, 4));
	assert_int_equal(get(u, "GET", &r, NULL), UP_ETIMEOUT);
	upstream_free(u);
	assert_null(upstream_new("/a/path/much/too/long/for/a/sockaddr_un/"
	    "because/it/goes/on/and/on/and/on/and/on/and/on/and/on/and/on/"
	    "and/on/and/on.sock", 500, 4));
	assert_string_equal(up_errname(UP_ECONNECT), "connect");
}

/* The asynchronous interface, driven the way an event loop drives it. */

struct ended {
	unsigned int	 calls;
	unsigned int	 order;
	enum up_error	 e;
	int		 reused;
};

static unsigned int	 nended;

static void
ended(void *arg, enum up_error e, int reused)
{
	struct ended	*x = arg;

	x->calls++;
	x->order = ++nended;
	x->e = e;
	x->reused = reused;
}

static void
start(struct upstream *u, struct up_request *q, struct up_response *r,
    struct ended *x)
{
	memset(q, 0, sizeof(*q));
	q->method = "GET";
	q->target = "/token/acme";
	q->request_id = "rid-async";
	memset(x, 0, sizeof(*x));
	assert_int_equal(upstream_start(u, q, r, ended, x), UP_OK);
}

static void
test_async_waiting(void **state)
{
	struct upstream		*u;
	struct up_request	 q[3];
	struct up_response	 r[3];
	struct ended		 x[3];
	struct pollfd		 pfd;
	int			 i, ready = 0, rounds = 0;

	(void)state;
	set_mode(M_NORMAL);
	nended = 0;
	/* One connection for three exchanges: two wait their turn. */
	assert_non_null(u = upstream_new(srv.path, 2000, 1));
	for (i = 0; i < 3; i++)
		start(u, &q[i], &r[i], &x[i]);
	assert_true(upstream_pending(u));
	while (x[2].calls == 0) {
		assert_true(++rounds < 1000);
		(void)upstream_run(u, ready);
		pfd.fd = upstream_fd(u);
		pfd.events = POLLIN;
		ready = poll(&pfd, 1, 100) > 0;
	}
	assert_false(upstream_pending(u));
	for (i = 0; i < 3; i++) {
		assert_int_equal(x[i].calls, 1);
		assert_int_equal(x[i].e, UP_OK);
		/* In the order they came, the first on a new connection. */
		assert_int_equal(x[i].order, (unsigned int)i + 1);
		assert_int_equal(x[i].reused, i > 0);
		assert_int_equal(r[i].status, 200);
		assert_memory_equal(r[i].body, body, strlen(body));
		up_clear(&r[i]);
	}
	assert_int_equal(accepts(), 1);
	/* Nothing in flight: no deadline to wake up for. */
	assert_int_equal(upstream_run(u, 0), -1);
	upstream_free(u);
}

static void
test_async_free_ends_all(void **state)
{
	struct upstream		*u;
	struct up_request	 q[2], bad;
	struct up_response	 r[2], rb;
	struct ended		 x[2], xb;
	int			 ms;

	(void)state;
	set_mode(M_SILENT);
	nended = 0;
	assert_non_null(u = upstream_new(srv.path, 5000, 4));
	start(u, &q[0], &r[0], &x[0]);
	start(u, &q[1], &r[1], &x[1]);
	/* Sent, and a deadline within the timeout. */
	ms = upstream_run(u, 0);
	assert_true(ms > 0 && ms <= 5000);
	assert_int_equal(x[0].calls + x[1].calls, 0);
	/* A request that cannot be sent is refused at once, no callback. */
	memset(&bad, 0, sizeof(bad));
	bad.method = "GET";
	bad.target = "/a\r\nX: y";
	bad.request_id = "rid";
	memset(&xb, 0, sizeof(xb));
	assert_int_equal(upstream_start(u, &bad, &rb, ended, &xb), UP_EINVAL);
	/* Freed with exchanges in flight: each ends once, as an I/O error. */
	upstream_free(u);
	assert_int_equal(x[0].calls, 1);
	assert_int_equal(x[1].calls, 1);
	assert_int_equal(x[0].e, UP_EIO);
	assert_int_equal(x[1].e, UP_EIO);
	assert_null(r[0].body);
	assert_int_equal(xb.calls, 0);
}

/*
 * A broker whose backlog is full: the first connection is queued by the
 * kernel, the next ones would get EAGAIN; they wait for ours instead of
 * failing at once, and end at their deadline like the first.
 */
static void
test_async_backlog_full(void **state)
{
	struct sockaddr_un	 sun;
	struct upstream		*u;
	struct up_request	 q[3];
	struct up_response	 r[3];
	struct ended		 x[3];
	struct pollfd		 pfd;
	char			 path[108];
	int			 i, lfd, ready = 0, rounds = 0;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/dromos-gwtest-full-%d.sock",
	    (int)getpid());
	unlink(path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_true((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 0), 0);	/* and never accepts */
	nended = 0;
	assert_non_null(u = upstream_new(path, 300, 4));
	for (i = 0; i < 3; i++)
		start(u, &q[i], &r[i], &x[i]);
	while (x[0].calls + x[1].calls + x[2].calls < 3) {
		assert_true(++rounds < 1000);
		(void)upstream_run(u, ready);
		pfd.fd = upstream_fd(u);
		pfd.events = POLLIN;
		ready = poll(&pfd, 1, 50) > 0;
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(x[i].calls, 1);
		assert_int_equal(x[i].e, UP_ETIMEOUT);
	}
	upstream_free(u);
	close(lfd);
	unlink(path);
}

int
run_upstream_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_incomplete),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_post_body),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_stale_retry),
		cmocka_unit_test(test_no_length_and_garbage),
		cmocka_unit_test(test_unreachable_and_silent),
		cmocka_unit_test(test_async_waiting),
		cmocka_unit_test(test_async_free_ends_all),
		cmocka_unit_test(test_async_backlog_full),
	};

	return cmocka_run_group_tests_name("upstream", tests, server_up,
	    server_down);
}
