/*
 * dromosctl key status, key rotate, key rewrap: the data-key versions the
 * keyholder holds, asked for through the broker's admin socket
 * (unpriv/API.md, "Keys").  No key ever crosses: the answers are version
 * numbers and counts.
 */
#include <stdio.h>

#include "ctl/admin.h"
#include "ctl/dromosctl.h"
#include "ctl/table.h"

#define REWRAP_TIMEOUT	3600L	/* seconds */

static const struct column	 version_cols[] = {
	{ "VERSION",	"version" },
	{ "SEALS",	"seals" },
	{ "CREATED",	"created" },
};
#define NVERSION_COLS	(sizeof(version_cols) / sizeof(version_cols[0]))

/* "1: 10  2: 3" from {"1": 10, "2": 3}. */
static void
print_counts(const char *label, const json_t *obj)
{
	const char	*k;
	json_t		*v;

	printf("%-17s", label);
	if (!json_is_object(obj) || json_object_size(obj) == 0)
		printf(" none");
	else
		json_object_foreach((json_t *)obj, k, v)
			printf(" v%s: %lld", k, (long long)json_integer_value(v));
	printf("\n");
}

int
cmd_key_status(int argc, char *argv[])
{
	json_t	*resp, *rows;
	int	 rv;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "keys", NULL, NULL, 0, &resp) == -1)
		return 1;
	if (admin_want_json()) {
		rv = table_json(resp);
		json_decref(resp);
		return rv == 0 ? 0 : 1;
	}
	printf("active version   %lld\n", (long long)json_integer_value(
	    json_object_get(resp, "active")));
	rows = json_object_get(resp, "sealed_rows");
	print_counts("connections", json_object_get(rows, "connections"));
	print_counts("provider secrets", json_object_get(rows,
	    "provider_secrets"));
	printf("\n");
	rv = table_list(resp, "versions", version_cols, NVERSION_COLS);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_key_rotate(int argc, char *argv[])
{
	json_t	*resp;
	int	 rv = 0;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	if (admin_request("POST", "keys", "rotate", NULL, 0, &resp) == -1)
		return 1;
	if (admin_want_json())
		rv = table_json(resp);
	else
		printf("key version %lld is active; values sealed before "
		    "still open (key rewrap re-seals them)\n",
		    (long long)json_integer_value(json_object_get(resp,
		    "active")));
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_key_rewrap(int argc, char *argv[])
{
	json_t	*resp;
	long long failed;
	int	 rv = 0;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	/*
	 * Every stored secret is opened and sealed again: minutes for a
	 * large vault.  A run cut short is taken up by the next one.
	 */
	admin_set_timeout(REWRAP_TIMEOUT);
	if (admin_request("POST", "keys", "rewrap", NULL, 0, &resp) == -1)
		return 1;
	failed = json_integer_value(json_object_get(resp, "failed"));
	if (admin_want_json())
		rv = table_json(resp);
	else
		printf("re-sealed under version %lld: %lld connections, %lld "
		    "provider secrets (%lld changed meanwhile, %lld do not "
		    "open)\n",
		    (long long)json_integer_value(json_object_get(resp,
		    "version")),
		    (long long)json_integer_value(json_object_get(resp,
		    "connections")),
		    (long long)json_integer_value(json_object_get(resp,
		    "provider_secrets")),
		    (long long)json_integer_value(json_object_get(resp,
		    "changed")), failed);
	json_decref(resp);
	/* Rows that do not open are the operator's to look at. */
	return rv == 0 && failed == 0 ? 0 : 1;
}
