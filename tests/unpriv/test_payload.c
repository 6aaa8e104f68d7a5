/*
 * Unit tests for unpriv/payload.c: the payload of every strategy, field
 * by field (the whole document is compared); what happens when a value is
 * missing or unusable; and the template scanner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/unpriv/tests.h"
#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static json_t *
load(const char *text)
{
	json_error_t	 err;
	json_t		*j;

	j = json_loads(text, JSON_DECODE_ANY, &err);
	if (j == NULL)
		fail_msg("bad test JSON at %d: %s: %s", err.position, err.text,
		    text);
	return j;
}

/* A provider of auth_mode mode with these properties, required and apply. */
static json_t *
provider(const char *mode, const char *props, const char *required,
    const char *apply)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	char	 buf[4096];
	json_t	*doc;

	snprintf(buf, sizeof(buf), "{\"id\":\"acme\",\"display_name\":\"Acme\","
	    "\"auth_mode\":\"%s\",\"credentials\":{\"type\":\"object\","
	    "\"properties\":{%s},\"required\":[%s]},\"apply\":%s}", mode,
	    props, required, apply);
	doc = load(buf);
	if (provider_check(doc, NULL, path, sizeof(path), reason,
	    sizeof(reason)) != 0)
		fail_msg("test provider refused: %s: %s", path, reason);
	return doc;
}

#define STR(n)		"\"" n "\":{\"type\":\"string\"}"
#define SEC(n)		"\"" n "\":{\"type\":\"string\",\"secret\":true}"

struct pl_case {
	const char	*mode;
	const char	*props;
	const char	*required;
	const char	*apply;
	const char	*values;
	const char	*expires;
	const char	*want;		/* the whole payload */
};

static const struct pl_case pl_cases[] = {
	{ "bearer", SEC("tok"), "\"tok\"",
	    "{\"strategy\":\"bearer\",\"token\":\"{tok}\"}",
	    "{\"tok\":\"t0k3n\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"bearer\",\"expires_at\":null,"
	    "\"credentials\":{\"token\":\"t0k3n\"}}" },
	{ "basic_auth", STR("u") "," SEC("p"), "\"u\",\"p\"",
	    "{\"strategy\":\"basic_auth\",\"username\":\"{u}\","
	    "\"password\":\"{p}\"}",
	    "{\"u\":\"alice\",\"p\":\"pa:ss w\\u00f6rd\"}",
	    "2026-11-27T05:00:00Z",
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"basic_auth\",\"expires_at\":"
	    "\"2026-11-27T05:00:00Z\",\"credentials\":{\"username\":\"alice\","
	    "\"password\":\"pa:ss w\\u00f6rd\"}}" },
	/* A literal username, and a template around a value. */
	{ "basic_auth", SEC("p"), "\"p\"",
	    "{\"strategy\":\"basic_auth\",\"username\":\"api\","
	    "\"password\":\"x-{p}-y\"}", "{\"p\":\"123\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"basic_auth\",\"expires_at\":null,"
	    "\"credentials\":{\"username\":\"api\",\"password\":\"x-123-y\"}}" },
	{ "api_key", SEC("k"), "\"k\"",
	    "{\"strategy\":\"api_key\",\"in\":\"header\",\"name\":"
	    "\"Authorization\",\"prefix\":\"Bearer \",\"key\":\"{k}\"}",
	    "{\"k\":\"sk-abc\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"api_key\",\"expires_at\":null,"
	    "\"credentials\":{\"key\":\"sk-abc\",\"in\":\"header\","
	    "\"name\":\"Authorization\",\"prefix\":\"Bearer \"}}" },
	/* No prefix: none in the payload. */
	{ "api_key", SEC("k"), "\"k\"",
	    "{\"strategy\":\"api_key\",\"in\":\"query\",\"name\":\"api_key\","
	    "\"key\":\"{k}\"}", "{\"k\":\"abc\",\"unused\":\"zz\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"api_key\",\"expires_at\":null,"
	    "\"credentials\":{\"key\":\"abc\",\"in\":\"query\","
	    "\"name\":\"api_key\"}}" },
	/* A prefix naming an optional value: filled when it is given... */
	{ "api_key", SEC("k") "," STR("scheme"), "\"k\"",
	    "{\"strategy\":\"api_key\",\"in\":\"header\",\"name\":\"X-K\","
	    "\"prefix\":\"{scheme} \",\"key\":\"{k}\"}",
	    "{\"k\":\"abc\",\"scheme\":\"Token\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"api_key\",\"expires_at\":null,"
	    "\"credentials\":{\"key\":\"abc\",\"in\":\"header\","
	    "\"name\":\"X-K\",\"prefix\":\"Token \"}}" },
	/* ...and left out when it is not. */
	{ "api_key", SEC("k") "," STR("scheme"), "\"k\"",
	    "{\"strategy\":\"api_key\",\"in\":\"header\",\"name\":\"X-K\","
	    "\"prefix\":\"{scheme} \",\"key\":\"{k}\"}",
	    "{\"k\":\"abc\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"api_key\",\"expires_at\":null,"
	    "\"credentials\":{\"key\":\"abc\",\"in\":\"header\","
	    "\"name\":\"X-K\"}}" },
	{ "aws_sigv4", STR("akid") "," SEC("sk") "," SEC("st") "," STR("rg"),
	    "\"akid\",\"sk\",\"rg\"",
	    "{\"strategy\":\"aws_sigv4\",\"access_key_id\":\"{akid}\","
	    "\"secret_access_key\":\"{sk}\",\"session_token\":\"{st}\","
	    "\"region\":\"{rg}\",\"service\":\"execute-api\"}",
	    "{\"akid\":\"ASIAEXAMPLE\",\"sk\":\"s/k+\",\"st\":\"tok==\","
	    "\"rg\":\"eu-west-1\"}", "2026-01-01T00:00:00.5+02:00",
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"aws_sigv4\",\"expires_at\":"
	    "\"2026-01-01T00:00:00.5+02:00\",\"credentials\":{"
	    "\"access_key_id\":\"ASIAEXAMPLE\",\"secret_access_key\":\"s/k+\","
	    "\"session_token\":\"tok==\",\"region\":\"eu-west-1\","
	    "\"service\":\"execute-api\"}}" },
	/* Long-term keys: no session token. */
	{ "aws_sigv4", STR("akid") "," SEC("sk") "," SEC("st") "," STR("rg"),
	    "\"akid\",\"sk\",\"rg\"",
	    "{\"strategy\":\"aws_sigv4\",\"access_key_id\":\"{akid}\","
	    "\"secret_access_key\":\"{sk}\",\"session_token\":\"{st}\","
	    "\"region\":\"{rg}\",\"service\":\"s3\"}",
	    "{\"akid\":\"AKIAEXAMPLE\",\"sk\":\"sk\",\"rg\":\"us-east-1\","
	    "\"st\":null}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"aws_sigv4\",\"expires_at\":null,\"credentials\":{"
	    "\"access_key_id\":\"AKIAEXAMPLE\",\"secret_access_key\":\"sk\","
	    "\"region\":\"us-east-1\",\"service\":\"s3\"}}" },
	{ "headers", STR("team") "," SEC("key"), "\"team\",\"key\"",
	    "{\"strategy\":\"headers\",\"headers\":{\"X-Team\":\"{team}\","
	    "\"X-Key\":\"{key}\",\"X-Both\":\"{{{team}}}:{key}\","
	    "\"X-Static\":\"v1\"}}",
	    "{\"team\":\"red\",\"key\":\"k3y\"}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"headers\",\"expires_at\":null,\"credentials\":{"
	    "\"headers\":{\"X-Team\":\"red\",\"X-Key\":\"k3y\","
	    "\"X-Both\":\"{red}:k3y\",\"X-Static\":\"v1\"}}}" },
	/* Numbers and booleans are written out. */
	{ "headers", "\"n\":{\"type\":\"integer\"},\"b\":{\"type\":"
	    "\"boolean\"},\"r\":{\"type\":\"number\"}", "\"n\",\"b\",\"r\"",
	    "{\"strategy\":\"headers\",\"headers\":{\"X-N\":\"{n}/{b}/{r}\"}}",
	    "{\"n\":-42,\"b\":true,\"r\":0.5}", NULL,
	    "{\"connection\":\"acme-1\",\"provider\":\"acme\","
	    "\"strategy\":\"headers\",\"expires_at\":null,\"credentials\":{"
	    "\"headers\":{\"X-N\":\"-42/true/0.5\"}}}" },
};

static void
test_payload_strategies(void **state)
{
	char	 reason[SCHEMA_REASON_MAX];
	json_t	*doc, *values, *out, *want;
	char	*got;
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(pl_cases); i++) {
		const struct pl_case	*c = &pl_cases[i];

		doc = provider(c->mode, c->props, c->required, c->apply);
		values = load(c->values);
		if (payload_build(doc, "acme-1", values, c->expires, &out,
		    reason, sizeof(reason)) != 0)
			fail_msg("case %zu: %s", i, reason);
		want = load(c->want);
		if (!json_equal(out, want)) {
			got = json_dumps(out, JSON_COMPACT);
			fail_msg("case %zu: got %s", i, got);
		}
		json_decref(want);
		json_decref(out);
		json_decref(values);
		json_decref(doc);
	}
}

static void
test_payload_oauth2(void **state)
{
	static const struct {
		const char	*values, *want;
	} ok[] = {
		{ "{\"access_token\":\"gho_abc\"}",
		    "{\"access_token\":\"gho_abc\",\"token_type\":\"Bearer\"}" },
		{ "{\"access_token\":\"gho_abc\",\"token_type\":\"bearer\"}",
		    "{\"access_token\":\"gho_abc\",\"token_type\":\"Bearer\"}" },
		{ "{\"access_token\":\"gho_abc\",\"token_type\":\"BeArEr\"}",
		    "{\"access_token\":\"gho_abc\",\"token_type\":\"Bearer\"}" },
		{ "{\"access_token\":\"a\",\"token_type\":\"DPoP\","
		    "\"refresh_token\":\"never-shown\"}",
		    "{\"access_token\":\"a\",\"token_type\":\"DPoP\"}" },
		{ "{\"access_token\":\"a\",\"token_type\":null}",
		    "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}" },
	};
	static const char *const bad[] = {
		"{}",
		"{\"access_token\":\"\"}",
		"{\"access_token\":5}",
		"{\"access_token\":\"a\\r\\nX-Evil: 1\"}",
		"{\"access_token\":\"a\",\"token_type\":\"Bear er\"}",
		"{\"access_token\":\"a\",\"token_type\":\"\"}",
		"{\"access_token\":\"a\",\"token_type\":7}",
	};
	char	 reason[SCHEMA_REASON_MAX];
	json_t	*doc, *values, *out, *want;
	size_t	 i;

	(void)state;
	doc = load("{\"id\":\"github\",\"display_name\":\"GitHub\","
	    "\"auth_mode\":\"oauth2\",\"authorization_url\":"
	    "\"https://github.com/login/oauth/authorize\",\"token_url\":"
	    "\"https://github.com/login/oauth/access_token\"}");
	for (i = 0; i < NELEM(ok); i++) {
		values = load(ok[i].values);
		assert_int_equal(payload_build(doc, "acme-github", values,
		    "2026-11-27T05:00:00Z", &out, reason, sizeof(reason)), 0);
		assert_string_equal(json_string_value(json_object_get(out,
		    "strategy")), "oauth2");
		assert_string_equal(json_string_value(json_object_get(out,
		    "connection")), "acme-github");
		assert_string_equal(json_string_value(json_object_get(out,
		    "provider")), "github");
		assert_string_equal(json_string_value(json_object_get(out,
		    "expires_at")), "2026-11-27T05:00:00Z");
		assert_int_equal(json_object_size(out), 5);
		want = load(ok[i].want);
		assert_true(json_equal(json_object_get(out, "credentials"),
		    want));
		json_decref(want);
		json_decref(out);
		json_decref(values);
	}
	for (i = 0; i < NELEM(bad); i++) {
		values = load(bad[i]);
		out = (json_t *)1;
		if (payload_build(doc, "acme-github", values, NULL, &out,
		    reason, sizeof(reason)) == 0)
			fail_msg("bad oauth2 values %zu accepted", i);
		assert_null(out);
		assert_true(reason[0] != '\0');
		assert_null(strstr(reason, "Evil"));
		json_decref(values);
	}
	json_decref(doc);
}

/* Everything that must fail, with nothing half-built left behind. */
static void
test_payload_errors(void **state)
{
	static const struct {
		const char	*values;
		const char	*reason;
	} bad[] = {
		/* A required value missing, or null. */
		{ "{\"team\":\"red\"}", "needs key" },
		{ "{\"team\":\"red\",\"key\":null}", "needs key" },
		{ "{\"key\":\"SECRET-KEY\"}", "needs team" },
		/* Unusable values. */
		{ "{\"team\":\"red\",\"key\":[\"SECRET-KEY\"]}",
		    "not a string" },
		{ "{\"team\":\"red\",\"key\":{}}", "not a string" },
		{ "{\"team\":\"red\",\"key\":\"SECRET\\r\\nX-Evil: 1\"}",
		    "control" },
		{ "{\"team\":\"red\",\"key\":\"SECRET\\u007f\"}", "control" },
		{ "[]", "not an object" },
	};
	char	 reason[SCHEMA_REASON_MAX];
	json_t	*doc, *values, *out;
	size_t	 i;

	(void)state;
	doc = provider("headers", STR("team") "," SEC("key"),
	    "\"team\",\"key\"", "{\"strategy\":\"headers\",\"headers\":"
	    "{\"X-Team\":\"{team}\",\"X-Key\":\"{key}\"}}");
	for (i = 0; i < NELEM(bad); i++) {
		values = load(bad[i].values);
		out = (json_t *)1;
		if (payload_build(doc, "acme-1", values, NULL, &out, reason,
		    sizeof(reason)) == 0)
			fail_msg("bad values %zu accepted", i);
		assert_null(out);
		if (strstr(reason, bad[i].reason) == NULL)
			fail_msg("bad values %zu: \"%s\", want \"...%s...\"",
			    i, reason, bad[i].reason);
		assert_null(strstr(reason, "SECRET"));
		assert_null(strstr(reason, "red"));
		json_decref(values);
	}

	/* A required template field whose value is absent. */
	{
		json_t	*bdoc;

		bdoc = provider("basic_auth", STR("u") "," SEC("p"),
		    "\"u\",\"p\"", "{\"strategy\":\"basic_auth\","
		    "\"username\":\"{u}\",\"password\":\"{p}\"}");
		values = load("{\"u\":\"alice\"}");
		out = (json_t *)1;
		assert_int_equal(payload_build(bdoc, "acme-1", values, NULL,
		    &out, reason, sizeof(reason)), -1);
		assert_null(out);
		assert_string_equal(reason, "apply.password needs p, which "
		    "has no value");
		json_decref(values);
		json_decref(bdoc);
	}

	/* A NUL inside a value. */
	values = json_pack("{s:s, s:s%}", "team", "red", "key", "a\0b",
	    (size_t)3);
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	assert_null(out);
	json_decref(values);

	/* The arguments. */
	values = load("{\"team\":\"red\",\"key\":\"k\"}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), 0);
	json_decref(out);
	assert_int_equal(payload_build(doc, "acme 1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, "connection"));
	assert_int_equal(payload_build(doc, "", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	assert_int_equal(payload_build(doc, NULL, values, NULL, &out,
	    reason, sizeof(reason)), -1);
	assert_int_equal(payload_build(doc, "acme-1", values, "tomorrow",
	    &out, reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, "expires_at"));
	assert_null(out);
	json_decref(doc);

	/* A document that never passed the checker: errors, no crash. */
	doc = load("{\"id\":\"x\",\"auth_mode\":\"bearer\"}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	json_decref(doc);
	doc = load("{\"id\":\"x\",\"auth_mode\":\"bearer\",\"apply\":"
	    "{\"strategy\":\"bearer\",\"token\":\"{a\",\"x\":1}}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	json_decref(doc);
	doc = load("{\"id\":\"x\",\"auth_mode\":\"bearer\",\"apply\":"
	    "{\"strategy\":\"bearer\",\"token\":\"{a\"}}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, "without a }"));
	json_decref(doc);
	doc = load("{\"id\":\"x\",\"auth_mode\":\"nope\",\"apply\":"
	    "{\"strategy\":\"nope\"}}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	json_decref(doc);
	doc = load("{}");
	assert_int_equal(payload_build(doc, "acme-1", values, NULL, &out,
	    reason, sizeof(reason)), -1);
	json_decref(doc);
	json_decref(values);
}

/* The longest filled field is PAYLOAD_VALUE_MAX bytes. */
static void
test_payload_size(void **state)
{
	char	 reason[SCHEMA_REASON_MAX], *big;
	json_t	*doc, *values, *out;

	(void)state;
	doc = provider("bearer", SEC("t"), "\"t\"",
	    "{\"strategy\":\"bearer\",\"token\":\"x{t}\"}");
	big = malloc(PAYLOAD_VALUE_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', PAYLOAD_VALUE_MAX);
	big[PAYLOAD_VALUE_MAX - 1] = '\0';
	values = json_pack("{s:s}", "t", big);
	assert_int_equal(payload_build(doc, "c", values, NULL, &out, reason,
	    sizeof(reason)), 0);
	assert_int_equal(json_string_length(json_object_get(json_object_get(
	    out, "credentials"), "token")), PAYLOAD_VALUE_MAX);
	json_decref(out);
	json_decref(values);
	big[PAYLOAD_VALUE_MAX - 1] = 'a';
	big[PAYLOAD_VALUE_MAX] = '\0';
	values = json_pack("{s:s}", "t", big);
	assert_int_equal(payload_build(doc, "c", values, NULL, &out, reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "longer than"));
	json_decref(values);
	free(big);
	json_decref(doc);
}

/* ---- templates ---- */

/* The pieces of a template as one string: text as is, refs as <name>. */
static int
scan(const char *s, char *out, size_t outsz, const char **why)
{
	struct tmpl	 t;
	enum tmpl_piece	 k;
	const char	*p;
	size_t		 n, len = 0;

	out[0] = '\0';
	tmpl_init(&t, s, strlen(s));
	while ((k = tmpl_next(&t, &p, &n)) != TMPL_END) {
		if (k == TMPL_ERROR) {
			*why = t.why;
			/* The error sticks. */
			assert_int_equal(tmpl_next(&t, &p, &n), TMPL_ERROR);
			return -1;
		}
		len += (size_t)snprintf(out + len, outsz - len,
		    k == TMPL_REF ? "<%.*s>" : "%.*s", (int)n, p);
		assert_true(len < outsz);
	}
	return 0;
}

static void
test_templates(void **state)
{
	static const struct {
		const char	*in, *out;
	} ok[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "{a}", "<a>" },
		{ "x{a}y{_b9}z", "x<a>y<_b9>z" },
		{ "{{a}}", "{a}" },
		{ "{{{a}}}", "{<a>}" },
		{ "}}{{", "}{" },
		{ "{a}}}", "<a>}" },
		{ "{a}{b}", "<a><b>" },
	};
	static const char *const bad[] = {
		"{", "}", "{a", "a}", "{}", "{9}", "{a-b}", "{{a}", "{a}}", "{a}}}}",
		"{a{b}}", "{ a}",
		("{a2345678901234567890123456789012345678901234567890123456789"
		    "012345}"),
	};
	char		 out[128];
	const char	*why;
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		if (scan(ok[i].in, out, sizeof(out), &why) != 0)
			fail_msg("template \"%s\": %s", ok[i].in, why);
		assert_string_equal(out, ok[i].out);
	}
	for (i = 0; i < NELEM(bad); i++) {
		why = NULL;
		if (scan(bad[i], out, sizeof(out), &why) == 0)
			fail_msg("template \"%s\" accepted", bad[i]);
		assert_non_null(why);
	}
	assert_non_null(payload_strategy("api_key"));
	assert_null(payload_strategy("oauth2"));
	assert_null(payload_strategy(""));
	assert_int_equal(payload_connection_ok("acme.github_2-x"), 1);
	assert_int_equal(payload_connection_ok("acme/github"), 0);
}

int
run_payload_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_strategies),
		cmocka_unit_test(test_payload_oauth2),
		cmocka_unit_test(test_payload_errors),
		cmocka_unit_test(test_payload_size),
		cmocka_unit_test(test_templates),
	};

	return cmocka_run_group_tests_name("payload", tests, NULL, NULL);
}
