/* Runs every cmocka group of the database layer's tests. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/log.h"
#include "tests/store/tests.h"

int
main(void)
{
	int	 failed = 0;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	log_procinit("test-store");
	failed += run_embed_tests();
	failed += run_vault_tests();
	failed += run_db_tests();
	failed += run_pg_tests();
	return failed ? 1 : 0;
}
