/*
 * What OpenSSL keeps of the gateway's exchanges with a broker over TLS.
 * OpenSSL's allocator is hooked (CRYPTO_set_mem_functions, before it
 * allocates anything: hence a program of its own) and every block it
 * frees is searched for the request's bearer token and body and for the
 * secret in the answer.  With the gateway's context (gateway/brokertls.c)
 * none may be there: decrypted records are cleansed once read
 * (SSL_OP_CLEANSE_PLAINTEXT), and a record is encrypted in place in the
 * write buffer.  The same exchange with that option cleared must leave
 * the answer's secret behind: the search does see plaintext.
 *
 * The broker is a child process, so that only the gateway's memory is
 * searched.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "gateway/brokertls.h"
#include "gateway/config.h"
#include "gateway/upstream.h"
#include "tests/gateway/pki.h"

#define HDR	16	/* before each block: its size, alignment kept */

static const char *const marks[] = {
	"TOKEN-7f3a9c-planted",		/* the bearer token */
	"BODY-51d2e8-planted",		/* the request's body */
	"SECRET-c04b66-planted",	/* the answer's access token */
};
#define NMARKS	(sizeof(marks) / sizeof(marks[0]))

static struct {
	int		 on;
	unsigned long	 frees;
	unsigned long	 found[NMARKS];
} scan;

static struct test_pki	 pki;
static pid_t		 broker_pid = -1;

static void
search(const unsigned char *p, size_t n)
{
	size_t	 i, j, ml;

	scan.frees++;
	for (j = 0; j < NMARKS; j++) {
		ml = strlen(marks[j]);
		for (i = 0; i + ml <= n; i++)
			if (p[i] == (unsigned char)marks[j][0] &&
			    memcmp(p + i, marks[j], ml) == 0) {
				scan.found[j]++;
				break;
			}
	}
}

static void *
hook_malloc(size_t n, const char *file, int line)
{
	unsigned char	*p;

	(void)file;
	(void)line;
	if ((p = malloc(n + HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void
hook_free(void *q, const char *file, int line)
{
	unsigned char	*p;
	size_t		 n;

	(void)file;
	(void)line;
	if (q == NULL)
		return;
	p = (unsigned char *)q - HDR;
	memcpy(&n, p, sizeof(n));
	if (scan.on)
		search(q, n);
	free(p);
}

static void *
hook_realloc(void *q, size_t n, const char *file, int line)
{
	unsigned char	*nq;
	size_t		 old;

	if (q == NULL)
		return hook_malloc(n, file, line);
	memcpy(&old, (unsigned char *)q - HDR, sizeof(old));
	if ((nq = hook_malloc(n, file, line)) == NULL)
		return NULL;
	memcpy(nq, q, old < n ? old : n);
	hook_free(q, file, line);
	return nq;
}

/* The broker: one connection at a time, each answer with the secret. */
static void __attribute__((__noreturn__))
broker(int lfd, SSL_CTX *ctx)
{
	char		 buf[8192], out[256];
	size_t		 n;
	SSL		*s;
	int		 fd;

	scan.on = 0;
	/* Not a moment longer than the test, whatever becomes of it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() == 1)
		_exit(1);
	snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n"
	    "{\"access_token\":\"%s\"}", strlen(marks[2]) + 19, marks[2]);
	while ((fd = accept(lfd, NULL, NULL)) != -1) {
		if ((s = SSL_new(ctx)) != NULL && SSL_set_fd(s, fd) == 1 &&
		    SSL_accept(s) == 1)
			/* A request per read: they are small. */
			while (SSL_read_ex(s, buf, sizeof(buf), &n) == 1)
				if (memmem(buf, n, "\r\n\r\n", 4) != NULL &&
				    SSL_write_ex(s, out, strlen(out), &n) != 1)
					break;
		SSL_free(s);
		close(fd);
	}
	_exit(0);
}

static pid_t
broker_start(SSL_CTX *ctx, int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	pid_t			 pid;
	int			 lfd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((lfd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0)
		broker(lfd, ctx);
	close(lfd);
	*port = ntohs(sin.sin_port);
	return pid;
}

/* Exchanges over one pooled connection, then everything freed. */
static void
exchanges(int port, int cleanse)
{
	struct gw_conf		 cf;
	struct gw_broker	 b;
	struct up_request	 q;
	struct up_response	 r;
	struct upstream		*u;
	struct up_tls		 t;
	char			 err[512], hp[32], ps[8], ca[96], crt[96];
	char			 key[96], auth[64], body[64];
	int			 i, reused;

	memset(&cf, 0, sizeof(cf));
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", port);
	snprintf(ps, sizeof(ps), "%d", port);
	snprintf(ca, sizeof(ca), "%s/ca1.pem", pki.dir);
	snprintf(crt, sizeof(crt), "%s/gw.crt", pki.dir);
	snprintf(key, sizeof(key), "%s/gw.key", pki.dir);
	cf.broker_tls.text = hp;
	cf.broker_tls.host = "127.0.0.1";
	cf.broker_tls.port = ps;
	cf.broker_tls.ca = ca;
	cf.broker_tls.cert = crt;
	cf.broker_tls.key = key;
	if (gw_broker_open(&cf, &b, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	if (!cleanse)
		SSL_CTX_clear_options(b.ctx, SSL_OP_CLEANSE_PLAINTEXT);
	memset(&t, 0, sizeof(t));
	t.addrs = b.addrs;
	t.naddrs = b.naddrs;
	t.ctx = b.ctx;
	t.label = b.label;
	assert_non_null(u = upstream_new_tls(&t, 5000, 2));
	snprintf(auth, sizeof(auth), "Bearer %s", marks[0]);
	snprintf(body, sizeof(body), "{\"x\":\"%s\"}", marks[1]);
	for (i = 0; i < 4; i++) {
		memset(&q, 0, sizeof(q));
		q.method = i == 3 ? "POST" : "GET";
		q.target = "/token/acme";
		q.request_id = "wipe";
		q.authorization = auth;
		if (i == 3) {
			q.content_type = "application/json";
			q.body = (const unsigned char *)body;
			q.bodylen = strlen(body);
		}
		assert_int_equal(upstream_do(u, &q, &r, &reused), UP_OK);
		assert_int_equal(reused, i > 0);
		assert_non_null(memmem(r.body, r.bodylen, marks[2],
		    strlen(marks[2])));
		up_clear(&r);
	}
	upstream_free(u);
	gw_broker_close(&b);
}

static int
setup(void **state)
{
	(void)state;
	test_pki_make(&pki);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (broker_pid != -1) {
		kill(broker_pid, SIGTERM);
		waitpid(broker_pid, NULL, 0);
	}
	test_pki_free(&pki);
	return 0;
}

static void
test_nothing_left(void **state)
{
	size_t		 j;
	int		 port;

	(void)state;
	broker_pid = broker_start(pki.good, &port);

	memset(&scan, 0, sizeof(scan));
	scan.on = 1;
	exchanges(port, 1);
	scan.on = 0;
	for (j = 0; j < NMARKS; j++)
		if (scan.found[j] != 0)
			fail_msg("%s: in %lu blocks OpenSSL freed", marks[j],
			    scan.found[j]);
	/* The search ran over what the exchanges allocated. */
	assert_true(scan.frees > 100);

	/* Without the option, the answers stay in freed read buffers. */
	memset(&scan, 0, sizeof(scan));
	scan.on = 1;
	exchanges(port, 0);
	scan.on = 0;
	assert_true(scan.found[2] > 0);
	/* Writes are encrypted in place, whatever the option says. */
	assert_int_equal(scan.found[0], 0);
	assert_int_equal(scan.found[1], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_left),
	};

	if (CRYPTO_set_mem_functions(hook_malloc, hook_realloc,
	    hook_free) != 1) {
		fprintf(stderr, "OpenSSL allocated before main()\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procinit("test-gwwipe");
	return cmocka_run_group_tests_name("gwwipe", tests, setup, teardown);
}
