/*
 * Unit tests for unpriv/schema.c: which schema documents the checker
 * accepts and where it points at the ones it refuses; which captures the
 * validator accepts, every error it reports, and that no reason ever
 * carries the value it judged.
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

/* ---- schema_check ---- */

static const char *const valid_schemas[] = {
	"{\"type\":\"object\",\"properties\":{}}",
	"{\"properties\":{},\"type\":\"object\",\"required\":[]}",
	"{\"type\":\"object\",\"title\":\"T\",\"description\":\"D\","
	    "\"additionalProperties\":false,\"properties\":{"
	    "\"a\":{\"type\":\"string\",\"title\":\"A\",\"description\":\"d\","
	    "\"pattern\":\"^[a-z_-]{1,255}$\",\"format\":\"hostname\","
	    "\"minLength\":1,\"maxLength\":8192,\"secret\":true},"
	    "\"b\":{\"type\":\"integer\",\"enum\":[1,2,3],\"default\":2},"
	    "\"c\":{\"type\":\"number\",\"default\":1.5,\"secret\":false},"
	    "\"d\":{\"type\":\"boolean\",\"default\":true},"
	    "\"e\":{\"type\":\"string\",\"enum\":[\"x\",\"y\"],"
	    "\"default\":\"y\"},"
	    "\"_F9\":{\"type\":\"string\",\"format\":\"date-time\"}},"
	    "\"required\":[\"a\",\"b\"]}",
	/* The dialect: escapes of specials, groups, alternation, a counted
	 * repetition beside (not inside) another. */
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
	    "\"pattern\":\"^a\\\\.b\\\\\\\\c\\\\{\\\\}\\\\[x\\\\]$\"}}}",
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
	    "\"pattern\":\"^(ab|c{2})*d{3,}(e{1,2}f)?$\"}}}",
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
	    "\"pattern\":\"[^a-]|[.]\"}}}",
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
	    "\"pattern\":\"x\",\"default\":\"axb\"}}}",
	/* Repetitions that stay small once expanded. */
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\","
	    "\"pattern\":\"^(a{2}){3}([0-9a-f]{8}-){4}[a-z]{255}(x|y)+$\"}}}",
	/* An integral real is an integer; 1 and 1.5 are distinct. */
	"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\","
	    "\"enum\":[1,2.0]},\"m\":{\"type\":\"number\",\"enum\":[1,1.5]}}}",
};

struct bad_schema {
	const char	*json;
	const char	*path;
	const char	*reason;	/* a substring of the reason */
};

#define P(props)	"{\"type\":\"object\",\"properties\":{" props "}}"
#define S(kws)		P("\"a\":{\"type\":\"string\"," kws "}")
#define I(kws)		P("\"a\":{\"type\":\"integer\"," kws "}")

static const struct bad_schema bad_schemas[] = {
	{ "[]", "$", "must be an object" },
	{ "{\"properties\":{}}", "$.type", "is required" },
	{ "{\"type\":\"array\",\"properties\":{}}", "$.type", "object" },
	{ "{\"type\":\"object\"}", "$.properties", "is required" },
	{ "{\"type\":\"object\",\"properties\":{},"
	    "\"additionalProperties\":true}", "$.additionalProperties",
	    "false" },
	{ "{\"type\":\"object\",\"properties\":{},\"$schema\":\"x\"}",
	    "$['$schema']", "not a keyword" },
	{ "{\"type\":\"object\",\"properties\":[]}", "$.properties",
	    "object" },
	{ "{\"type\":\"object\",\"properties\":{},\"title\":1}", "$.title",
	    "string" },
	{ "{\"type\":\"object\",\"properties\":{},\"description\":false}",
	    "$.description", "string" },
	{ P("\"9a\":{\"type\":\"string\"}"), "$.properties['9a']",
	    "property name" },
	{ P("\"a-b\":{\"type\":\"string\"}"), "$.properties['a-b']",
	    "property name" },
	{ P("\"a\":\"string\""), "$.properties.a", "object" },
	{ P("\"a\":{\"title\":\"x\"}"), "$.properties.a.type", "required" },
	{ P("\"a\":{\"type\":\"object\"}"), "$.properties.a.type",
	    "string, integer" },
	{ P("\"a\":{\"type\":[\"string\",\"null\"]}"), "$.properties.a.type",
	    "string, integer" },
	{ S("\"patern\":\"x\""), "$.properties.a.patern", "not a keyword" },
	{ I("\"minimum\":1"), "$.properties.a.minimum", "not a keyword" },
	{ S("\"title\":2"), "$.properties.a.title", "string" },
	{ S("\"description\":[]"), "$.properties.a.description", "string" },
	{ S("\"secret\":\"yes\""), "$.properties.a.secret", "true or false" },
	{ I("\"pattern\":\"x\""), "$.properties.a.pattern", "only to strings" },
	{ I("\"format\":\"uuid\""), "$.properties.a.format",
	    "only to strings" },
	{ I("\"maxLength\":3"), "$.properties.a.maxLength",
	    "only to strings" },
	{ S("\"pattern\":3"), "$.properties.a.pattern", "string" },
	{ S("\"pattern\":\"\""), "$.properties.a.pattern", "empty" },
	{ S("\"pattern\":\"^(a$\""), "$.properties.a.pattern", "unbalanced" },
	{ S("\"pattern\":\"a)\""), "$.properties.a.pattern", "unbalanced" },
	{ S("\"pattern\":\"\\\\d+\""), "$.properties.a.pattern", "escapes" },
	{ S("\"pattern\":\"\\\\1\""), "$.properties.a.pattern", "escapes" },
	{ S("\"pattern\":\"a\\\\\""), "$.properties.a.pattern", "escapes" },
	{ S("\"pattern\":\"[\\\\d]\""), "$.properties.a.pattern",
	    "backslash inside" },
	{ S("\"pattern\":\"[[:alpha:]]\""), "$.properties.a.pattern", "[:" },
	{ S("\"pattern\":\"[]a]\""), "$.properties.a.pattern", "with ]" },
	{ S("\"pattern\":\"[^]a]\""), "$.properties.a.pattern", "with ]" },
	{ S("\"pattern\":\"[abc\""), "$.properties.a.pattern",
	    "unterminated" },
	{ S("\"pattern\":\"(a{255}b){255}\""), "$.properties.a.pattern",
	    "too complex" },
	{ S("\"pattern\":\"(((((((((((a+)+)+)+)+)+)+)+)+)+)+)+\""),
	    "$.properties.a.pattern", "too complex" },
	{ S("\"pattern\":\"((a{2})b)+{3}\""), "$.properties.a.pattern",
	    "another quantifier" },
	{ S("\"pattern\":\"a{2}{3}\""), "$.properties.a.pattern",
	    "another quantifier" },
	{ S("\"pattern\":\"a**\""), "$.properties.a.pattern",
	    "another quantifier" },
	{ S("\"pattern\":\"a*?\""), "$.properties.a.pattern",
	    "another quantifier" },
	{ S("\"pattern\":\"a{256}\""), "$.properties.a.pattern", "255" },
	{ S("\"pattern\":\"a{1,99999999999}\""), "$.properties.a.pattern",
	    "255" },
	{ S("\"pattern\":\"a{3,2}\""), "$.properties.a.pattern", "n < m" },
	{ S("\"pattern\":\"a{,3}\""), "$.properties.a.pattern",
	    "not a repetition" },
	{ S("\"pattern\":\"a{x}\""), "$.properties.a.pattern",
	    "not a repetition" },
	{ S("\"pattern\":\"a}\""), "$.properties.a.pattern", "outside" },
	{ S("\"pattern\":\"*a\""), "$.properties.a.pattern", "nothing" },
	{ S("\"pattern\":\"(?:a)\""), "$.properties.a.pattern", "nothing" },
	{ S("\"pattern\":\"a|+b\""), "$.properties.a.pattern", "nothing" },
	{ S("\"pattern\":\"\\u00e9\""), "$.properties.a.pattern", "ASCII" },
	{ S("\"pattern\":\"a\\tb\""), "$.properties.a.pattern", "ASCII" },
	{ S("\"format\":\"ipv4\""), "$.properties.a.format", "one of" },
	{ S("\"format\":1"), "$.properties.a.format", "one of" },
	{ S("\"minLength\":-1"), "$.properties.a.minLength", "0 to 8192" },
	{ S("\"minLength\":\"3\""), "$.properties.a.minLength", "0 to 8192" },
	{ S("\"minLength\":1.0"), "$.properties.a.minLength", "0 to 8192" },
	{ S("\"maxLength\":8193"), "$.properties.a.maxLength", "0 to 8192" },
	{ S("\"minLength\":5,\"maxLength\":4"), "$.properties.a.maxLength",
	    "less than minLength" },
	{ S("\"enum\":[]"), "$.properties.a.enum", "1 to 64" },
	{ S("\"enum\":\"a\""), "$.properties.a.enum", "1 to 64" },
	{ S("\"enum\":[\"a\",1]"), "$.properties.a.enum[1]", "type" },
	{ S("\"enum\":[\"a\",\"b\",\"a\"]"), "$.properties.a.enum[2]",
	    "repeats" },
	{ I("\"enum\":[1,1.0]"), "$.properties.a.enum[1]", "repeats" },
	{ I("\"enum\":[1.5]"), "$.properties.a.enum[0]", "type" },
	{ P("\"a\":{\"type\":\"boolean\",\"enum\":[true,\"false\"]}"),
	    "$.properties.a.enum[1]", "type" },
	{ S("\"secret\":true,\"enum\":[\"a\"]"), "$.properties.a.enum",
	    "secret" },
	{ S("\"secret\":true,\"default\":\"a\""), "$.properties.a.default",
	    "secret" },
	{ S("\"default\":1"), "$.properties.a.default", "a string" },
	{ S("\"pattern\":\"^x$\",\"default\":\"y\""), "$.properties.a.default",
	    "pattern" },
	{ S("\"maxLength\":1,\"default\":\"yy\""), "$.properties.a.default",
	    "at most 1" },
	{ S("\"enum\":[\"x\"],\"default\":\"y\""), "$.properties.a.default",
	    "allowed values" },
	{ S("\"format\":\"uuid\",\"default\":\"y\""), "$.properties.a.default",
	    "uuid" },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
	    "\"required\":\"a\"}", "$.required", "array" },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
	    "\"required\":[\"a\",\"b\"]}", "$.required[1]", "names no" },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
	    "\"required\":[\"a\",\"a\"]}", "$.required[1]", "repeats" },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
	    "\"required\":[1]}", "$.required[0]", "string" },
	/* The first error in document order is the one reported. */
	{ "{\"type\":\"object\",\"bogus\":1,\"properties\":{\"a\":1}}",
	    "$.bogus", "not a keyword" },
};

static void
test_valid_schemas(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(valid_schemas); i++) {
		s = load(valid_schemas[i]);
		if (schema_check(s, path, sizeof(path), reason,
		    sizeof(reason)) != 0)
			fail_msg("valid schema %zu refused: %s: %s", i, path,
			    reason);
		json_decref(s);
	}
}

static void
test_bad_schemas(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(bad_schemas); i++) {
		s = load(bad_schemas[i].json);
		if (schema_check(s, path, sizeof(path), reason,
		    sizeof(reason)) == 0)
			fail_msg("bad schema %zu accepted: %s", i,
			    bad_schemas[i].json);
		if (strcmp(path, bad_schemas[i].path) != 0 ||
		    strstr(reason, bad_schemas[i].reason) == NULL)
			fail_msg("bad schema %zu: got %s \"%s\", want %s "
			    "\"...%s...\"", i, path, reason,
			    bad_schemas[i].path, bad_schemas[i].reason);
		json_decref(s);
	}
}

/* Limits that need a generated document. */
static void
test_schema_limits(void **state)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	char	 name[16], big[SCHEMA_MAX_PATTERN + 8];
	json_t	*s, *props, *p;
	int	 i;

	(void)state;
	s = load(P(""));
	props = json_object_get(s, "properties");
	for (i = 0; i < SCHEMA_MAX_PROPS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		json_object_set_new(props, name, json_pack("{s:s}", "type",
		    "string"));
	}
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	json_object_set_new(props, "one_more", json_pack("{s:s}", "type",
	    "string"));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.properties");
	json_decref(s);

	/* A name of 64 characters is fine, 65 is not. */
	s = load(P(""));
	props = json_object_get(s, "properties");
	memset(big, 'n', 64);
	big[64] = '\0';
	json_object_set_new(props, big, json_pack("{s:s}", "type", "string"));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	big[64] = 'n';
	big[65] = '\0';
	json_object_set_new(props, big, json_pack("{s:s}", "type", "string"));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "property name"));
	json_decref(s);

	/* Patterns: 256 bytes are fine, 257 are not. */
	s = load(S("\"pattern\":\"x\""));
	p = json_object_get(json_object_get(s, "properties"), "a");
	memset(big, 'a', SCHEMA_MAX_PATTERN);
	big[SCHEMA_MAX_PATTERN] = '\0';
	json_object_set_new(p, "pattern", json_string(big));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	big[SCHEMA_MAX_PATTERN] = 'a';
	big[SCHEMA_MAX_PATTERN + 1] = '\0';
	json_object_set_new(p, "pattern", json_string(big));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.properties.a.pattern");
	assert_non_null(strstr(reason, "longer than 256"));

	/* Deep but balanced groups are fine. */
	memset(big, '(', 128);
	memset(big + 128, ')', 128);
	big[256] = '\0';
	json_object_set_new(p, "pattern", json_string(big));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), 0);
	memset(big, '(', 256);
	json_object_set_new(p, "pattern", json_string(big));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_non_null(strstr(reason, "unbalanced"));

	/* A title of 128 characters (256 bytes) is fine, 129 is not. */
	json_object_del(p, "pattern");
	{
		char	 t[2 * 130 + 1];

		for (i = 0; i < 128; i++)
			memcpy(t + 2 * i, "\xc3\xa9", 2);
		t[256] = '\0';
		json_object_set_new(p, "title", json_string(t));
		assert_int_equal(schema_check(s, path, sizeof(path), reason,
		    sizeof(reason)), 0);
		memcpy(t + 256, "\xc3\xa9", 3);
		json_object_set_new(p, "title", json_string(t));
		assert_int_equal(schema_check(s, path, sizeof(path), reason,
		    sizeof(reason)), -1);
		assert_string_equal(path, "$.properties.a.title");
	}

	/* A string holding a NUL is no property name or enum value. */
	json_object_del(p, "title");
	json_object_set_new(p, "enum", json_pack("[s%]", "a\0b", (size_t)3));
	assert_int_equal(schema_check(s, path, sizeof(path), reason,
	    sizeof(reason)), -1);
	assert_string_equal(path, "$.properties.a.enum[0]");
	json_decref(s);

	/* No output room: still no crash, still a refusal. */
	s = load("[]");
	assert_int_equal(schema_check(s, NULL, 0, NULL, 0), -1);
	json_decref(s);
}

/* ---- schema_validate ---- */

static const char capture_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"api_key\":{\"type\":\"string\",\"pattern\":\"^sk-[a-z0-9]{8,}$\","
    "\"secret\":true},"
    "\"user\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"region\":{\"type\":\"string\",\"enum\":[\"eu\",\"us\"]},"
    "\"port\":{\"type\":\"integer\",\"enum\":[443,8443]},"
    "\"ratio\":{\"type\":\"number\"},"
    "\"debug\":{\"type\":\"boolean\"},"
    "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"mid\":{\"type\":\"string\",\"pattern\":\"b\"}},"
    "\"required\":[\"api_key\",\"user\"]}";

static const char *const valid_captures[] = {
	"{\"api_key\":\"sk-abcdefgh\",\"user\":\"ab\"}",
	"{\"user\":\"abcde\",\"api_key\":\"sk-0123456789abcdef\","
	    "\"email\":\"a.b+c@example.co.uk\",\"region\":\"us\","
	    "\"port\":8443,\"ratio\":-0.5,\"debug\":false,"
	    "\"id\":\"123e4567-E89B-12d3-a456-426614174000\"}",
	/* Five code points of ten bytes; an integral real is an integer. */
	("{\"api_key\":\"sk-abcdefgh\",\"user\":\"\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\",\"port\":443.0,\"ratio\":7}"),
	/* JSON Schema patterns are not anchored. */
	"{\"api_key\":\"sk-abcdefgh\",\"user\":\"ab\",\"mid\":\"abc\"}",
};

struct bad_capture {
	const char	*json;
	const char	*secret;	/* must appear in no reason */
	const char	*paths[4];	/* the errors, in order */
};

#define OK_KEY	"\"api_key\":\"sk-abcdefgh\""

static const struct bad_capture bad_captures[] = {
	{ "[]", NULL, { "$" } },
	{ "\"sk-abcdefgh\"", "sk-abcdefgh", { "$" } },
	{ "{}", NULL, { "$.api_key", "$.user" } },
	{ "{\"api_key\":\"sk-SECRETVALUE1\",\"user\":\"ab\"}", "SECRETVALUE1",
	    { "$.api_key" } },
	{ "{\"api_key\":\"pk-hunter2hunter2\",\"user\":\"ab\"}",
	    "hunter2", { "$.api_key" } },
	{ "{\"api_key\":12345678,\"user\":\"ab\"}", "12345678",
	    { "$.api_key" } },
	{ "{" OK_KEY ",\"user\":\"q\"}", NULL, { "$.user" } },
	{ "{" OK_KEY ",\"user\":\"qwerty\"}", "qwerty", { "$.user" } },
	{ "{" OK_KEY ",\"user\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\"}", NULL, { "$.user" } },
	{ "{" OK_KEY ",\"user\":55555}", "55555", { "$.user" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"extra\":\"zzz\"}", "zzz",
	    { "$.extra" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"we.ird\":1}", NULL,
	    { "$['we.ird']" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"email\":\"nope-at-all\"}",
	    "nope-at-all", { "$.email" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"region\":\"asia\"}", "asia",
	    { "$.region" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"port\":80}", NULL, { "$.port" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"port\":443.5}", "443.5",
	    { "$.port" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"port\":\"443\"}", NULL,
	    { "$.port" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"debug\":\"true\"}", NULL,
	    { "$.debug" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"ratio\":\"1\"}", NULL,
	    { "$.ratio" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"ratio\":null}", NULL,
	    { "$.ratio" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"id\":\"not-a-uuid-hidden\"}",
	    "hidden", { "$.id" } },
	{ "{" OK_KEY ",\"user\":\"ab\",\"mid\":\"xyz\"}", "xyz",
	    { "$.mid" } },
	/* All errors, in document order, then the missing ones. */
	{ "{\"email\":\"x\",\"api_key\":true,\"zz\":0}", NULL,
	    { "$.email", "$.api_key", "$.zz", "$.user" } },
	/* Two errors on one value. */
	{ "{\"api_key\":\"sk-abcdefgh\",\"user\":\"" "\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\",\"id\":\"x\"}", NULL,
	    { "$.user", "$.id" } },
};

static void
test_valid_captures(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *v;
	size_t			 i;

	(void)state;
	s = load(capture_schema);
	for (i = 0; i < NELEM(valid_captures); i++) {
		v = load(valid_captures[i]);
		if (schema_validate(s, v, &errs) != 0)
			fail_msg("valid capture %zu refused: %s %s", i,
			    errs.e[0].path, errs.e[0].reason);
		assert_int_equal(errs.n, 0);
		json_decref(v);
	}
	json_decref(s);
}

static void
test_bad_captures(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *v;
	size_t			 i, j, n;

	(void)state;
	s = load(capture_schema);
	for (i = 0; i < NELEM(bad_captures); i++) {
		v = load(bad_captures[i].json);
		if (schema_validate(s, v, &errs) == 0)
			fail_msg("bad capture %zu accepted", i);
		for (n = 0; n < NELEM(bad_captures[i].paths) &&
		    bad_captures[i].paths[n] != NULL; n++)
			;
		if (errs.n != n)
			fail_msg("bad capture %zu: %zu errors, want %zu "
			    "(first %s %s)", i, errs.n, n, errs.e[0].path,
			    errs.e[0].reason);
		for (j = 0; j < n; j++) {
			if (strcmp(errs.e[j].path, bad_captures[i].paths[j]))
				fail_msg("bad capture %zu error %zu: %s, want "
				    "%s", i, j, errs.e[j].path,
				    bad_captures[i].paths[j]);
			assert_true(errs.e[j].reason[0] != '\0');
			if (bad_captures[i].secret != NULL) {
				assert_null(strstr(errs.e[j].reason,
				    bad_captures[i].secret));
				assert_null(strstr(errs.e[j].path,
				    bad_captures[i].secret));
			}
		}
		assert_int_equal(errs.truncated, 0);
		json_decref(v);
	}
	json_decref(s);
}

/* A NUL inside a value: refused, not cut short and matched. */
static void
test_capture_nul(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *v;

	(void)state;
	s = load(capture_schema);
	v = json_pack("{s:s%, s:s}", "api_key", "sk-abcdefgh\0!!", (size_t)14,
	    "user", "ab");
	assert_non_null(v);
	assert_int_equal(schema_validate(s, v, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.e[0].path, "$.api_key");
	assert_non_null(strstr(errs.e[0].reason, "NUL"));
	json_decref(v);
	json_decref(s);
}

/* No captured string is longer than SCHEMA_MAX_LENGTH characters. */
static void
test_capture_length(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *v;
	char			*big;

	(void)state;
	s = load(S("\"pattern\":\"^a+$\""));
	big = malloc(SCHEMA_MAX_LENGTH + 2);
	assert_non_null(big);
	memset(big, 'a', SCHEMA_MAX_LENGTH + 1);
	big[SCHEMA_MAX_LENGTH] = '\0';
	v = json_pack("{s:s}", "a", big);
	assert_int_equal(schema_validate(s, v, &errs), 0);
	json_decref(v);
	big[SCHEMA_MAX_LENGTH] = 'a';
	big[SCHEMA_MAX_LENGTH + 1] = '\0';
	v = json_pack("{s:s}", "a", big);
	assert_int_equal(schema_validate(s, v, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.e[0].path, "$.a");
	assert_non_null(strstr(errs.e[0].reason, "at most 8192"));
	json_decref(v);
	free(big);
	json_decref(s);
}

/* More errors than fit: the first ones, and a flag. */
static void
test_capture_cap(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *props, *v;
	char			 name[16];
	int			 i;

	(void)state;
	s = load(P(""));
	props = json_object_get(s, "properties");
	v = json_object();
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		json_object_set_new(props, name, json_pack("{s:s, s:i}",
		    "type", "string", "maxLength", 1));
		json_object_set_new(v, name, json_string("toolong"));
	}
	assert_int_equal(schema_validate(s, v, &errs), -1);
	assert_int_equal(errs.n, SCHEMA_MAX_ERRORS);
	assert_int_equal(errs.truncated, 1);
	assert_string_equal(errs.e[0].path, "$.p0");
	assert_string_equal(errs.e[SCHEMA_MAX_ERRORS - 1].path, "$.p15");
	json_decref(v);
	json_decref(s);
}

/* A schema that does not pass the checker validates nothing. */
static void
test_capture_bad_schema(void **state)
{
	struct schema_errors	 errs;
	json_t			*s, *v;

	(void)state;
	s = load(S("\"pattern\":\"(\""));
	v = load("{\"a\":\"x\"}");
	assert_int_equal(schema_validate(s, v, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.e[0].path, "$");
	json_decref(v);
	json_decref(s);
	s = load("7");
	v = load("{}");
	assert_int_equal(schema_validate(s, v, &errs), -1);
	assert_string_equal(errs.e[0].path, "$");
	json_decref(v);
	json_decref(s);
}

static void
test_secret_and_public(void **state)
{
	json_t	*s, *v, *pub, *want, *errs;
	struct schema_errors	 e;

	(void)state;
	s = load(capture_schema);
	assert_int_equal(schema_is_secret(s, "api_key"), 1);
	assert_int_equal(schema_is_secret(s, "user"), 0);
	assert_int_equal(schema_is_secret(s, "nosuch"), 1);
	v = load("{\"api_key\":\"sk-abcdefgh\",\"user\":\"ab\",\"port\":443,"
	    "\"stray\":\"x\"}");
	pub = schema_public_values(s, v);
	want = load("{\"user\":\"ab\",\"port\":443}");
	assert_true(json_equal(pub, want));
	json_decref(want);
	json_decref(pub);

	memset(&e, 0, sizeof(e));
	e.n = 2;
	snprintf(e.e[0].path, sizeof(e.e[0].path), "$.a");
	snprintf(e.e[0].reason, sizeof(e.e[0].reason), "is required");
	snprintf(e.e[1].path, sizeof(e.e[1].path), "$.b");
	snprintf(e.e[1].reason, sizeof(e.e[1].reason), "must be a string");
	errs = schema_errors_json(&e);
	want = load("[{\"path\":\"$.a\",\"reason\":\"is required\"},"
	    "{\"path\":\"$.b\",\"reason\":\"must be a string\"}]");
	assert_true(json_equal(errs, want));
	json_decref(want);
	json_decref(errs);
	json_decref(v);
	json_decref(s);
}

/* ---- formats ---- */

struct fmt_case {
	const char	*format;
	const char	*s;
	int		 ok;
};

static const struct fmt_case fmt_cases[] = {
	{ "hostname", "example.com", 1 },
	{ "hostname", "a-1.b2.C3", 1 },
	{ "hostname", "localhost", 1 },
	{ "hostname", "", 0 },
	{ "hostname", "-a.com", 0 },
	{ "hostname", "a-.com", 0 },
	{ "hostname", "a..com", 0 },
	{ "hostname", "a.com.", 0 },
	{ "hostname", "a_b.com", 0 },
	{ "hostname", "exa mple.com", 0 },
	{ "hostname", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaa.com", 1 },
	{ "hostname", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaa.com", 0 },
	{ "email", "a@example.com", 1 },
	{ "email", "first.last+tag@sub.example.org", 1 },
	{ "email", "a@localhost", 0 },
	{ "email", "@example.com", 0 },
	{ "email", "a@", 0 },
	{ "email", ".a@example.com", 0 },
	{ "email", "a.@example.com", 0 },
	{ "email", "a..b@example.com", 0 },
	{ "email", "a b@example.com", 0 },
	{ "email", "a@b@example.com", 0 },
	{ "uuid", "123e4567-e89b-12d3-a456-426614174000", 1 },
	{ "uuid", "123e4567e89b12d3a456426614174000", 0 },
	{ "uuid", "123e4567-e89b-12d3-a456-42661417400g", 0 },
	{ "uuid", "123e4567-e89b-12d3-a456-4266141740000", 0 },
	{ "date-time", "2026-11-27T05:00:00Z", 1 },
	{ "date-time", "2026-11-27t05:00:00.123456z", 1 },
	{ "date-time", "2024-02-29T23:59:60+14:00", 1 },
	{ "date-time", "2026-11-27T05:00:00-05:30", 1 },
	{ "date-time", "2023-02-29T00:00:00Z", 0 },
	{ "date-time", "1900-02-29T00:00:00Z", 0 },
	{ "date-time", "2000-02-29T00:00:00Z", 1 },
	{ "date-time", "2026-13-01T00:00:00Z", 0 },
	{ "date-time", "2026-04-31T00:00:00Z", 0 },
	{ "date-time", "2026-11-27T24:00:00Z", 0 },
	{ "date-time", "2026-11-27T05:00:00", 0 },
	{ "date-time", "2026-11-27 05:00:00Z", 0 },
	{ "date-time", "2026-11-27T05:00:00.Z", 0 },
	{ "date-time", "2026-11-27T05:00:00+0500", 0 },
	{ "date-time", "2026-11-27T05:00:00Zjunk", 0 },
	{ "uri", "https://example.com/a?b=c#d", 1 },
	{ "uri", "urn:isbn:0451450523", 1 },
	{ "uri", "mailto:a@example.com", 1 },
	{ "uri", "https://example.com/%7Ea", 1 },
	{ "uri", "/relative/path", 0 },
	{ "uri", "https://example.com/a b", 0 },
	{ "uri", "https://example.com/%zz", 0 },
	{ "uri", "https://example.com/%4", 0 },
	{ "uri", "https://example.com/#a#b", 0 },
	{ "uri", "1http://x", 0 },
	{ "uri", "https://example.com/\xc3\xa9", 0 },
	{ "ipv4", "127.0.0.1", 0 },		/* not a format of ours */
};

static void
test_formats(void **state)
{
	size_t	 i;
	int	 ok;

	(void)state;
	for (i = 0; i < NELEM(fmt_cases); i++) {
		ok = schema_format_ok(fmt_cases[i].format, fmt_cases[i].s,
		    strlen(fmt_cases[i].s)) == 0;
		if (ok != fmt_cases[i].ok)
			fail_msg("format %s of \"%s\": got %d, want %d",
			    fmt_cases[i].format, fmt_cases[i].s, ok,
			    fmt_cases[i].ok);
	}
	/* A NUL inside is never an instance. */
	assert_int_equal(schema_format_ok("hostname", "a\0b", 3), -1);
}

/* ---- paths ---- */

static void
test_paths(void **state)
{
	char	 p[SCHEMA_PATH_MAX], small[16];

	(void)state;
	snprintf(p, sizeof(p), "$");
	schema_path_member(p, sizeof(p), "properties");
	schema_path_member(p, sizeof(p), "a b");
	schema_path_index(p, sizeof(p), 12);
	assert_string_equal(p, "$.properties['a b'][12]");

	snprintf(p, sizeof(p), "$");
	schema_path_member(p, sizeof(p), "it's\\");
	assert_string_equal(p, "$['it\\'s\\\\']");

	snprintf(p, sizeof(p), "$");
	schema_path_member(p, sizeof(p), "\xc3\xa9\n\xf0\x9f\x98\x80");
	assert_string_equal(p, "$['\\u00e9\\u000a\\ud83d\\ude00']");

	snprintf(p, sizeof(p), "$");
	schema_path_member(p, sizeof(p), "");
	assert_string_equal(p, "$['']");

	/* Malformed UTF-8 never reaches a path. */
	snprintf(p, sizeof(p), "$");
	schema_path_member(p, sizeof(p), "\xff\xc3");
	assert_string_equal(p, "$['\\ufffd\\ufffd']");

	/* Full: cut at a whole unit, marked, and nothing appends after. */
	snprintf(small, sizeof(small), "$");
	schema_path_member(small, sizeof(small), "abcdefghijklmnopqrstuvwxyz");
	assert_true(strlen(small) < sizeof(small));
	assert_string_equal(small, "$...");
	schema_path_member(small, sizeof(small), "b");
	assert_string_equal(small, "$...");
	snprintf(small, sizeof(small), "$.a");
	schema_path_member(small, sizeof(small), "\xc3\xa9\xc3\xa9");
	assert_string_equal(small, "$.a['\\u00e9...");
	schema_path_index(small, sizeof(small), 1);
	assert_string_equal(small, "$.a['\\u00e9...");
	assert_int_equal(schema_utf8_len("\xc3\xa9" "a\xf0\x9f\x98\x80", 7), 3);
	assert_int_equal(schema_name_ok("_a9", 3), 1);
	assert_int_equal(schema_name_ok("9a", 2), 0);
	assert_int_equal(schema_name_ok("", 0), 0);
}

int
run_schema_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_schemas),
		cmocka_unit_test(test_bad_schemas),
		cmocka_unit_test(test_schema_limits),
		cmocka_unit_test(test_valid_captures),
		cmocka_unit_test(test_bad_captures),
		cmocka_unit_test(test_capture_nul),
		cmocka_unit_test(test_capture_length),
		cmocka_unit_test(test_capture_cap),
		cmocka_unit_test(test_capture_bad_schema),
		cmocka_unit_test(test_secret_and_public),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
