/*
 * Unit tests for unpriv/http.c: the real libmicrohttpd server on a unix
 * socket, the real keyholder client, the fake keyholder; requests written
 * by hand so that every byte of the exchange is ours.
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
#include <jansson.h>

#include "tests/unpriv/fakekh.h"
#include "tests/unpriv/tests.h"
#include "unpriv/api.h"
#include "unpriv/broker.h"
#include "unpriv/http.h"
#include "unpriv/khclient.h"
#include "unpriv/listen.h"

#define PROBLEM_PREFIX	"urn:dromos:problem:"

struct server {
	char			 dir[64];
	char			 path[100];
	struct fakekh		 fk;
	struct khclient		*kh;
	struct http_server	*srv;
	struct broker		 b;
};

struct resp {
	int	 status;
	char	 head[8192];
	char	 body[8192];
};

static void
srv_start(struct server *s, enum fakekh_mode mode, int keyring)
{
	int	 fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/dromos-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/broker.sock", s->dir);
	fakekh_start(&s->fk, mode, keyring);
	s->kh = kh_client_new(s->fk.brokerfd, 2000, NULL, NULL);
	assert_non_null(s->kh);
	fd = listen_unix(s->path, 0660, (uid_t)-1, (gid_t)-1);
	assert_true(fd >= 0);
	s->b.kh = s->kh;
	s->srv = http_start("api", fd, api_routes, api_nroutes, &s->b, 2);
	assert_non_null(s->srv);
}

static void
srv_stop(struct server *s)
{
	http_stop(s->srv);
	kh_client_free(s->kh);
	fakekh_stop(&s->fk);
	assert_int_equal(s->fk.nbad, 0);
	assert_int_equal(unlink(s->path), 0);
	assert_int_equal(rmdir(s->dir), 0);
}

/* One request on a fresh connection; read to EOF.  0 or -1. */
static int
request(const char *path, const char *method, const char *url,
    const char *body, struct resp *r)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			 buf[8192], req[1024];
	size_t			 got = 0;
	ssize_t			 n;
	char			*sep;
	int			 fd;

	memset(r, 0, sizeof(*r));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: broker\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", method, url,
	    body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1)
			goto fail;
		if ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) == -1)
			goto fail;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			goto fail;
	}
	close(fd);
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	if ((sep = strstr(buf, "\r\n\r\n")) == NULL)
		return -1;
	*sep = '\0';
	snprintf(r->head, sizeof(r->head), "%s", buf);
	snprintf(r->body, sizeof(r->body), "%s", sep + 4);
	return 0;
 fail:
	close(fd);
	return -1;
}

static int
has_header(const struct resp *r, const char *line)
{
	return strcasestr(r->head, line) != NULL;
}

/* Check a problem document and return its type's name. */
static void
assert_problem(const struct resp *r, int status, const char *type)
{
	json_t		*doc, *v;
	json_error_t	 err;

	assert_true(has_header(r, "\r\nContent-Type: application/problem+json"));
	assert_true(has_header(r, "\r\nCache-Control: no-store"));
	doc = json_loads(r->body, 0, &err);
	assert_non_null(doc);
	v = json_object_get(doc, "type");
	assert_true(json_is_string(v));
	assert_true(strncmp(json_string_value(v), PROBLEM_PREFIX,
	    strlen(PROBLEM_PREFIX)) == 0);
	assert_string_equal(json_string_value(v) + strlen(PROBLEM_PREFIX),
	    type);
	assert_true(json_is_string(json_object_get(doc, "title")));
	assert_true(json_is_string(json_object_get(doc, "detail")));
	v = json_object_get(doc, "status");
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), status);
	/* type, title, status, detail and the request id, nothing else. */
	assert_true(json_is_string(json_object_get(doc, "request_id")));
	assert_int_equal(json_object_size(doc), 5);
	json_decref(doc);
}

static void
test_health_ok(void **state)
{
	struct server	 s;
	struct resp	 r;
	json_t		*doc;

	(void)state;
	srv_start(&s, FK_NORMAL, 1);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "\r\nContent-Type: application/json"));
	assert_true(has_header(&r, "\r\nCache-Control: no-store"));
	doc = json_loads(r.body, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "status")),
	    "ok");
	assert_string_equal(json_string_value(json_object_get(doc,
	    "keyholder")), "ok");
	json_decref(doc);
	/* The query string is not part of the path. */
	assert_int_equal(request(s.path, "GET", "/health?verbose=1", NULL,
	    &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(request(s.path, "HEAD", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "");
	srv_stop(&s);
	/* Each probe is one SEAL and one OPEN, with the health AD. */
	assert_int_equal(s.fk.nreq, 6);
	assert_int_equal(s.fk.lasttype, KH_OPEN);
	assert_string_equal(s.fk.lastpurpose, "health");
	assert_string_equal(s.fk.lastrow, "probe");
	assert_int_equal(s.fk.lastplainlen, 32);
}

static void
test_health_no_keyring(void **state)
{
	struct server	 s;
	struct resp	 r;
	unsigned char	 blob[KH_BLOB_MAX];
	size_t		 bloblen;

	(void)state;
	srv_start(&s, FK_NORMAL, 0);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_problem(&r, 503, "unavailable");
	/* Not fatal: the keyholder answered. */
	assert_int_equal(kh_client_dead(s.kh), 0);
	assert_int_equal(kh_keyring_init(s.kh, blob, sizeof(blob), &bloblen),
	    0);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	srv_stop(&s);
}

/* A keyholder that opens to the wrong bytes is not healthy. */
static void
test_health_corrupt(void **state)
{
	struct server	 s;
	struct resp	 r;

	(void)state;
	srv_start(&s, FK_CORRUPT, 1);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_problem(&r, 503, "unavailable");
	srv_stop(&s);
}

static void
test_not_found(void **state)
{
	static const char *const urls[] = {
		"/", "/nope", "/health/", "/HEALTH", "/health/x", "//health",
		"/v1/health",
	};
	struct server	 s;
	struct resp	 r;
	size_t		 i;

	(void)state;
	srv_start(&s, FK_NORMAL, 1);
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		assert_int_equal(request(s.path, "GET", urls[i], NULL, &r), 0);
		assert_int_equal(r.status, 404);
		assert_problem(&r, 404, "not-found");
	}
	/* Unknown paths answer 404 whatever the method, body or not. */
	assert_int_equal(request(s.path, "POST", "/nope", "{\"a\":1}", &r), 0);
	assert_int_equal(r.status, 404);
	srv_stop(&s);
	assert_int_equal(s.fk.nreq, 0);
}

static void
test_method(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE",
	    "PATCH", "OPTIONS" };
	struct server	 s;
	struct resp	 r;
	size_t		 i;

	(void)state;
	srv_start(&s, FK_NORMAL, 1);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(request(s.path, methods[i], "/health",
		    i == 0 ? "{}" : NULL, &r), 0);
		assert_int_equal(r.status, 405);
		assert_problem(&r, 405, "method-not-allowed");
		assert_true(has_header(&r, "\r\nAllow: GET, HEAD"));
	}
	srv_stop(&s);
	assert_int_equal(s.fk.nreq, 0);
}

/* Once the keyholder is gone, everything is 503. */
static void
test_dead(void **state)
{
	struct server	 s;
	struct resp	 r;

	(void)state;
	srv_start(&s, FK_NORMAL, 1);
	kh_client_kill(s.kh, EPIPE);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_problem(&r, 503, "unavailable");
	assert_int_equal(request(s.path, "GET", "/nope", NULL, &r), 0);
	assert_int_equal(r.status, 503);
	srv_stop(&s);
	assert_int_equal(s.fk.nreq, 0);
}

/* The keyholder hangs up during a probe. */
static void
test_eof(void **state)
{
	struct server	 s;
	struct resp	 r;

	(void)state;
	srv_start(&s, FK_EOF, 1);
	assert_int_equal(request(s.path, "GET", "/health", NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_problem(&r, 503, "unavailable");
	assert_int_equal(kh_client_dead(s.kh), EPIPE);
	srv_stop(&s);
}

#define NCLIENTS	4
#define NREQS		25

static void *
client(void *arg)
{
	const char	*path = arg;
	struct resp	 r;
	int		 i, bad = 0;

	for (i = 0; i < NREQS; i++)
		if (request(path, "GET", "/health", NULL, &r) == -1 ||
		    r.status != 200)
			bad++;
	return (void *)(intptr_t)bad;
}

static void
test_concurrent(void **state)
{
	struct server	 s;
	pthread_t	 t[NCLIENTS];
	void		*rv;
	int		 i;

	(void)state;
	srv_start(&s, FK_NORMAL, 1);
	for (i = 0; i < NCLIENTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, client, s.path),
		    0);
	for (i = 0; i < NCLIENTS; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	srv_stop(&s);
	assert_int_equal(s.fk.nreq, NCLIENTS * NREQS * 2);
}

int
run_http_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_ok),
		cmocka_unit_test(test_health_no_keyring),
		cmocka_unit_test(test_health_corrupt),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_dead),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
