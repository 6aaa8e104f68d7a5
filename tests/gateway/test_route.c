/* The route table and the router over raw targets (gateway/route.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/route.h"
#include "tests/gateway/tests.h"

struct want {
	const char	*method;
	const char	*target;
	unsigned int	 status;	/* 0: matched */
	const char	*problem;	/* when refused */
	const char	*pattern;	/* when matched */
	const char	*upstream;	/* when proxied */
};

static const struct want table[] = {
	{ "GET", "/v1/health", 0, NULL, "/v1/health", NULL },
	{ "GET", "/v1/ready", 0, NULL, "/v1/ready", "/ready" },
	{ "GET", "/v1/providers", 0, NULL, "/v1/providers", "/providers" },
	{ "GET", "/v1/providers/github", 0, NULL, "/v1/providers/{provider}",
	    "/providers/github" },
	{ "GET", "/v1/providers/aws_iam-2/schema", 0, NULL,
	    "/v1/providers/{provider}/schema", "/providers/aws_iam-2/schema" },
	{ "POST", "/v1/connect/sessions", 0, NULL, "/v1/connect/sessions",
	    "/connect/sessions" },
	{ "GET", "/v1/connect?session=abc", 0, NULL, "/v1/connect", NULL },
	{ "GET", "/v1/auth/start?session=s1&provider=github", 0, NULL,
	    "/v1/auth/start", "/auth/start?session=s1&provider=github" },
	{ "GET", "/v1/auth/callback/github?code=a%2Fb&state=x~y", 0, NULL,
	    "/v1/auth/callback/{provider}",
	    "/auth/callback/github?code=a%2Fb&state=x~y" },
	{ "POST", "/v1/connections", 0, NULL, "/v1/connections",
	    "/connections" },
	{ "GET", "/v1/connections", 0, NULL, "/v1/connections",
	    "/connections" },
	/* A query on a route that does not forward one is dropped. */
	{ "GET", "/v1/connections?x=1", 0, NULL, "/v1/connections",
	    "/connections" },
	{ "GET", "/v1/connections?bad query", 0, NULL, "/v1/connections",
	    "/connections" },
	{ "GET", "/v1/connections/Acme.GH_1-x", 0, NULL,
	    "/v1/connections/{connection}", "/connections/Acme.GH_1-x" },
	{ "DELETE", "/v1/connections/acme", 0, NULL,
	    "/v1/connections/{connection}", "/connections/acme" },
	{ "GET", "/v1/token/acme-github", 0, NULL, "/v1/token/{connection}",
	    "/token/acme-github" },
	{ "POST", "/v1/token/acme-github/refresh", 0, NULL,
	    "/v1/token/{connection}/refresh", "/token/acme-github/refresh" },
	{ "GET", "/v1/openapi.json", 0, NULL, "/v1/openapi.json", NULL },
	{ "GET", "/v1/token/a...b", 0, NULL, "/v1/token/{connection}",
	    "/token/a...b" },

	/* Unknown resources. */
	{ "GET", "/", 404, "not-found", NULL, NULL },
	{ "GET", "/v1", 404, "not-found", NULL, NULL },
	{ "GET", "/v1/", 404, "not-found", NULL, NULL },
	{ "GET", "/v1/providers/", 404, "not-found", NULL, NULL },
	{ "GET", "/v1//providers", 404, "not-found", NULL, NULL },
	{ "GET", "/v2/providers", 404, "not-found", NULL, NULL },
	{ "GET", "/providers", 404, "not-found", NULL, NULL },
	{ "GET", "/V1/providers", 404, "not-found", NULL, NULL },
	{ "GET", "/v1/token/a/b", 404, "not-found", NULL, NULL },
	{ "GET", "/v1/a/b/c/d/e/f/g/h/i/j", 404, "not-found", NULL, NULL },

	/* Wrong methods. */
	{ "PUT", "/v1/token/acme", 405, "method-not-allowed", NULL, NULL },
	{ "HEAD", "/v1/providers", 405, "method-not-allowed", NULL, NULL },
	{ "get", "/v1/providers", 405, "method-not-allowed", NULL, NULL },
	{ "POST", "/v1/openapi.json", 405, "method-not-allowed", NULL, NULL },

	/* Hostile paths. */
	{ "GET", "/v1/connections/..%2f..", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/connections/%2e%2e", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/a%2Fb", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/../x", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/./providers", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/..", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/.", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/providers/..", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/providers#frag", 400, "invalid-path", NULL, NULL },
	{ "GET", "http://evil/v1/providers", 400, "invalid-path", NULL, NULL },
	{ "GET", "*", 400, "invalid-path", NULL, NULL },
	{ "GET", "", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/a;b", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/a b", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/a\\b", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/a\r\nX: y", 400, "invalid-path", NULL, NULL },
	{ "GET", "/v1/token/\xc3\xa9", 400, "invalid-path", NULL, NULL },

	/* Parameters outside their patterns. */
	{ "GET", "/v1/providers/GitHub", 400, "invalid-parameter", NULL, NULL },
	{ "GET", "/v1/providers/a.b", 400, "invalid-parameter", NULL, NULL },
	{ "GET", "/v1/providers/a~b", 400, "invalid-parameter", NULL, NULL },
	{ "GET", "/v1/token/a~b", 400, "invalid-parameter", NULL, NULL },
	{ "GET", "/v1/auth/callback/GH", 400, "invalid-parameter", NULL,
	    NULL },

	/* Query strings forwarded verbatim must be well formed. */
	{ "GET", "/v1/auth/start?a=%zz", 400, "invalid-query", NULL, NULL },
	{ "GET", "/v1/auth/start?a=%2", 400, "invalid-query", NULL, NULL },
	{ "GET", "/v1/auth/start?a=b c", 400, "invalid-query", NULL, NULL },
	{ "GET", "/v1/auth/start?a=\"b\"", 400, "invalid-query", NULL, NULL },
	{ "GET", "/v1/auth/start?a=<b>", 400, "invalid-query", NULL, NULL },
	{ "GET", "/v1/auth/start?a=\r\n", 400, "invalid-query", NULL, NULL },
};

static void
test_table(void **state)
{
	struct gw_match	 m;
	size_t		 i;
	int		 rv;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		rv = gw_route_match(table[i].method, table[i].target, &m);
		if (table[i].status == 0) {
			if (rv != 0)
				fail_msg("%s %s: refused %u %s",
				    table[i].method, table[i].target, m.status,
				    m.problem);
			assert_string_equal(m.route->pattern, table[i].pattern);
			assert_ptr_equal(m.route, &gw_routes[m.index]);
			if (table[i].upstream != NULL)
				assert_string_equal(m.upstream,
				    table[i].upstream);
			else
				assert_null(m.route->upstream);
			continue;
		}
		if (rv != -1 || m.status != table[i].status ||
		    strcmp(m.problem, table[i].problem) != 0)
			fail_msg("%s %s: got %d %u %s, want %u %s",
			    table[i].method, table[i].target, rv, m.status,
			    m.problem ? m.problem : "-", table[i].status,
			    table[i].problem);
		assert_null(m.route);
	}
}

static void
test_allow(void **state)
{
	struct gw_match	 m;

	(void)state;
	assert_int_equal(gw_route_match("PATCH", "/v1/connections/x", &m), -1);
	assert_int_equal(m.status, 405);
	assert_string_equal(m.allow, "GET, DELETE, OPTIONS");
	assert_int_equal(gw_route_match("DELETE", "/v1/connections", &m), -1);
	assert_string_equal(m.allow, "POST, GET, OPTIONS");
	assert_int_equal(gw_route_match("GET", "/v1/token/x/refresh", &m), -1);
	assert_string_equal(m.allow, "POST, OPTIONS");
}

static void
test_options(void **state)
{
	struct gw_match	 m;

	(void)state;
	/* A preflight matches the path, whatever the methods. */
	assert_int_equal(gw_route_match("OPTIONS", "/v1/connections", &m), 0);
	assert_string_equal(m.allow, "POST, GET, OPTIONS");
	assert_null(m.query);
	assert_int_equal(gw_route_match("OPTIONS", "/v1/nope", &m), -1);
	assert_int_equal(m.status, 404);
	assert_int_equal(gw_route_match("OPTIONS", "/v1/../x", &m), -1);
	assert_int_equal(m.status, 400);
	/* Parameters are judged for a preflight too (found by fuzz/gwroute). */
	assert_int_equal(gw_route_match("OPTIONS", "/v1/token/ae-github~E8",
	    &m), -1);
	assert_string_equal(m.problem, "invalid-parameter");
	assert_int_equal(gw_route_match("OPTIONS", "/v1/token/ok", &m), 0);
	assert_string_equal(gw_match_param(&m, "connection"), "ok");
}

static void
test_params(void **state)
{
	struct gw_match	 m;
	char		 target[256], id[130];

	(void)state;
	assert_int_equal(gw_route_match("GET",
	    "/v1/auth/callback/github?code=1", &m), 0);
	assert_string_equal(gw_match_param(&m, "provider"), "github");
	assert_null(gw_match_param(&m, "connection"));
	assert_int_equal(m.querylen, 6);

	/* 128 characters is the longest connection id; 129 is refused. */
	memset(id, 'a', 128);
	id[128] = '\0';
	snprintf(target, sizeof(target), "/v1/token/%s", id);
	assert_int_equal(gw_route_match("GET", target, &m), 0);
	assert_string_equal(gw_match_param(&m, "connection"), id);
	id[128] = 'a';
	id[129] = '\0';
	snprintf(target, sizeof(target), "/v1/token/%s", id);
	assert_int_equal(gw_route_match("GET", target, &m), -1);
	assert_int_equal(m.status, 400);
	assert_string_equal(m.problem, "invalid-parameter");
	/* Too long a parameter on a path that matches nothing: 404. */
	snprintf(target, sizeof(target), "/v1/nothing/%s", id);
	assert_int_equal(gw_route_match("GET", target, &m), -1);
	assert_int_equal(m.status, 404);

	assert_true(gw_param_ok("provider", "a", 1));
	assert_false(gw_param_ok("provider", "", 0));
	memset(id, 'a', 65);
	assert_true(gw_param_ok("provider", id, 64));
	assert_false(gw_param_ok("provider", id, 65));
	assert_false(gw_param_ok("connection", "..", 2));
	assert_false(gw_param_ok("connection", ".", 1));
	assert_true(gw_param_ok("connection", "...", 3));
	assert_false(gw_param_ok("other", "a", 1));
}

static void
test_long_targets(void **state)
{
	static char	 target[GW_TARGET_MAX + 64];
	struct gw_match	 m;

	(void)state;
	memset(target, 'a', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = '\0';
	assert_int_equal(gw_route_match("GET", target, &m), -1);
	assert_int_equal(m.status, 414);
	/* A query over the limit on a route that forwards it. */
	snprintf(target, sizeof(target), "/v1/auth/start?");
	memset(target + strlen(target), 'q', GW_QUERY_MAX + 1);
	target[strlen("/v1/auth/start?") + GW_QUERY_MAX + 1] = '\0';
	assert_int_equal(gw_route_match("GET", target, &m), -1);
	assert_int_equal(m.status, 400);
	assert_int_equal(gw_route_match(NULL, "/v1/health", &m), -1);
	assert_int_equal(gw_route_match("GET", NULL, &m), -1);
}

/* Every row's pattern is well formed and forwards what it names. */
static void
test_table_sane(void **state)
{
	size_t		 i, j;
	const char	*p;

	(void)state;
	assert_true(gw_nroutes >= 16);
	for (i = 0; i < gw_nroutes; i++) {
		p = gw_routes[i].pattern;
		assert_true(strncmp(p, "/v1/", 4) == 0);
		assert_true((gw_routes[i].upstream == NULL) ==
		    (gw_routes[i].local != GW_PROXY));
		for (j = 0; j < i; j++)
			assert_false(strcmp(gw_routes[j].pattern, p) == 0 &&
			    strcmp(gw_routes[j].method,
			    gw_routes[i].method) == 0);
		if (gw_routes[i].upstream != NULL)
			assert_int_equal(gw_routes[i].upstream[0], '/');
	}
}

int
run_route_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_long_targets),
		cmocka_unit_test(test_table_sane),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
