/*
 * dromosctl connection list, connection show ID: the connections the broker
 * holds, as the admin socket shows them (unpriv/API.md, "Views": status and
 * the non-secret metadata, never a credential); connection log ID: its
 * access_log, newest first.
 */
#include "ctl/admin.h"
#include "ctl/dromosctl.h"
#include "ctl/table.h"

static const struct column	 connection_cols[] = {
	{ "CONNECTION",	"connection" },
	{ "PROVIDER",	"provider" },
	{ "OWNER",	"owner" },
	{ "STATUS",	"status" },
	{ "UPDATED",	"updated_at" },
};
#define NCONNECTION_COLS \
	(sizeof(connection_cols) / sizeof(connection_cols[0]))

static const struct column	 log_cols[] = {
	{ "AT",		"at" },
	{ "CLIENT",	"client" },
	{ "OPERATION",	"operation" },
	{ "OUTCOME",	"outcome" },
	{ "REQUEST_ID",	"request_id" },
};
#define NLOG_COLS	(sizeof(log_cols) / sizeof(log_cols[0]))

int
cmd_connection_list(int argc, char *argv[])
{
	json_t	*resp;
	int	 rv;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "connections", NULL, NULL, 0, &resp) == -1)
		return 1;
	if (admin_want_json())
		rv = table_json(resp);
	else
		rv = table_list(resp, "connections", connection_cols,
		    NCONNECTION_COLS);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_connection_show(int argc, char *argv[])
{
	json_t	*resp;
	int	 i, rv;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "connections", argv[i], NULL, 0,
	    &resp) == -1)
		return 1;
	rv = admin_want_json() ? table_json(resp) : table_show(resp);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_connection_log(int argc, char *argv[])
{
	json_t	*resp;
	int	 i, rv;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "access-log", argv[i], NULL, 0, &resp) == -1)
		return 1;
	if (admin_want_json())
		rv = table_json(resp);
	else
		rv = table_list(resp, "entries", log_cols, NLOG_COLS);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}
