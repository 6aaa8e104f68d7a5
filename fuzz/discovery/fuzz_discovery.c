/*
 * Authorization server metadata from untrusted bytes.  discovery_parse
 * must never crash; a document it accepts names only endpoints the HTTP
 * client would call (https, or http to loopback), carries the expected
 * issuer when one is given, and leaves nothing behind when refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unpriv/discovery.h"
#include "unpriv/outbound.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
url_ok(const char *u, int optional)
{
	char	 why[128];

	if (u[0] == '\0' && optional)
		return;
	if (outbound_url_ok(u, why, sizeof(why)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 expected[] = "https://as.example";
	struct oauth_endpoints	 ep;
	char			 why[256];
	const char		*exp;

	if (size < 1)
		return 0;
	exp = (data[0] & 1) ? expected : NULL;
	why[0] = '\0';
	if (discovery_parse((const char *)data + 1, size - 1, NULL, exp, &ep,
	    why, sizeof(why)) == 0) {
		if (exp != NULL && strcmp(ep.issuer, exp) != 0)
			abort();
		url_ok(ep.issuer, 0);
		url_ok(ep.authorization, 1);
		url_ok(ep.token, 1);
		url_ok(ep.revocation, 1);
		if (ep.iss_required != 0 && ep.iss_required != 1)
			abort();
	} else if (why[0] == '\0' || ep.issuer[0] != '\0' ||
	    ep.token[0] != '\0')
		abort();
	return 0;
}
