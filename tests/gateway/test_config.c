/* gateway.conf (gateway/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/config.h"
#include "tests/gateway/tests.h"

static int
parse(const char *text, struct gw_conf *cf, char *err, size_t errlen)
{
	return gw_config_parse("gw.conf", text, strlen(text), cf, err, errlen);
}

static void
test_full(void **state)
{
	static const char text[] =
	    "# a full configuration\n"
	    "cert = \"/etc/dromos/gw.crt\"\n"
	    "listen \"[::1]:8443\"\n"
	    "tls certificate $cert key \"/etc/dromos/gw.key\"\n"
	    "broker socket \"/run/dromos/broker.sock\"\n"
	    "broker timeout 10 seconds\n"
	    "metrics listen \"127.0.0.1:9102\"\n"
	    "cors origin \"https://app.example\"\n"
	    "cors origin \"http://localhost:3000\"\n"
	    "rate limit client 50 burst 100\n"
	    "rate limit connection 20 per second burst 40\n"
	    "rate limit refresh 2 per minute burst 3\n"
	    "rate limit entries 1024\n"
	    "user \"_gw\"\n"
	    "body limit 4096 bytes\n"
	    "client timeout 5\n"
	    "threads 8\n";
	struct gw_conf	 cf;
	char		 err[256];

	(void)state;
	if (parse(text, &cf, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_true(cf.listen.loopback);
	assert_string_equal(cf.listen.text, "[::1]:8443");
	assert_int_equal(cf.tls, 1);
	assert_string_equal(cf.tls_cert, "/etc/dromos/gw.crt");
	assert_string_equal(cf.tls_key, "/etc/dromos/gw.key");
	assert_int_equal(cf.broker_timeout, 10);
	assert_int_equal(cf.ncors, 2);
	assert_true(gw_cors_allowed(&cf, "http://localhost:3000"));
	assert_false(gw_cors_allowed(&cf, "https://app.example/"));
	assert_false(gw_cors_allowed(&cf, "https://APP.example"));
	assert_false(gw_cors_allowed(&cf, NULL));
	assert_int_equal(cf.rl_client.n, 50);
	assert_int_equal(cf.rl_client.burst, 100);
	assert_true(gw_rate_per_second(&cf.rl_client) == 50.0);
	assert_true(gw_rate_per_second(&cf.rl_refresh) == 2.0 / 60.0);
	assert_int_equal(cf.rl_refresh.burst, 3);
	assert_int_equal(cf.rl_entries, 1024);
	assert_string_equal(cf.user, "_gw");
	assert_int_equal(cf.body_limit, 4096);
	assert_int_equal(cf.client_timeout, 5);
	assert_int_equal(cf.threads, 8);
	gw_config_free(&cf);
}

static void
test_defaults(void **state)
{
	struct gw_conf	 cf;
	char		 err[256];

	(void)state;
	/* No broker statement: the broker of this host. */
	assert_int_equal(parse("listen \"127.0.0.1:8443\"\ntls off\n", &cf,
	    err, sizeof(err)), 0);
	assert_int_equal(cf.tls, 0);
	assert_string_equal(cf.broker_socket, "/run/dromos/broker.sock");
	assert_null(cf.broker_tls.host);
	assert_int_equal(cf.broker_timeout, 30);
	assert_string_equal(cf.user, "_dromosgw");
	assert_int_equal(cf.body_limit, 65536);
	assert_int_equal(cf.metrics.line, 0);
	assert_false(cf.rl_client.off);
	assert_true(cf.rl_refresh.per_minute);
	gw_config_free(&cf);
	assert_int_equal(parse("listen \"127.0.0.1:8443\"\ntls off\n"
	    "broker socket \"/b\"\nrate limit client off\n", &cf, err,
	    sizeof(err)), 0);
	assert_true(cf.rl_client.off);
	assert_true(gw_rate_per_second(&cf.rl_client) == 0.0);
	gw_config_free(&cf);
}

#define BASE	"listen \"127.0.0.1:80\"\ntls off\n"
#define FILES	" ca \"/ca.pem\" certificate \"/gw.crt\" key \"/gw.key\""

/* "broker tls": host and port, files, the name to verify, a CRL. */
static void
test_broker_tls(void **state)
{
	static const struct {
		const char	*text;
		const char	*host;
		const char	*port;
		const char	*name;		/* gw_broker_name() */
		const char	*crl;
	} cases[] = {
		{ "broker tls \"broker.internal:9443\"" FILES "\n",
		    "broker.internal", "9443", "broker.internal", NULL },
		{ "broker tls \"10.0.0.5:443\"" FILES "\n",
		    "10.0.0.5", "443", "10.0.0.5", NULL },
		{ "broker tls \"[::1]:9443\"" FILES "\n",
		    "::1", "9443", "::1", NULL },
		{ "broker tls \"10.0.0.5:9443\"" FILES " name "
		    "\"broker.internal\"\n", "10.0.0.5", "9443",
		    "broker.internal", NULL },
		{ "broker tls \"b-1.example:1\"" FILES " name \"fd00::1\"\n",
		    "b-1.example", "1", "fd00::1", NULL },
		{ "broker tls \"localhost:65535\" \\\n  ca \"/ca.pem\" \\\n"
		    "  certificate \"/gw.crt\" key \"/gw.key\"\n",
		    "localhost", "65535", "localhost", NULL },
		/* "crl": a path, once, before or after "name". */
		{ "broker tls \"h:1\"" FILES " crl \"/ca.crl\"\n", "h", "1",
		    "h", "/ca.crl" },
		{ "broker tls \"h:1\"" FILES " name \"b.example\" crl "
		    "\"/ca.crl\"\n", "h", "1", "b.example", "/ca.crl" },
		{ "broker tls \"h:1\"" FILES " crl \"/ca.crl\" name "
		    "\"b.example\"\n", "h", "1", "b.example", "/ca.crl" },
		{ "broker tls \"h:1\"" FILES " \\\n  crl /ca.crl\n", "h", "1",
		    "h", "/ca.crl" },
	};
	struct gw_conf	 cf;
	char		 err[512], text[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), BASE "%s", cases[i].text);
		if (parse(text, &cf, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].text, err);
		assert_null(cf.broker_socket);
		assert_int_equal(cf.broker_line, 3);
		assert_string_equal(cf.broker_tls.host, cases[i].host);
		assert_string_equal(cf.broker_tls.port, cases[i].port);
		assert_string_equal(gw_broker_name(&cf), cases[i].name);
		assert_string_equal(cf.broker_tls.ca, "/ca.pem");
		assert_string_equal(cf.broker_tls.cert, "/gw.crt");
		assert_string_equal(cf.broker_tls.key, "/gw.key");
		if (cases[i].crl == NULL)
			assert_null(cf.broker_tls.crl);
		else
			assert_string_equal(cf.broker_tls.crl, cases[i].crl);
		gw_config_free(&cf);
	}
}

/* Each bad file fails, naming the line the message gives. */
static void
test_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "tls off\n", "gw.conf: no \"listen\"" },
		{ "listen \"127.0.0.1:1\"\n", "gw.conf: no \"tls\"" },
		{ "listen \"0.0.0.0:443\"\ntls off\n", "gw.conf:2: \"tls off\"" },
		{ "listen \"[::]:443\"\n\ntls off\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1\"\ntls off\n", "gw.conf:1:" },
		{ "listen \"127.0.0.1:0\"\ntls off\n", "gw.conf:1:" },
		{ "listen \"127.0.0.1:65536\"\ntls off\n", "gw.conf:1:" },
		{ "listen \"localhost:80\"\ntls off\n", "gw.conf:1:" },
		{ "listen \"[::1:80\"\ntls off\n", "gw.conf:1:" },
		{ "listen \"127.0.0.1:80\"\nlisten \"127.0.0.1:81\"\ntls off\n",
		    "gw.conf:2: duplicate" },
		{ "listen \"127.0.0.1:80\"\ntls off\ntls off\n",
		    "gw.conf:3: duplicate" },
		{ "listen \"127.0.0.1:80\"\ntls certificate \"/a\"\n",
		    "gw.conf:2:" },
		{ "listen \"127.0.0.1:80\"\ntls certificate \"a\" key \"/b\"\n",
		    "gw.conf:2:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nmetrics listen "
		    "\"192.0.2.1:9\"\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nmetrics listen "
		    "\"127.0.0.1:80\"\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\ncors origin \"*\"\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\ncors origin "
		    "\"https://a.example/path\"\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nrate limit client 0\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nrate limit client 5 per "
		    "hour\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nrate limit client 5 burst\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nrate limit client 5 x\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nbody limit 10\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nbroker socket \"rel\"\n",
		    "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nthreads 65\n", "gw.conf:3:" },
		{ "listen \"127.0.0.1:80\"\ntls off\nnonsense\n",
		    "gw.conf:3: unknown keyword" },
		/* At most one of "broker socket" and "broker tls". */
		{ BASE "broker socket \"/b\"\nbroker tls \"h:1\"" FILES "\n",
		    "gw.conf:4: \"broker socket\" and \"broker tls\" exclude "
		    "each other (the other is on line 3)" },
		{ BASE "broker tls \"h:1\"" FILES "\n\nbroker socket \"/b\"\n",
		    "gw.conf:5: \"broker socket\" and \"broker tls\"" },
		{ BASE "broker socket \"/b\"\nbroker socket \"/c\"\n",
		    "gw.conf:4: duplicate" },
		{ BASE "broker tls \"h:1\"" FILES "\nbroker tls \"h:1\""
		    FILES "\n", "gw.conf:4: duplicate" },
		{ BASE "broker socket \"/a/path/much/too/long/for/a/sockaddr_un/"
		    "0123456789012345678901234567890123456789012345678901234567"
		    "89-0123456789.sock\"\n", "gw.conf:3: \"broker socket\": "
		    "a path of" },
		/* Hosts and ports. */
		{ BASE "broker tls \"h\"" FILES "\n", "gw.conf:3: \"broker "
		    "tls\": expected \"host:port\"" },
		{ BASE "broker tls \"h:0\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:65536\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:-1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:+1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \":9443\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"::1:9443\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"[::1]9443\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"[broker]:9443\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"[10.0.0.1]:9443\"" FILES "\n",
		    "gw.conf:3:" },
		{ BASE "broker tls \"-b.example:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"b-.example:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"b..example:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"b.example.:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"b_x.example:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"10.1:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"999.1.1.1:1\"" FILES "\n", "gw.conf:3:" },
		{ BASE "broker tls \"1234:1\"" FILES "\n", "gw.conf:3:" },
		/* Files, in their order, absolute. */
		{ BASE "broker tls \"h:1\"\n", "gw.conf:3: \"broker tls\": "
		    "expected \"ca\"" },
		{ BASE "broker tls \"h:1\" ca \"/ca\" key \"/k\"\n",
		    "gw.conf:3: \"broker tls\": expected \"certificate\"" },
		{ BASE "broker tls \"h:1\" ca \"/ca\" certificate \"/c\"\n",
		    "gw.conf:3: \"broker tls\": expected \"key\"" },
		{ BASE "broker tls \"h:1\" ca \"ca.pem\" certificate \"/c\" "
		    "key \"/k\"\n", "gw.conf:3: \"broker tls\": \"ca.pem\" is "
		    "not an absolute path" },
		{ BASE "broker tls \"h:1\" ca \"/ca\" certificate \"/c\" "
		    "key \"k\"\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:1\"" FILES " name\n", "gw.conf:3:" },
		{ BASE "broker tls \"h:1\"" FILES " name \"*.example\"\n",
		    "gw.conf:3: \"broker tls\": \"name\": expected" },
		{ BASE "broker tls \"h:1\"" FILES " name \"[::1]\"\n",
		    "gw.conf:3:" },
		{ BASE "broker tls \"h:1\"" FILES " name \"a\" extra\n",
		    "gw.conf:3:" },
		{ BASE "broker tls \"h:1\"" FILES "\\\n name \"a b\"\n",
		    "gw.conf:4:" },
		{ BASE "broker tls \"h:1\"" FILES " name \"a\" name \"b\"\n",
		    "gw.conf:3: \"broker tls\": duplicate \"name\"" },
		/* "crl": a path, absolute, once; after the three files. */
		{ BASE "broker tls \"h:1\"" FILES " crl\n",
		    "gw.conf:3: \"broker tls\": \"crl\": expected a path" },
		{ BASE "broker tls \"h:1\"" FILES " name \"a\" crl\n",
		    "gw.conf:3: \"broker tls\": \"crl\": expected a path" },
		{ BASE "broker tls \"h:1\"" FILES " crl \"\"\n",
		    "gw.conf:3: \"broker tls\": empty string" },
		{ BASE "broker tls \"h:1\"" FILES " crl \"ca.crl\"\n",
		    "gw.conf:3: \"broker tls\": \"ca.crl\" is not an absolute "
		    "path" },
		{ BASE "broker tls \"h:1\"" FILES " crl \"/a\" crl \"/b\"\n",
		    "gw.conf:3: \"broker tls\": duplicate \"crl\"" },
		{ BASE "broker tls \"h:1\"" FILES " crl \"/a\" name \"b\" "
		    "crl \"/c\"\n", "gw.conf:3: \"broker tls\": duplicate" },
		{ BASE "broker tls \"h:1\"" FILES " crl \"/a\" extra\n",
		    "gw.conf:3: \"broker tls\": unexpected" },
		{ BASE "broker tls \"h:1\" crl \"/a\"" FILES "\n",
		    "gw.conf:3: \"broker tls\": expected \"ca\"" },
		{ BASE "broker tls \"h:1\" ca \"/ca\" crl \"/a\" "
		    "certificate \"/c\" key \"/k\"\n",
		    "gw.conf:3: \"broker tls\": expected \"certificate\"" },
	};
	struct gw_conf	 cf;
	char		 err[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].text, &cf, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", cases[i].text);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("%s: got \"%s\", want \"%s...\"",
			    cases[i].text, err, cases[i].want);
	}
}

/* What dump prints parses again to the same dump. */
static void
test_dump_round_trip(void **state)
{
	static const char text[] =
	    "listen \"127.0.0.1:8443\"\n"
	    "tls certificate \"/c\" key \"/k\"\n"
	    "cors origin \"https://app.example\"\n"
	    "rate limit refresh off\n"
	    "broker socket \"/b\"\n"
	    "metrics listen \"127.0.0.1:9102\"\n";
	struct gw_conf	 a, b;
	char		 err[256], *d1 = NULL, *d2 = NULL;
	size_t		 l1 = 0, l2 = 0;
	FILE		*fp;

	(void)state;
	assert_int_equal(parse(text, &a, err, sizeof(err)), 0);
	assert_non_null(fp = open_memstream(&d1, &l1));
	gw_config_dump(&a, fp);
	fclose(fp);
	if (gw_config_parse("dump", d1, l1, &b, err, sizeof(err)) != 0)
		fail_msg("%s\n%s", err, d1);
	assert_non_null(fp = open_memstream(&d2, &l2));
	gw_config_dump(&b, fp);
	fclose(fp);
	assert_string_equal(d1, d2);
	assert_non_null(strstr(d1, "rate limit refresh off\n"));
	free(d1);
	free(d2);
	gw_config_free(&a);
	gw_config_free(&b);
}

/* The same for "broker tls", with and without a name, and odd paths. */
static void
test_dump_broker_tls(void **state)
{
	static const char *const texts[] = {
		BASE "broker tls \"[fd00::5]:9443\"" FILES "\n",
		BASE "broker tls \"10.0.0.5:9443\"" FILES " name \"b.example\"\n",
		BASE "broker tls \"h:1\"" FILES " crl \"/ca.crl\"\n",
		BASE "broker tls \"h:1\"" FILES " crl \"/ca.crl\" name "
		    "\"b.example\"\n",
		BASE "broker tls \"h:1\"" FILES " crl \"/a \\\"b\\\\\"\n",
		/* Quotes and backslashes in paths are escaped again. */
		"listen \"127.0.0.1:80\"\ntls certificate \"/a\\\"b\" key "
		    "\"/c\\\\d\"\nbroker tls \"h:1\" ca \"/e\\\"\" "
		    "certificate \"/f\" key \"/g\\\\\"\nuser \"a\\\"b\"\n",
	};
	struct gw_conf	 a, b;
	char		 err[256], *d1 = NULL, *d2 = NULL;
	size_t		 i, l1 = 0, l2 = 0;
	FILE		*fp;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (parse(texts[i], &a, err, sizeof(err)) != 0)
			fail_msg("%s: %s", texts[i], err);
		assert_non_null(fp = open_memstream(&d1, &l1));
		gw_config_dump(&a, fp);
		fclose(fp);
		if (gw_config_parse("dump", d1, l1, &b, err, sizeof(err)) != 0)
			fail_msg("%s\n%s", err, d1);
		assert_non_null(fp = open_memstream(&d2, &l2));
		gw_config_dump(&b, fp);
		fclose(fp);
		assert_string_equal(d1, d2);
		assert_null(strstr(d1, "broker socket"));
		assert_string_equal(gw_broker_name(&a), gw_broker_name(&b));
		/* The CRL is dumped when given, and read back the same. */
		assert_int_equal(a.broker_tls.crl == NULL,
		    strstr(d1, " crl ") == NULL);
		assert_int_equal(a.broker_tls.crl == NULL,
		    b.broker_tls.crl == NULL);
		if (a.broker_tls.crl != NULL)
			assert_string_equal(a.broker_tls.crl, b.broker_tls.crl);
		free(d1);
		free(d2);
		d1 = d2 = NULL;
		gw_config_free(&a);
		gw_config_free(&b);
	}
}

/* The file: read whole, and only a regular text file. */
static void
test_load(void **state)
{
	static const char	 good[] = "listen \"127.0.0.1:8080\"\ntls off\n";
	static const char	 nul[] = "listen \"127.0.0.1:8080\"\0\ntls off\n";
	char			 dir[] = "/tmp/dromos-gwconf-XXXXXX", path[64];
	char			 err[256];
	struct gw_conf		 cf;
	FILE			*fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(good, 1, sizeof(good) - 1, fp),
	    sizeof(good) - 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(gw_config_load(path, &cf, err, sizeof(err)), 0);
	assert_int_equal(cf.tls, 0);
	gw_config_free(&cf);

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, fp), sizeof(nul) - 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(gw_config_load(path, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL byte"));

	assert_int_equal(gw_config_load(dir, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(gw_config_load(path, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(rmdir(dir), 0);
}

int
run_config_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_broker_tls),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_dump_broker_tls),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
