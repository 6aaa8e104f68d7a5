/*
 * The embedded migrations: every file of unpriv/sql/ is compiled in, in
 * version order, byte for byte; and migrate_check() refuses a list that
 * is out of order, repeats a version, or does not match its lengths.
 * Run from the repository root.
 */
#include <sys/types.h>

#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/store/tests.h"
#include "unpriv/migrate.h"

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) > 0);
	rewind(f);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
test_every_file_in_order(void **state)
{
	glob_t	 g;
	char	 want[256], *text;
	size_t	 i, len;

	(void)state;
	/* glob sorts, and NNN_ sorts by version. */
	assert_int_equal(glob("unpriv/sql/*.sql", 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, migrate_count);
	for (i = 0; i < g.gl_pathc; i++) {
		snprintf(want, sizeof(want), "unpriv/sql/%03d_%s.sql",
		    migrate_list[i].version, migrate_list[i].name);
		assert_string_equal(g.gl_pathv[i], want);
		text = slurp(g.gl_pathv[i], &len);
		assert_int_equal(migrate_list[i].len, len);
		assert_int_equal(strlen(migrate_list[i].sql), len);
		assert_memory_equal(migrate_list[i].sql, text, len);
		free(text);
	}
	globfree(&g);
}

static void
test_list_is_valid(void **state)
{
	(void)state;
	assert_int_equal(migrate_check(migrate_list, migrate_count), 0);
	assert_int_equal(migrate_list[0].version, 1);
	assert_string_equal(migrate_list[0].name, "init");
}

static void
test_check_refuses(void **state)
{
	static const struct migration ok[] = {
		{ 1, "a", "SELECT 1", 8 }, { 3, "b", "SELECT 2", 8 },
	};
	static const struct migration backwards[] = {
		{ 2, "a", "SELECT 1", 8 }, { 1, "b", "SELECT 2", 8 },
	};
	static const struct migration twice[] = {
		{ 1, "a", "SELECT 1", 8 }, { 1, "b", "SELECT 2", 8 },
	};
	static const struct migration zero[] = { { 0, "a", "SELECT 1", 8 } };
	static const struct migration badlen[] = { { 1, "a", "SELECT 1", 9 } };
	static const struct migration noname[] = { { 1, "", "SELECT 1", 8 } };
	static const struct migration empty[] = { { 1, "a", "", 0 } };

	(void)state;
	assert_int_equal(migrate_check(ok, 2), 0);
	assert_int_equal(migrate_check(ok, 0), -1);
	assert_int_equal(migrate_check(backwards, 2), -1);
	assert_int_equal(migrate_check(twice, 2), -1);
	assert_int_equal(migrate_check(zero, 1), -1);
	assert_int_equal(migrate_check(badlen, 1), -1);
	assert_int_equal(migrate_check(noname, 1), -1);
	assert_int_equal(migrate_check(empty, 1), -1);
}

int
run_embed_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file_in_order),
		cmocka_unit_test(test_list_is_valid),
		cmocka_unit_test(test_check_refuses),
	};

	return cmocka_run_group_tests_name("embed", tests, NULL, NULL);
}
