/*
 * A provider document from untrusted bytes.  provider_check must never
 * crash and always name a path; what passes must pass again once
 * normalized (and normalize to itself), its views must never show the
 * client secret, and a payload built from a value for every property (or
 * for the required ones only) must succeed: the checker promises that a
 * capture that passed validation always fills every required field.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "unpriv/payload.h"
#include "unpriv/provider.h"
#include "unpriv/schema.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static json_t *
dummy(const json_t *prop)
{
	const char	*type = json_string_value(json_object_get(prop, "type"));

	if (strcmp(type, "integer") == 0)
		return json_integer(-7);
	if (strcmp(type, "number") == 0)
		return json_real(1.5);
	if (strcmp(type, "boolean") == 0)
		return json_true();
	return json_string("SECRET-v4lue");
}

/* Values for every property, or for the required ones only. */
static json_t *
values_for(const json_t *creds, int all)
{
	const json_t	*props = json_object_get(creds, "properties");
	const json_t	*r;
	const char	*key;
	json_t		*v, *p;
	size_t		 i;

	if ((v = json_object()) == NULL)
		abort();
	if (all) {
		json_object_foreach((json_t *)props, key, p)
			json_object_set_new(v, key, dummy(p));
	} else {
		json_array_foreach(json_object_get(creds, "required"), i, r)
			json_object_set_new(v, json_string_value(r),
			    dummy(json_object_get(props,
			    json_string_value(r))));
	}
	return v;
}

static void
payloads(const json_t *doc)
{
	char	 reason[256];
	json_t	*values, *out;
	int	 all;

	if (json_object_get(doc, "credentials") == NULL) {
		values = json_pack("{s:s}", "access_token", "SECRET-tok");
		if (payload_build(doc, "c-1", values, NULL, &out, reason,
		    sizeof(reason)) != 0) {
			fprintf(stderr, "oauth2 payload: %s\n", reason);
			abort();
		}
		json_decref(out);
		json_decref(values);
		return;
	}
	for (all = 0; all < 2; all++) {
		values = values_for(json_object_get(doc, "credentials"), all);
		if (payload_build(doc, "c-1", values, "2026-01-01T00:00:00Z",
		    &out, reason, sizeof(reason)) != 0) {
			fprintf(stderr, "payload (all %d): %s\n", all, reason);
			abort();
		}
		json_decref(out);
		/* With nothing captured only a document of static headers
		 * has a payload; either way nothing may crash. */
		json_object_clear(values);
		if (payload_build(doc, "c-1", values, NULL, &out, reason,
		    sizeof(reason)) == 0)
			json_decref(out);
		else if (out != NULL || reason[0] == '\0')
			abort();
		json_decref(values);
	}
}

static void
views(const json_t *doc)
{
	json_t	*v;
	char	 reason[128];

	if ((v = provider_public_view(doc)) == NULL ||
	    json_object_get(v, "client_secret") != NULL)
		abort();
	json_decref(v);
	if ((v = provider_admin_view(doc, 0)) == NULL ||
	    json_object_get(v, "client_secret") != NULL ||
	    json_is_true(json_object_get(v, "has_client_secret")) !=
	    (json_object_get(doc, "client_secret") != NULL))
		abort();
	json_decref(v);
	if (!provider_ready(doc, 0, reason, sizeof(reason)) &&
	    reason[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	json_t	*doc, *norm, *again;

	if ((doc = json_loadb((const char *)data, size,
	    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) == NULL)
		return 0;
	if (provider_check(doc, &norm, path, sizeof(path), reason,
	    sizeof(reason)) != 0) {
		if (norm != NULL || path[0] != '$' || reason[0] == '\0') {
			fprintf(stderr, "bad error: \"%s\" \"%s\"\n", path,
			    reason);
			abort();
		}
		json_decref(doc);
		return 0;
	}
	if (provider_check(norm, &again, path, sizeof(path), reason,
	    sizeof(reason)) != 0 || !json_equal(norm, again)) {
		fprintf(stderr, "normalized does not check: %s %s\n", path,
		    reason);
		abort();
	}
	json_decref(again);
	views(norm);
	payloads(norm);
	json_decref(norm);
	json_decref(doc);
	return 0;
}
