/*
 * A token endpoint's body from untrusted bytes.  oauth_token_parse must
 * never crash, and what it returns must keep its promises: tokens of the
 * byte classes and lengths oauth.h states, a bounded expires_in, an error
 * code of NQSCHARs, a printable description, a reason for a refusal.
 * The first byte picks the Content-Type (none, JSON, JSON with charset,
 * something else).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unpriv/oauth.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_class(const char *s, size_t max, int lo, int hi, int minlen)
{
	size_t	 i, len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (len > max || len < (size_t)minlen)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			abort();
}

static void
check_tokens(const struct oauth_tokens *t)
{
	if (t->access_token == NULL || t->token_type[0] == '\0')
		abort();
	check_class(t->access_token, OAUTH_TOKEN_MAX, 0x20, 0x7e, 1);
	check_class(t->refresh_token, OAUTH_TOKEN_MAX, 0x20, 0x7e, 1);
	check_class(t->id_token, OAUTH_ID_TOKEN_MAX, 0x21, 0x7e, 1);
	check_class(t->scope, OAUTH_SCOPE_MAX + 1, 0x20, 0x7e, 0);
	check_class(t->token_type, OAUTH_TOKEN_TYPE_MAX, 0x21, 0x7e, 1);
	if (t->bearer != (strcmp(t->token_type, "Bearer") == 0))
		abort();
	if (t->expires_in < -1 || t->expires_in > OAUTH_EXPIRES_MAX)
		abort();
}

static void
check_error(const struct oauth_error *e)
{
	check_class(e->error, OAUTH_ERROR_MAX, 0x20, 0x7e, 1);
	if (strchr(e->error, '"') != NULL || strchr(e->error, '\\') != NULL)
		abort();
	check_class(e->description, OAUTH_ERRDESC_MAX, 0x20, 0x7e, 0);
	check_class(e->uri, OAUTH_URL_SIZE - 1, 0x21, 0x7e, 0);
	if (e->code == OAUTH_TE_NONE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ctypes[] = {
		NULL, "application/json", "application/json; charset=utf-8",
		"text/html",
	};
	struct oauth_tokens	 t;
	struct oauth_error	 e;
	const char		*ct;

	if (size < 1)
		return 0;
	ct = ctypes[data[0] & 3];
	switch (oauth_token_parse((const char *)data + 1, size - 1, ct, &t,
	    &e)) {
	case OAUTH_PARSED_TOKENS:
		if (ct != NULL && strcmp(ct, "text/html") == 0)
			abort();
		check_tokens(&t);
		break;
	case OAUTH_PARSED_ERROR:
		if (t.access_token != NULL)
			abort();
		check_error(&e);
		break;
	case OAUTH_PARSED_MALFORMED:
		if (t.access_token != NULL || e.why == NULL)
			abort();
		break;
	default:
		abort();
	}
	oauth_tokens_free(&t);
	if (t.access_token != NULL || t.refresh_token != NULL)
		abort();
	return 0;
}
