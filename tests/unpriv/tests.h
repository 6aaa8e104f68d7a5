/*
 * The unpriv/ unit test program runs one cmocka group per file; each file
 * exports its group runner here, and main.c calls them all.
 */
#ifndef DROMOS_TESTS_UNPRIV_H
#define DROMOS_TESTS_UNPRIV_H

int	 run_khclient_tests(void);	/* test_khclient.c */
int	 run_listen_tests(void);	/* test_listen.c */
int	 run_http_tests(void);		/* test_http.c */
int	 run_schema_tests(void);	/* test_schema.c */
int	 run_provider_tests(void);	/* test_provider.c */
int	 run_payload_tests(void);	/* test_payload.c */
int	 run_oauth_tests(void);		/* test_oauth.c */
int	 run_cache_tests(void);		/* test_cache.c */
int	 run_fsview_tests(void);	/* test_fsview.c */
int	 run_metrics_tests(void);	/* test_metrics.c, last: it fills
					   the route table */

#endif
