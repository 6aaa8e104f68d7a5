/*
 * The tests of the broker's database layer: one cmocka group per file,
 * each exporting its runner here for main.c.
 */
#ifndef DROMOS_TESTS_STORE_H
#define DROMOS_TESTS_STORE_H

int	 run_embed_tests(void);		/* test_embed.c */
int	 run_vault_tests(void);		/* test_vault.c */
int	 run_db_tests(void);		/* test_db.c */
int	 run_pg_tests(void);		/* test_pg.c: needs DROMOS_TEST_PG */

/*
 * Capture what the log writes (logcap.c): start sends it to a temporary
 * file, stop restores stderr and returns what was written, NUL-terminated
 * (free it).
 */
void	 logcap_start(void);
char	*logcap_stop(void);

#endif
