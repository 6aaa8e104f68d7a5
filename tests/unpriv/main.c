/* Runs every cmocka group of the unpriv/ unit tests. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/log.h"
#include "tests/unpriv/tests.h"

int
main(void)
{
	int	 failed = 0;

	/* A test that kills the keyholder must not die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procinit("test-unpriv");
	failed += run_khclient_tests();
	failed += run_listen_tests();
	failed += run_http_tests();
	failed += run_schema_tests();
	failed += run_provider_tests();
	failed += run_payload_tests();
	failed += run_oauth_tests();
	failed += run_cache_tests();
	failed += run_fsview_tests();
	failed += run_metrics_tests();
	return failed ? 1 : 0;
}
