/* gateway.conf (gateway/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	assert_int_equal(parse("listen \"127.0.0.1:8443\"\ntls off\n", &cf,
	    err, sizeof(err)), 0);
	assert_int_equal(cf.tls, 0);
	assert_string_equal(cf.broker_socket, "/run/dromos/broker.sock");
	assert_string_equal(cf.user, "_dromosgw");
	assert_int_equal(cf.body_limit, 65536);
	assert_int_equal(cf.metrics.line, 0);
	assert_false(cf.rl_client.off);
	assert_true(cf.rl_refresh.per_minute);
	gw_config_free(&cf);
	assert_int_equal(parse("listen \"127.0.0.1:8443\"\ntls off\n"
	    "rate limit client off\n", &cf, err, sizeof(err)), 0);
	assert_true(cf.rl_client.off);
	assert_true(gw_rate_per_second(&cf.rl_client) == 0.0);
	gw_config_free(&cf);
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

int
run_config_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_dump_round_trip),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
