/* Header, request id and body checks (gateway/check.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/check.h"
#include "gateway/route.h"
#include "tests/gateway/tests.h"

#define H(n, v)	{ n, sizeof(n) - 1, v, sizeof(v) - 1 }

static int
check(const struct gw_hdr *h, size_t n, struct gw_hdrinfo *info,
    struct gw_refusal *f)
{
	return gw_headers_check(h, n, 65536, info, f);
}

static void
test_good_headers(void **state)
{
	const struct gw_hdr	 h[] = {
		H("Host", "gw"),
		H("authorization", "Bearer dro_x"),
		H("Content-Type", "application/json"),
		H("Content-Length", "12"),
		H("X-Request-Id", "abc"),
		H("Accept", "*/*"),
		H("Origin", "https://app.example"),
		H("User-Agent", "t\tab (obs-text \xe9)"),
	};
	struct gw_hdrinfo	 info;
	struct gw_refusal	 f;

	(void)state;
	assert_int_equal(check(h, sizeof(h) / sizeof(h[0]), &info, &f), 0);
	assert_string_equal(info.authorization, "Bearer dro_x");
	assert_string_equal(info.content_type, "application/json");
	assert_string_equal(info.request_id, "abc");
	assert_string_equal(info.origin, "https://app.example");
	assert_true(info.has_length);
	assert_int_equal(info.content_length, 12);
	assert_false(info.chunked);
}

struct bad {
	struct gw_hdr	 h[3];
	size_t		 n;
	unsigned int	 status;
	const char	*problem;
};

static void
test_bad_headers(void **state)
{
	static const struct bad cases[] = {
		{ { H("X-A", "a\rb") }, 1, 400, "invalid-header" },
		{ { H("X-A", "a\nb") }, 1, 400, "invalid-header" },
		{ { H("X-A", "a\0b") }, 1, 400, "invalid-header" },
		{ { H("X-A", "a\x7f") }, 1, 400, "invalid-header" },
		{ { H("X-A", "\x1b[31m") }, 1, 400, "invalid-header" },
		{ { H("X A", "a") }, 1, 400, "invalid-header" },
		{ { H("X:A", "a") }, 1, 400, "invalid-header" },
		{ { H("", "a") }, 1, 400, "invalid-header" },
		{ { H("X-\xe9", "a") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", "1"), H("Content-Length", "1") }, 2,
		    400, "invalid-header" },
		{ { H("content-length", "1"), H("CONTENT-LENGTH", "2") }, 2,
		    400, "invalid-header" },
		{ { H("Content-Length", "-1") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", "1,1") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", " 1") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", "") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", "0x10") }, 1, 400, "invalid-header" },
		{ { H("Content-Length", "99999999999999999999") }, 1, 400,
		    "invalid-header" },
		{ { H("Content-Length", "65537") }, 1, 413, "too-large" },
		{ { H("Transfer-Encoding", "chunked"),
		    H("Content-Length", "3") }, 2, 400, "invalid-header" },
		{ { H("Content-Length", "3"),
		    H("Transfer-Encoding", "chunked") }, 2, 400,
		    "invalid-header" },
		{ { H("Transfer-Encoding", "gzip") }, 1, 400,
		    "invalid-header" },
		{ { H("Transfer-Encoding", "gzip, chunked") }, 1, 400,
		    "invalid-header" },
		{ { H("Transfer-Encoding", "chunked"),
		    H("Transfer-Encoding", "chunked") }, 2, 400,
		    "invalid-header" },
		{ { H("Transfer-Encoding", "identity") }, 1, 400,
		    "invalid-header" },
		{ { H("Authorization", "a"), H("authorization", "b") }, 2,
		    400, "invalid-header" },
		{ { H("X-Request-Id", "a"), H("X-Request-Id", "a") }, 2,
		    400, "invalid-header" },
		{ { H("Content-Type", "a"), H("Content-Type", "b") }, 2,
		    400, "invalid-header" },
		{ { H("Host", "a"), H("Host", "b") }, 2, 400,
		    "invalid-header" },
	};
	struct gw_hdrinfo	 info;
	struct gw_refusal	 f;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (check(cases[i].h, cases[i].n, &info, &f) != -1 ||
		    f.status != cases[i].status ||
		    strcmp(f.problem, cases[i].problem) != 0)
			fail_msg("case %zu: got %u %s", i, f.status,
			    f.problem ? f.problem : "accepted");
	}
}

static void
test_chunked_and_counts(void **state)
{
	struct gw_hdr		 h[GW_HEADERS_MAX + 1];
	struct gw_hdrinfo	 info;
	struct gw_refusal	 f;
	const struct gw_hdr	 te[] = { H("Transfer-Encoding", " Chunked ") };
	size_t			 i;

	(void)state;
	assert_int_equal(check(te, 1, &info, &f), 0);
	assert_true(info.chunked);
	for (i = 0; i < GW_HEADERS_MAX + 1; i++) {
		h[i].name = "X-A";
		h[i].namelen = 3;
		h[i].value = "v";
		h[i].valuelen = 1;
	}
	assert_int_equal(check(h, GW_HEADERS_MAX, &info, &f), 0);
	assert_int_equal(check(h, GW_HEADERS_MAX + 1, &info, &f), -1);
	assert_int_equal(f.status, 431);
	assert_string_equal(f.problem, "too-many-headers");
	/* The limit is the configured one. */
	{
		const struct gw_hdr cl[] = { H("Content-Length", "100") };

		assert_int_equal(gw_headers_check(cl, 1, 100, &info, &f), 0);
		assert_int_equal(gw_headers_check(cl, 1, 99, &info, &f), -1);
		assert_int_equal(f.status, 413);
	}
}

static void
test_reqid(void **state)
{
	char	 out[GW_REQID_MAX + 1], prev[GW_REQID_MAX + 1], s[80];
	size_t	 i;

	(void)state;
	assert_true(gw_reqid_ok("a"));
	assert_true(gw_reqid_ok("Az09._-"));
	memset(s, 'x', 64);
	s[64] = '\0';
	assert_true(gw_reqid_ok(s));
	gw_reqid(s, out);
	assert_string_equal(out, s);
	s[64] = 'x';
	s[65] = '\0';
	assert_false(gw_reqid_ok(s));
	assert_false(gw_reqid_ok(""));
	assert_false(gw_reqid_ok(NULL));
	assert_false(gw_reqid_ok("a b"));
	assert_false(gw_reqid_ok("a\nb"));
	assert_false(gw_reqid_ok("a/b"));
	assert_false(gw_reqid_ok("caf\xc3\xa9"));
	gw_reqid("keep-me.1", out);
	assert_string_equal(out, "keep-me.1");
	/* Replaced: 32 hex digits, different each time. */
	prev[0] = '\0';
	for (i = 0; i < 4; i++) {
		gw_reqid(i % 2 ? "bad id" : NULL, out);
		assert_int_equal(strlen(out), 32);
		assert_int_equal(strspn(out, "0123456789abcdef"), 32);
		assert_string_not_equal(out, prev);
		memcpy(prev, out, sizeof(prev));
	}
}

static void
test_body(void **state)
{
	struct gw_refusal	 f;
	const unsigned char	*obj = (const unsigned char *)"{\"a\":1}";

	(void)state;
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json", obj, 7,
	    &f), 0);
	assert_int_equal(gw_body_check(GW_F_JSON,
	    "application/json; charset=utf-8", obj, 7, &f), 0);
	assert_int_equal(gw_body_check(GW_F_JSON, "Application/JSON", obj, 7,
	    &f), 0);
	assert_int_equal(gw_body_check(GW_F_JSON, "application/jsonp", obj, 7,
	    &f), -1);
	assert_int_equal(f.status, 415);
	assert_int_equal(gw_body_check(GW_F_JSON, NULL, obj, 7, &f), -1);
	assert_int_equal(f.status, 415);
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json",
	    (const unsigned char *)"", 0, &f), -1);
	assert_string_equal(f.problem, "malformed-json");
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json",
	    (const unsigned char *)"[1]", 3, &f), -1);
	assert_string_equal(f.problem, "malformed-json");
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json",
	    (const unsigned char *)"{\"a\":1,\"a\":2}", 13, &f), -1);
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json",
	    (const unsigned char *)"{\"a\":1} x", 9, &f), -1);
	/* jansson refuses NUL in strings, as the broker's parser does. */
	assert_int_equal(gw_body_check(GW_F_JSON, "application/json",
	    (const unsigned char *)"{\"a\":\"\\u0000\"}", 14, &f), -1);
	/* None expected. */
	assert_int_equal(gw_body_check(0, NULL, NULL, 0, &f), 0);
	assert_int_equal(gw_body_check(0, "application/json", obj, 7, &f), -1);
	assert_string_equal(f.problem, "unexpected-body");
}

int
run_check_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_headers),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_chunked_and_counts),
		cmocka_unit_test(test_reqid),
		cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
