/*
 * unpriv/vault.c against the fake keyholder (tests/unpriv/fakekh.c): the
 * associated data of each sealed column, JSON and string round trips,
 * values that must not open where they were not sealed, size limits, and
 * how keyholder failures come out.  The keyring's storage needs a
 * database: test_pg.c.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/store/tests.h"
#include "tests/unpriv/fakekh.h"
#include "unpriv/khclient.h"
#include "unpriv/vault.h"

struct fx {
	struct fakekh	 fk;
	struct khclient	*kh;
	struct vault	*v;
};

static void
fx_start(struct fx *fx, enum fakekh_mode mode, int keyring)
{
	memset(fx, 0, sizeof(*fx));
	fakekh_start(&fx->fk, mode, keyring);
	assert_non_null(fx->kh = kh_client_new(fx->fk.brokerfd, 2000, NULL,
	    NULL));
	assert_non_null(fx->v = vault_new(fx->kh, NULL));
}

static void
fx_stop(struct fx *fx)
{
	vault_free(fx->v);
	kh_client_free(fx->kh);
	fakekh_stop(&fx->fk);
	assert_int_equal(fx->fk.nbad, 0);
}

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
test_ad_conventions(void **state)
{
	struct vault_ad	 a, b;
	uint8_t		 h[VAULT_STATE_HASH_LEN];
	char		 longrow[KH_ROW_MAX + 2];
	size_t		 i;

	(void)state;
	assert_int_equal(vault_ad_credential(&a, "acme-github"), 0);
	assert_string_equal(a.purpose, "credential");
	assert_string_equal(a.table, "connections");
	assert_string_equal(a.column, "secrets");
	assert_string_equal(a.row, "acme-github");

	assert_int_equal(vault_ad_client_secret(&a, "github"), 0);
	assert_string_equal(a.purpose, "client_secret");
	assert_string_equal(a.table, "providers");
	assert_string_equal(a.column, "client_secret");
	assert_string_equal(a.row, "github");

	for (i = 0; i < sizeof(h); i++)
		h[i] = (uint8_t)(i % 16 * 17);
	assert_int_equal(vault_ad_pkce(&a, h), 0);
	assert_string_equal(a.purpose, "pkce");
	assert_string_equal(a.table, "oauth_sessions");
	assert_string_equal(a.column, "verifier");
	assert_string_equal(a.row, "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff");

	/* Copies are independent of the original. */
	b = a;
	memset(&a, 0, sizeof(a));
	assert_string_equal(b.row, "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff");

	memset(longrow, 'x', sizeof(longrow) - 1);
	longrow[sizeof(longrow) - 1] = '\0';
	assert_int_equal(vault_ad_credential(&a, longrow), -1);
	longrow[KH_ROW_MAX] = '\0';
	assert_int_equal(vault_ad_credential(&a, longrow), 0);
	assert_int_equal(vault_ad_credential(&a, ""), -1);
	assert_int_equal(vault_ad_credential(&a, NULL), -1);
	assert_int_equal(vault_ad_credential(&a, "a\nb"), -1);
	assert_int_equal(vault_ad_credential(&a, "caf\xc3\xa9"), -1);
}

static void
test_json_round_trip(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*in, *out;
	char		*compact;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	in = json_pack("{s:s, s:i, s:{s:b}}", "api_key", "sk-test-123",
	    "n", 7, "nested", "ok", 1);
	assert_non_null(in);
	assert_non_null(compact = json_dumps(in, JSON_COMPACT));
	assert_int_equal(vault_ad_credential(&a, "acme-openai"), 0);
	assert_int_equal(vault_seal_json(fx.v, &a, in, sealed, sizeof(sealed),
	    &len), VAULT_OK);
	assert_int_equal(len, strlen(compact) + KH_SEAL_OVERHEAD);
	assert_int_equal(fx.fk.lastplainlen, strlen(compact));
	assert_string_equal(fx.fk.lastpurpose, "credential");
	assert_string_equal(fx.fk.lastrow, "acme-openai");
	assert_int_equal(vault_key_version(sealed, len), 1);

	assert_int_equal(vault_open_json(fx.v, &a, sealed, len, &out),
	    VAULT_OK);
	assert_true(json_equal(in, out));
	json_decref(out);
	json_decref(in);
	free(compact);
	fx_stop(&fx);
}

/* A value sealed for one place does not open in another. */
static void
test_moved_value(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a, other, col;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len;
	json_t		*in, *out = (json_t *)1;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	in = json_pack("{s:s}", "token", "t0ps3cret");
	assert_int_equal(vault_ad_credential(&a, "acme-a"), 0);
	assert_int_equal(vault_ad_credential(&other, "acme-b"), 0);
	assert_int_equal(vault_ad_client_secret(&col, "acme-a"), 0);
	assert_int_equal(vault_seal_json(fx.v, &a, in, sealed, sizeof(sealed),
	    &len), VAULT_OK);
	assert_int_equal(vault_open_json(fx.v, &other, sealed, len, &out),
	    VAULT_EOPEN);
	assert_null(out);
	assert_int_equal(vault_open_json(fx.v, &col, sealed, len, &out),
	    VAULT_EOPEN);
	/* One flipped bit. */
	sealed[len - 1] ^= 1;
	assert_int_equal(vault_open_json(fx.v, &a, sealed, len, &out),
	    VAULT_EOPEN);
	sealed[len - 1] ^= 1;
	assert_int_equal(vault_open_json(fx.v, &a, sealed, len, &out),
	    VAULT_OK);
	json_decref(out);
	json_decref(in);
	fx_stop(&fx);
}

/* {"k":"…"} is 8 bytes around the value. */
static json_t *
sized(size_t total)
{
	char	*s;
	json_t	*j;

	assert_non_null(s = malloc(total - 8 + 1));
	memset(s, 'x', total - 8);
	s[total - 8] = '\0';
	j = json_pack("{s:s}", "k", s);
	free(s);
	return j;
}

static void
test_size_limit(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len = 99;
	json_t		*j;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	assert_int_equal(vault_ad_credential(&a, "big"), 0);
	j = sized(VAULT_PLAIN_MAX + 1);
	assert_int_equal(vault_seal_json(fx.v, &a, j, sealed, sizeof(sealed),
	    &len), VAULT_EINVAL);
	assert_int_equal(len, 0);
	json_decref(j);
	/* Refused before anything reached the keyholder. */
	assert_int_equal(fx.fk.nreq, 0);

	j = sized(VAULT_PLAIN_MAX);
	assert_int_equal(vault_seal_json(fx.v, &a, j, sealed, sizeof(sealed),
	    &len), VAULT_OK);
	assert_int_equal(len, VAULT_SEALED_MAX);
	json_decref(j);

	/* Not an object; an output too small. */
	j = json_pack("[i]", 1);
	assert_int_equal(vault_seal_json(fx.v, &a, j, sealed, sizeof(sealed),
	    &len), VAULT_EINVAL);
	json_decref(j);
	assert_int_equal(vault_seal(fx.v, &a, "abc", 3, sealed,
	    3 + KH_SEAL_OVERHEAD - 1, &len), VAULT_EINVAL);
	assert_int_equal(vault_seal(fx.v, &a, "", 0, sealed, sizeof(sealed),
	    &len), VAULT_EINVAL);
	assert_int_equal(fx.fk.nreq, 1);
	fx_stop(&fx);
}

static void
test_not_json_object(void **state)
{
	static const char *const bad[] = {
		"not json", "[1,2]", "{\"a\":1,\"a\":2}", "{\"a\":1} trailing",
	};
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	size_t		 len, i;
	json_t		*out;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	assert_int_equal(vault_ad_credential(&a, "c"), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vault_seal(fx.v, &a, bad[i], strlen(bad[i]),
		    sealed, sizeof(sealed), &len), VAULT_OK);
		out = (json_t *)1;
		assert_int_equal(vault_open_json(fx.v, &a, sealed, len, &out),
		    VAULT_EOPEN);
		assert_null(out);
	}
	fx_stop(&fx);
}

static void
test_strings(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX];
	char		 out[VAULT_PLAIN_MAX + 1];
	size_t		 len;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	assert_int_equal(vault_ad_client_secret(&a, "github"), 0);
	assert_int_equal(vault_seal_str(fx.v, &a, "gh-s3cret", sealed,
	    sizeof(sealed), &len), VAULT_OK);
	assert_string_equal(fx.fk.lastpurpose, "client_secret");
	assert_int_equal(vault_open_str(fx.v, &a, sealed, len, out,
	    sizeof(out)), VAULT_OK);
	assert_string_equal(out, "gh-s3cret");
	/* Exactly enough room, then one byte short. */
	assert_int_equal(vault_open_str(fx.v, &a, sealed, len, out, 10),
	    VAULT_OK);
	assert_string_equal(out, "gh-s3cret");
	assert_int_equal(vault_open_str(fx.v, &a, sealed, len, out, 9),
	    VAULT_EINVAL);
	assert_string_equal(out, "");

	/* A NUL inside is not a string. */
	assert_int_equal(vault_seal(fx.v, &a, "ab\0cd", 5, sealed,
	    sizeof(sealed), &len), VAULT_OK);
	assert_int_equal(vault_open_str(fx.v, &a, sealed, len, out,
	    sizeof(out)), VAULT_EOPEN);
	assert_true(all_zero((const uint8_t *)out, 5));
	assert_int_equal(vault_seal_str(fx.v, &a, NULL, sealed,
	    sizeof(sealed), &len), VAULT_EINVAL);
	fx_stop(&fx);
}

static void
test_keyholder_failures(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX], plain[64];
	size_t		 len = 99;

	(void)state;
	assert_int_equal(vault_ad_credential(&a, "c"), 0);

	/* Busy: 503, and nothing in the output. */
	fx_start(&fx, FK_ERROR, 1);
	fx.fk.code = KH_E_RATE;
	memset(sealed, 0xaa, sizeof(sealed));
	assert_int_equal(vault_seal(fx.v, &a, "abc", 3, sealed,
	    sizeof(sealed), &len), VAULT_EUNAVAIL);
	assert_int_equal(len, 0);
	assert_true(all_zero(sealed, 3 + KH_SEAL_OVERHEAD));
	fx_stop(&fx);

	/* No keyring yet. */
	fx_start(&fx, FK_NORMAL, 0);
	assert_int_equal(vault_seal(fx.v, &a, "abc", 3, sealed,
	    sizeof(sealed), &len), VAULT_EUNAVAIL);
	fx_stop(&fx);

	/* Unknown key version: does not open. */
	fx_start(&fx, FK_ERROR, 1);
	fx.fk.code = KH_E_UNKNOWN_VERSION;
	fakekh_seal("credential", "connections", "c", "secrets", "abc", 3,
	    sealed);
	assert_int_equal(vault_open(fx.v, &a, sealed, 3 + KH_SEAL_OVERHEAD,
	    plain, sizeof(plain), &len), VAULT_EOPEN);
	fx_stop(&fx);

	/* The keyholder went away. */
	fx_start(&fx, FK_EOF, 1);
	assert_int_equal(vault_seal(fx.v, &a, "abc", 3, sealed,
	    sizeof(sealed), &len), VAULT_EUNAVAIL);
	assert_int_not_equal(kh_client_dead(fx.kh), 0);
	fx_stop(&fx);
}

static void
test_open_malformed(void **state)
{
	struct fx	 fx;
	struct vault_ad	 a;
	uint8_t		 sealed[VAULT_SEALED_MAX + 1], plain[VAULT_PLAIN_MAX];
	size_t		 len;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1);
	assert_int_equal(vault_ad_credential(&a, "c"), 0);
	memset(sealed, 0, sizeof(sealed));
	/* Too short or too long to be a sealed value: not even asked. */
	assert_int_equal(vault_open(fx.v, &a, sealed, KH_SEAL_OVERHEAD - 1,
	    plain, sizeof(plain), &len), VAULT_EOPEN);
	assert_int_equal(vault_open(fx.v, &a, sealed, sizeof(sealed), plain,
	    sizeof(plain), &len), VAULT_EOPEN);
	assert_int_equal(fx.fk.nreq, 0);
	/* Right size, wrong bytes. */
	assert_int_equal(vault_open(fx.v, &a, sealed, 40, plain,
	    sizeof(plain), &len), VAULT_EOPEN);
	fx_stop(&fx);
}

static void
test_key_version(void **state)
{
	uint8_t	 s[KH_SEAL_OVERHEAD + 1];

	(void)state;
	memset(s, 0, sizeof(s));
	memcpy(s, "DRM\x01\x01\x02\x03\x04", 8);
	assert_int_equal(vault_key_version(s, sizeof(s)), 0x01020304);
	assert_int_equal(vault_key_version(s, KH_SEAL_OVERHEAD - 1), 0);
	s[3] = 2;
	assert_int_equal(vault_key_version(s, sizeof(s)), 0);
	s[3] = 1;
	s[0] = 'X';
	assert_int_equal(vault_key_version(s, sizeof(s)), 0);
	assert_string_equal(vault_strerror(VAULT_EOPEN),
	    "sealed value does not open");
}

int
run_vault_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ad_conventions),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_moved_value),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_not_json_object),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_keyholder_failures),
		cmocka_unit_test(test_open_malformed),
		cmocka_unit_test(test_key_version),
	};

	return cmocka_run_group_tests_name("vault", tests, NULL, NULL);
}
