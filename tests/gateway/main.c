/* Runs every cmocka group of the gateway/ unit tests. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/log.h"
#include "tests/gateway/tests.h"

int
main(void)
{
	int	 failed = 0;

	/* The upstream tests close sockets under the client. */
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procinit("test-gateway");
	failed += run_route_tests();
	failed += run_check_tests();
	failed += run_ratelimit_tests();
	failed += run_upstream_tests();
	failed += run_upstream_tls_tests();
	failed += run_config_tests();
	failed += run_openapi_tests();
	return failed ? 1 : 0;
}
