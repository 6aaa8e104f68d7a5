/*
 * Unit tests for the broker's metrics: the exposition text (unpriv/
 * metrics.c), the listener (unpriv/scrape.c) against the fake keyholder,
 * and the numeric loopback addresses it accepts (common/addr.c).
 *
 * The counters are the process's own, shared with the other groups of
 * this program (test_http.c serves requests too), so every check here
 * uses route tables and servers of its own, or differences.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/addr.h"
#include "tests/unpriv/fakekh.h"
#include "tests/unpriv/tests.h"
#include "unpriv/http.h"
#include "common/mxserve.h"
#include "unpriv/khclient.h"
#include "unpriv/metrics.h"
#include "unpriv/scrape.h"

static const struct http_route routes_a[] = {
	{ "GET",	"/things",		0, NULL },
	{ "GET",	"/things/{}",		0, NULL },
	{ "DELETE",	"/things/{}",		0, NULL },
};
#define NA	(sizeof(routes_a) / sizeof(routes_a[0]))

static const struct http_route routes_b[] = {
	{ "POST",	"/x\"y\\z",		0, NULL },
};

static char *
render(const uint64_t *kh)
{
	char	*text;
	size_t	 len;

	text = metrics_render(kh, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	return text;
}

/* The value of the sample line that starts with prefix (then a space). */
static double
sample(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 n = strlen(prefix);

	for (;;) {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		if ((p = strchr(p, '\n')) == NULL)
			return -1;
		p++;
	}
}

static int
count(const char *text, const char *needle)
{
	int	 n = 0;

	while ((text = strstr(text, needle)) != NULL) {
		n++;
		text += strlen(needle);
	}
	return n;
}

/*
 * Every line is a comment (# HELP or # TYPE, each name once, HELP first)
 * or a sample of a family whose TYPE came before it: name, optional
 * {labels}, one space, a number.
 */
static void
check_format(const char *text)
{
	char		 types[128][128], name[128];
	const char	*p = text, *e, *q;
	size_t		 ntypes = 0, i, n;
	int		 seen;

	while (*p != '\0') {
		e = strchr(p, '\n');
		assert_non_null(e);
		if (strncmp(p, "# HELP ", 7) == 0) {
			p = e + 1;
			assert_int_equal(strncmp(p, "# TYPE ", 7), 0);
			continue;
		}
		if (strncmp(p, "# TYPE ", 7) == 0) {
			q = p + 7;
			n = strcspn(q, " ");
			assert_true(n < sizeof(name) && ntypes < 128);
			memcpy(types[ntypes], q, n);
			types[ntypes][n] = '\0';
			for (i = 0; i < ntypes; i++)
				assert_string_not_equal(types[i], types[ntypes]);
			ntypes++;
			p = e + 1;
			continue;
		}
		assert_true(*p != '#');
		n = strcspn(p, "{ ");
		assert_true(n > 0 && n < sizeof(name));
		memcpy(name, p, n);
		name[n] = '\0';
		for (i = 0, seen = 0; i < ntypes && !seen; i++) {
			size_t	 tl = strlen(types[i]);

			seen = strncmp(name, types[i], tl) == 0 &&
			    (name[tl] == '\0' || strcmp(name + tl, "_bucket") ==
			    0 || strcmp(name + tl, "_sum") == 0 ||
			    strcmp(name + tl, "_count") == 0);
		}
		assert_true(seen);
		q = memchr(p, ' ', (size_t)(e - p));
		if (p[n] == '{')
			q = strstr(p, "} ");
		assert_non_null(q);
		q += *q == '}' ? 2 : 1;
		assert_true(q < e);
		assert_true(strspn(q, "0123456789.-+Inf") == (size_t)(e - q));
		p = e + 1;
	}
}

static void
test_routes_and_histogram(void **state)
{
	char	*text;
	int	 a, b;

	(void)state;
	a = metrics_routes("t1", routes_a, NA);
	assert_true(a >= 0);
	/* The same table again: the same slots. */
	assert_int_equal(metrics_routes("t1", routes_a, NA), a);
	b = metrics_routes("t2", routes_b, 1);
	assert_true(b >= 0 && b != a);

	metrics_request(a, 1, 200, 1500000);		/* 1.5 ms */
	metrics_request(a, 1, 200, 3000000000u);	/* 3 s */
	metrics_request(a, 1, 404, 100);
	metrics_request(a, NA, 405, 100);		/* unmatched */
	metrics_request(a, 99, 404, 100);		/* out of range: unmatched */
	metrics_request(a, 0, 99, 100);			/* no such code */
	metrics_request(a, 0, 600, 100);
	metrics_request(-1, 0, 200, 100);		/* a server not counted */
	metrics_request(b, 0, 201, 100);
	metrics_in_flight(a, 1);
	metrics_in_flight(a, 1);
	metrics_in_flight(a, -1);
	text = render(NULL);
	check_format(text);

	assert_true(sample(text, "dromos_broker_requests_total{server=\"t1\","
	    "route=\"/things/{}\",method=\"GET\",code=\"200\"}") == 2);
	assert_true(sample(text, "dromos_broker_requests_total{server=\"t1\","
	    "route=\"/things/{}\",method=\"GET\",code=\"404\"}") == 1);
	assert_true(sample(text, "dromos_broker_requests_total{server=\"t1\","
	    "route=\"unmatched\",method=\"any\",code=\"405\"}") == 1);
	assert_true(sample(text, "dromos_broker_requests_total{server=\"t1\","
	    "route=\"unmatched\",method=\"any\",code=\"404\"}") == 1);
	/* Codes outside 100..599 are not a label, but take their time. */
	assert_int_equal(count(text, "code=\"99\""), 0);
	assert_int_equal(count(text, "code=\"600\""), 0);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_count{"
	    "server=\"t1\",route=\"/things\",method=\"GET\"}") == 2);
	/* Cumulative buckets. */
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"0.0001\"}")
	    == 1);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"0.001\"}")
	    == 1);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"0.0025\"}")
	    == 2);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"2.5\"}")
	    == 2);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"5\"}") == 3);
	assert_true(sample(text, "dromos_broker_request_duration_seconds_bucket{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\",le=\"+Inf\"}")
	    == 3);
	assert_non_null(strstr(text, "dromos_broker_request_duration_seconds_sum{"
	    "server=\"t1\",route=\"/things/{}\",method=\"GET\"} "
	    "3.001500100\n"));
	/* A route never requested has no histogram. */
	assert_int_equal(count(text, "route=\"/things/{}\",method=\"DELETE\""),
	    0);
	assert_true(sample(text, "dromos_broker_requests_in_flight{"
	    "server=\"t1\"}") == 1);
	/* Label values are escaped. */
	assert_true(sample(text, "dromos_broker_requests_total{server=\"t2\","
	    "route=\"/x\\\"y\\\\z\",method=\"POST\",code=\"201\"}") == 1);
	free(text);
}

static void
test_full_table(void **state)
{
	static const char *const	 names[] = { "full0", "full1",
	    "full2", "full3" };
	static struct http_route	 big[40];
	int				 i, last = 0;

	(void)state;
	for (i = 0; i < 40; i++) {
		big[i].method = "GET";
		big[i].pattern = "/big";
	}
	/* Room for four servers and 64 slots in all: it runs out. */
	for (i = 0; i < 4; i++)
		if ((last = metrics_routes(names[i], big, 40)) == -1)
			break;
	assert_int_equal(last, -1);
	/* Nothing of it is counted, and nothing breaks. */
	metrics_request(-1, 0, 200, 1);
	metrics_in_flight(-1, 1);
}

static void
test_counters(void **state)
{
	char	*t0, *t1;

	(void)state;
	t0 = render(NULL);
	metrics_db(MX_DB_CONNECTED);
	metrics_db(MX_DB_CONNECT_FAILED);
	metrics_db(MX_DB_CONNECT_FAILED);
	metrics_db(MX_DB_SQL);
	metrics_db(MX_DB_BUSY);
	metrics_db(MX_DB_N);				/* ignored */
	metrics_kh_reply(KH_OPEN, 0);
	metrics_kh_reply(KH_OPEN, KH_E_BAD_VALUE);
	metrics_kh_reply(KH_OPEN, 77);			/* not a code */
	metrics_kh_reply(0, 0);				/* not a type */
	metrics_kh_failed();
	metrics_kh_call(2000000);
	metrics_refresh(0);
	metrics_refresh(1);
	metrics_refresh(9);				/* fatal */
	metrics_accesslog(MX_ALOG_WRITTEN, 5);
	metrics_accesslog(MX_ALOG_DROPPED, 2);
	t1 = render(NULL);
	check_format(t1);
#define D(s)	(sample(t1, s) - sample(t0, s))
	assert_true(D("dromos_broker_db_connects_total{outcome=\"ok\"}") == 1);
	assert_true(D("dromos_broker_db_connects_total{outcome=\"failed\"}") ==
	    2);
	assert_true(D("dromos_broker_db_errors_total{kind=\"sql\"}") == 1);
	assert_true(D("dromos_broker_db_errors_total{kind=\"pool_busy\"}") == 1);
	assert_true(D("dromos_broker_db_errors_total{kind=\"transient\"}") == 0);
	assert_true(D("dromos_broker_keyholder_requests_total{type=\"open\"}")
	    == 3);
	assert_true(D("dromos_broker_keyholder_errors_total{kind=\"bad_value\"}")
	    == 1);
	assert_true(D("dromos_broker_keyholder_errors_total{kind=\"unknown\"}")
	    == 1);
	assert_true(D("dromos_broker_keyholder_errors_total{kind=\"channel\"}")
	    == 1);
	assert_true(D("dromos_broker_keyholder_duration_seconds_count") == 1);
	assert_true(D("dromos_broker_oauth_refreshes_total{outcome=\"ok\"}") ==
	    1);
	assert_true(D("dromos_broker_oauth_refreshes_total{outcome=\""
	    "invalid_grant\"}") == 1);
	assert_true(D("dromos_broker_oauth_refreshes_total{outcome=\"fatal\"}")
	    == 1);
	assert_true(D("dromos_broker_accesslog_rows_total{outcome=\"written\"}")
	    == 5);
	assert_true(D("dromos_broker_accesslog_rows_total{outcome=\"dropped\"}")
	    == 2);
#undef D
	free(t0);
	free(t1);
}

static void
test_keyholder_series(void **state)
{
	uint64_t	 kh[KH_M_COUNT];
	char		*text;
	size_t		 i;

	(void)state;
	for (i = 0; i < KH_M_COUNT; i++)
		kh[i] = 1000 + i;
	text = render(kh);
	check_format(text);
	assert_true(sample(text, "dromos_keyholder_up") == 1);
	assert_true(sample(text, "dromos_keyholder_seals_total{outcome=\"ok\"}")
	    == 1000 + KH_M_SEAL_OK);
	assert_true(sample(text, "dromos_keyholder_opens_total{outcome=\"ok\"}")
	    == 1000 + KH_M_OPEN_OK);
	assert_true(sample(text, "dromos_keyholder_seals_total{outcome="
	    "\"internal\"}") == 1000 + KH_M_SEAL_REFUSED);
	assert_true(sample(text, "dromos_keyholder_opens_total{outcome="
	    "\"bad_value\"}") == 1000 + KH_M_OPEN_REFUSED + KH_E_BAD_VALUE - 1);
	assert_true(sample(text, "dromos_keyholder_opens_total{outcome="
	    "\"rate\"}") == 1000 + KH_M_OPEN_REFUSED + KH_E_RATE - 1);
	assert_true(sample(text, "dromos_keyholder_seals_total{outcome="
	    "\"audit\"}") == 1000 + KH_M_SEAL_REFUSED + KH_E_AUDIT - 1);
	assert_true(sample(text, "dromos_keyholder_requests_total{type=\"seal\"}")
	    == 1000 + KH_M_REQUESTS);
	assert_true(sample(text, "dromos_keyholder_requests_total{type="
	    "\"metrics\"}") == 1000 + KH_M_REQUESTS + KH_METRICS - 1);
	assert_true(sample(text, "dromos_keyholder_audit_lines_total") ==
	    1000 + KH_M_AUDIT_LINES);
	assert_true(sample(text, "dromos_keyholder_audit_checkpoints_total") ==
	    1000 + KH_M_AUDIT_CHECKPOINTS);
	assert_true(sample(text, "dromos_keyholder_audit_failures_total") ==
	    1000 + KH_M_AUDIT_FAILURES);
	assert_true(sample(text, "dromos_keyholder_key_rotations_total") ==
	    1000 + KH_M_ROTATIONS);
	assert_true(sample(text, "dromos_keyholder_batches_total") ==
	    1000 + KH_M_BATCHES);
	assert_true(sample(text, "dromos_keyholder_batch_max") ==
	    1000 + KH_M_BATCH_MAX);
	assert_true(sample(text, "dromos_keyholder_start_time_seconds") ==
	    1000 + KH_M_START_TIME);
	assert_true(sample(text, "dromos_keyholder_audit_reopens_total"
	    "{outcome=\"ok\"}") == 1000 + KH_M_AUDIT_REOPENS);
	assert_true(sample(text, "dromos_keyholder_audit_reopens_total"
	    "{outcome=\"failed\"}") == 1000 + KH_M_AUDIT_REOPEN_FAILURES);
	/* The families that are not refusals have no "unknown" outcome. */
	assert_int_equal(count(text, "dromos_keyholder_opens_total{outcome="
	    "\"unknown\"}"), 0);
	free(text);

	/* Counters that could not be fetched: only "up", and it is 0. */
	text = render(NULL);
	assert_true(sample(text, "dromos_keyholder_up") == 0);
	assert_int_equal(count(text, "\ndromos_keyholder_"), 1);
	free(text);
}

static void
test_addr(void **state)
{
	static const struct {
		const char		*s;
		enum addr_result	 want;
	} cases[] = {
		{ "127.0.0.1:9101", ADDR_LOOPBACK },
		{ "127.1.2.3:1", ADDR_LOOPBACK },
		{ "[::1]:65535", ADDR_LOOPBACK },
		{ "[::ffff:127.0.0.1]:9101", ADDR_LOOPBACK },
		{ "0.0.0.0:9101", ADDR_OTHER },
		{ "10.0.0.1:9101", ADDR_OTHER },
		{ "[::]:9101", ADDR_OTHER },
		{ "[::ffff:10.0.0.1]:9101", ADDR_OTHER },
		{ "[2001:db8::1]:9101", ADDR_OTHER },
		{ "localhost:9101", ADDR_MALFORMED },
		{ "127.0.0.1", ADDR_MALFORMED },
		{ "127.0.0.1:", ADDR_MALFORMED },
		{ "127.0.0.1:0", ADDR_MALFORMED },
		{ "127.0.0.1:65536", ADDR_MALFORMED },
		{ "127.0.0.1:09101", ADDR_MALFORMED },
		{ "127.0.0.1:+9101", ADDR_MALFORMED },
		{ "127.0.0.1:9101 ", ADDR_MALFORMED },
		{ "::1:9101", ADDR_MALFORMED },
		{ "[::1]", ADDR_MALFORMED },
		{ "[::1]9101", ADDR_MALFORMED },
		{ "[127.0.0.1]:9101", ADDR_MALFORMED },
		{ ":9101", ADDR_MALFORMED },
		{ "", ADDR_MALFORMED },
		{ "[", ADDR_MALFORMED },
		{ "[]:1", ADDR_MALFORMED },
		{ "1.2.3.4.5:1", ADDR_MALFORMED },
	};
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 len;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (addr_parse_local(cases[i].s, NULL, NULL) != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].s,
			    (int)addr_parse_local(cases[i].s, NULL, NULL),
			    (int)cases[i].want);
	}
	assert_int_equal(addr_parse_local("127.0.0.2:9101", &ss, &len),
	    ADDR_LOOPBACK);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 9101);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000002);
	assert_int_equal(addr_parse_local("[::1]:80", &ss, &len),
	    ADDR_LOOPBACK);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(metrics_listen("10.0.0.1:9101"), -1);
	assert_int_equal(metrics_listen("localhost:9101"), -1);

	/* addr_parse: the same verdicts, and any numeric address filled. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (addr_parse(cases[i].s, NULL, NULL) != cases[i].want)
			fail_msg("addr_parse %s", cases[i].s);
	memset(&ss, 0xff, sizeof(ss));
	assert_int_equal(addr_parse("0.0.0.0:8444", &ss, &len), ADDR_OTHER);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 8444);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(addr_parse("[2001:db8::1]:8444", &ss, &len),
	    ADDR_OTHER);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(addr_parse("127.0.0.1:1", &ss, &len), ADDR_LOOPBACK);
	assert_int_equal(ss.ss_family, AF_INET);
	/* The loopback-only parser leaves ss alone for anything else. */
	memset(&ss, 0xff, sizeof(ss));
	assert_int_equal(addr_parse_local("0.0.0.0:8444", &ss, &len),
	    ADDR_OTHER);
	assert_int_equal(ss.ss_family, 0xffff);
}

/* A free port on 127.0.0.1 (free when we looked). */
static unsigned int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* One HTTP/1.0 exchange; the whole answer into buf.  The status. */
static int
get(unsigned int port, const char *req, char *buf, size_t sz)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	size_t			 got = 0;
	ssize_t			 n;
	int			 fd, status = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		n = read(fd, buf + got, sz - 1 - got);
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
		assert_true(got < sz - 1);
	}
	buf[got] = '\0';
	close(fd);
	(void)sscanf(buf, "HTTP/1.%*d %d", &status);
	return status;
}

static void
test_listener(void **state)
{
	static char		 buf[256 * 1024];
	struct fakekh		 fk;
	struct khclient		*kh;
	struct mxserve	*m;
	char			 addr[32], line[128];
	unsigned int		 port = free_port();
	int			 fd;

	(void)state;
	fakekh_start(&fk, FK_NORMAL, 0);
	assert_non_null(kh = kh_client_new(fk.brokerfd, 2000, NULL, NULL));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_true((fd = metrics_listen(addr)) >= 0);
	assert_non_null(m = metrics_start(fd, kh));

	assert_int_equal(get(port, "GET /metrics HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf)), 200);
	assert_non_null(strstr(buf, "\r\nContent-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(buf, "\ndromos_keyholder_up 1\n"));
	/* The fake's counters, where the layout puts them. */
	snprintf(line, sizeof(line), "\ndromos_keyholder_batches_total %llu\n",
	    (unsigned long long)FAKEKH_METRIC(KH_M_BATCHES));
	assert_non_null(strstr(buf, line));
	snprintf(line, sizeof(line), "\ndromos_keyholder_opens_total{outcome="
	    "\"bad_value\"} %llu\n", (unsigned long long)FAKEKH_METRIC(
	    KH_M_OPEN_REFUSED + KH_E_BAD_VALUE - 1));
	assert_non_null(strstr(buf, line));
	assert_int_equal(fk.lasttype, KH_METRICS);

	assert_int_equal(get(port, "HEAD /metrics HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf)), 200);
	assert_null(strstr(buf, "dromos_"));
	assert_int_equal(get(port, "POST /metrics HTTP/1.0\r\n"
	    "Content-Length: 3\r\n\r\nabc", buf, sizeof(buf)), 405);
	assert_non_null(strstr(buf, "\r\nAllow: GET, HEAD\r\n"));
	/* Answered from the headers: a body that never comes is not awaited. */
	assert_int_equal(get(port, "PUT /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1000000\r\n\r\n", buf, sizeof(buf)), 405);
	assert_int_equal(get(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\nContent-Length: 1000000\r\n\r\n", buf,
	    sizeof(buf)), 200);
	assert_int_equal(get(port, "GET / HTTP/1.0\r\n\r\n", buf, sizeof(buf)),
	    404);
	assert_int_equal(get(port, "GET /metricsx HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf)), 404);
	assert_int_equal(get(port, "DELETE /other HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf)), 404);

	/* The keyholder gone: still an answer, saying so. */
	fakekh_stop(&fk);
	assert_int_equal(get(port, "GET /metrics HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf)), 200);
	assert_non_null(strstr(buf, "\ndromos_keyholder_up 0\n"));
	assert_null(strstr(buf, "dromos_keyholder_seals_total"));
	assert_int_not_equal(kh_client_dead(kh), 0);

	mxserve_stop(m);
	kh_client_free(kh);
	/* The port is free again: the listener closed its socket. */
	assert_true((fd = metrics_listen(addr)) >= 0);
	close(fd);
}

int
run_metrics_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_and_histogram),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_keyholder_series),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_listener),
		cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
