/*
 * gateway.conf from arbitrary bytes: gw_config_parse must never crash or
 * leak, every error must name the file, and whatever parses must dump to
 * text that parses again to the same dump.  The configuration is the
 * operator's, not the network's; its parser is fuzzed all the same, for
 * the host:port and name checks of "broker tls".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
dump(const struct gw_conf *cf)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	gw_config_dump(cf, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

static void
round_trip(const struct gw_conf *cf)
{
	struct gw_conf	 again;
	char		 err[512], *a, *b;

	a = dump(cf);
	if (gw_config_parse("dump", a, strlen(a), &again, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "dump does not parse: %s\n%s", err, a);
		abort();
	}
	b = dump(&again);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "dump changed:\n%s---\n%s", a, b);
		abort();
	}
	if ((cf->broker_tls.host == NULL) != (again.broker_tls.host == NULL) ||
	    (cf->broker_tls.host != NULL &&
	    strcmp(gw_broker_name(cf), gw_broker_name(&again)) != 0))
		abort();
	gw_config_free(&again);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_conf	 cf;
	char		 err[512];

	if (gw_config_parse("fuzz.conf", (const char *)data, size, &cf, err,
	    sizeof(err)) == 0) {
		round_trip(&cf);
		gw_config_free(&cf);
	} else if (strncmp(err, "fuzz.conf", 9) != 0) {
		fprintf(stderr, "error without the file name: %s\n", err);
		abort();
	}
	return 0;
}
