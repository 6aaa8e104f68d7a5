/*
 * The gateway/ unit test program runs one cmocka group per file; each
 * file exports its group runner here, and main.c calls them all.
 */
#ifndef DROMOS_TESTS_GATEWAY_H
#define DROMOS_TESTS_GATEWAY_H

int	 run_route_tests(void);		/* test_route.c */
int	 run_check_tests(void);		/* test_check.c */
int	 run_ratelimit_tests(void);	/* test_ratelimit.c */
int	 run_upstream_tests(void);	/* test_upstream.c */
int	 run_upstream_tls_tests(void);	/* test_upstream_tls.c */
int	 run_config_tests(void);	/* test_config.c */
int	 run_openapi_tests(void);	/* test_openapi.c */

#endif
