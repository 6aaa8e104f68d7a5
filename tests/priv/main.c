/* Runs every cmocka group of the priv/ unit tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tests/priv/tests.h"

const char *
testdata_path(const char *rel, char *buf, size_t bufsz)
{
	const char	*base = getenv("DROMOS_TESTDATA");

	if (base == NULL)
		base = "../shared/testdata";
	snprintf(buf, bufsz, "%s/%s", base, rel);
	return buf;
}

int
main(void)
{
	int	(*groups[])(void) = {
		run_aead_tests, run_keyring_tests, run_audit_tests,
		run_config_tests, run_tpm_tests,
	};
	size_t	 i;
	int	 failed = 0;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		failed += groups[i]();
	return failed ? 1 : 0;
}
