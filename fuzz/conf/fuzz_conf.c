/*
 * dromos.conf from untrusted bytes: config_parse_buf must never crash or
 * leak, every error must name the file, and whatever parses must dump to
 * text that parses again to the same dump (so the dump and the parser
 * agree on quoting).  The libpq redaction is fed the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priv/config.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
dump(const struct dromos_conf *cf)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	config_dump(cf, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

static void
round_trip(const struct dromos_conf *cf)
{
	struct dromos_conf	 again;
	char			 err[512], *a, *b;

	a = dump(cf);
	if (config_parse_buf(a, strlen(a), "dump", &again, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "dump does not parse: %s\n%s", err, a);
		abort();
	}
	b = dump(&again);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "dump changed:\n%s---\n%s", a, b);
		abort();
	}
	config_free(&again);
	free(a);
	free(b);
}

static void
redact(const uint8_t *data, size_t size)
{
	char	*in, *out;
	size_t	 outlen = size * 2 + 64;

	if ((in = malloc(size + 1)) == NULL || (out = malloc(outlen)) == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	if (config_redact_conninfo(in, out, outlen) != 0 ||
	    strlen(out) >= outlen)
		abort();
	free(in);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dromos_conf	 cf;
	char			 err[512];

	if (config_parse_buf((const char *)data, size, "fuzz.conf", &cf, err,
	    sizeof(err)) == 0) {
		round_trip(&cf);
		config_free(&cf);
	} else if (strncmp(err, "fuzz.conf:", 10) != 0) {
		fprintf(stderr, "error without the file name: %s\n", err);
		abort();
	}
	redact(data, size);
	return 0;
}
