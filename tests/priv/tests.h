/*
 * The priv/ unit test program runs one cmocka group per file; each file
 * exports its group runner here, and main.c calls them all.
 */
#ifndef DROMOS_TESTS_PRIV_H
#define DROMOS_TESTS_PRIV_H

int	 run_aead_tests(void);		/* test_aead.c */
int	 run_keyring_tests(void);	/* test_keyring.c */
int	 run_audit_tests(void);		/* test_audit.c */
int	 run_config_tests(void);	/* test_config.c */
int	 run_tpm_tests(void);		/* test_tpm.c */

/* Absolute path of ../shared/testdata, from DROMOS_TESTDATA or the cwd. */
const char *testdata_path(const char *rel, char *buf, size_t bufsz);

#endif
