/*
 * The embedded OpenAPI document against the route table: every route is
 * in the document with its method, and every operation of the document is
 * a route.  (The end-to-end suite checks the same through dromos-gateway
 * -R and the file.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/route.h"
#include "gateway/server.h"
#include "tests/gateway/tests.h"

static json_t *
load(void)
{
	json_error_t	 err;
	json_t		*doc;

	doc = json_loadb((const char *)gw_openapi, gw_openapi_len,
	    JSON_REJECT_DUPLICATES, &err);
	if (doc == NULL)
		fail_msg("openapi.json:%d: %s", err.line, err.text);
	return doc;
}

static void
test_document(void **state)
{
	json_t	*doc = load();

	(void)state;
	assert_true(json_is_object(doc));
	assert_int_equal(strncmp(json_string_value(json_object_get(doc,
	    "openapi")), "3.1", 3), 0);
	assert_int_equal(gw_openapi[gw_openapi_len], '\0');
	json_decref(doc);
}

static void
test_routes_in_document(void **state)
{
	json_t		*doc = load(), *paths, *item;
	char		 m[16];
	size_t		 i, j;

	(void)state;
	paths = json_object_get(doc, "paths");
	for (i = 0; i < gw_nroutes; i++) {
		item = json_object_get(paths, gw_routes[i].pattern);
		if (item == NULL)
			fail_msg("%s is not in openapi.json",
			    gw_routes[i].pattern);
		for (j = 0; gw_routes[i].method[j] != '\0' &&
		    j < sizeof(m) - 1; j++)
			m[j] = (char)(gw_routes[i].method[j] | 0x20);
		m[j] = '\0';
		if (json_object_get(item, m) == NULL)
			fail_msg("%s %s is not in openapi.json",
			    gw_routes[i].method, gw_routes[i].pattern);
	}
	json_decref(doc);
}

static void
test_document_in_routes(void **state)
{
	json_t		*doc = load(), *item, *op;
	const char	*path, *method;
	size_t		 i;
	int		 found;

	(void)state;
	json_object_foreach(json_object_get(doc, "paths"), path, item) {
		json_object_foreach(item, method, op) {
			for (found = 0, i = 0; i < gw_nroutes && !found; i++)
				found = strcmp(gw_routes[i].pattern, path) ==
				    0 && strcasecmp(gw_routes[i].method,
				    method) == 0;
			if (!found)
				fail_msg("openapi.json has %s %s, the gateway "
				    "does not", method, path);
		}
	}
	json_decref(doc);
}

int
run_openapi_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_routes_in_document),
		cmocka_unit_test(test_document_in_routes),
	};

	return cmocka_run_group_tests_name("openapi", tests, NULL, NULL);
}
