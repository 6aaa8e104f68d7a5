/*
 * A schema and a capture from untrusted bytes: the input is a schema
 * document, a NUL byte, and a value (a capture).  schema_check must never
 * crash and always name a path; schema_validate runs whether or not the
 * schema passed (it re-checks), and its errors must be bounded, rooted at
 * "$", printable ASCII, and must never quote a value: any string of the
 * capture may contain "SECRET", and no reason may.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "unpriv/schema.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
ascii(const char *what, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e) {
			fprintf(stderr, "%s is not printable ASCII\n", what);
			abort();
		}
}

static void
check_path(const char *path, const char *reason)
{
	if (path[0] != '$' || reason[0] == '\0') {
		fprintf(stderr, "bad error: \"%s\" \"%s\"\n", path, reason);
		abort();
	}
	ascii("path", path);
	ascii("reason", reason);
}

static void
validate(const json_t *schema, const json_t *value, int checked)
{
	struct schema_errors	 errs;
	json_t			*j;
	size_t			 i;
	int			 rc;

	rc = schema_validate(schema, value, &errs);
	if ((rc == 0) != (errs.n == 0) || errs.n > SCHEMA_MAX_ERRORS ||
	    (!checked && rc == 0)) {
		fprintf(stderr, "validate: rc %d with %zu errors\n", rc,
		    errs.n);
		abort();
	}
	for (i = 0; i < errs.n; i++) {
		check_path(errs.e[i].path, errs.e[i].reason);
		if (strstr(errs.e[i].reason, "SECRET") != NULL) {
			fprintf(stderr, "a reason quotes a value: %s\n",
			    errs.e[i].reason);
			abort();
		}
	}
	if ((j = schema_errors_json(&errs)) == NULL ||
	    json_array_size(j) != errs.n)
		abort();
	json_decref(j);
	if (checked && json_is_object(value)) {
		if ((j = schema_public_values(schema, value)) == NULL)
			abort();
		json_decref(j);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 path[SCHEMA_PATH_MAX], reason[SCHEMA_REASON_MAX];
	const uint8_t	*nul;
	json_t		*schema, *value = NULL;
	size_t		 slen;
	int		 checked;

	nul = memchr(data, '\0', size);
	slen = nul != NULL ? (size_t)(nul - data) : size;
	if ((schema = json_loadb((const char *)data, slen, JSON_DECODE_ANY,
	    NULL)) == NULL)
		return 0;
	checked = schema_check(schema, path, sizeof(path), reason,
	    sizeof(reason)) == 0;
	if (!checked)
		check_path(path, reason);
	if (nul != NULL)
		value = json_loadb((const char *)nul + 1, size - slen - 1,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (value != NULL)
		validate(schema, value, checked);
	json_decref(value);
	json_decref(schema);
	return 0;
}
