/*
 * dromosctl provider add|update FILE, provider list, provider show|remove ID:
 * the provider registry (DESIGN §9) through the admin socket.
 *
 * A provider file is checked to be one JSON object and sent as it is; the
 * broker validates the rest and names the path of what is wrong.  The
 * file's client_secret is write-only: the broker never returns it, and
 * should a broken one do so, it is dropped here before anything is printed.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/admin.h"
#include "ctl/dromosctl.h"
#include "ctl/table.h"

static const struct column	 provider_cols[] = {
	{ "ID",		"id" },
	{ "NAME",	"display_name" },
	{ "MODE",	"auth_mode" },
	{ "SECRET",	"has_client_secret" },
};
#define NPROVIDER_COLS	(sizeof(provider_cols) / sizeof(provider_cols[0]))

/* Defence in depth: a view with a client_secret loses it. */
static void
drop_secret(json_t *view)
{
	if (json_is_object(view))
		(void)json_object_del(view, "client_secret");
}

/* "provider ID what" with the id made safe to print. */
static int
say_done(const char *id, const char *what)
{
	char	*safe = table_safe(id, strlen(id));

	printf("provider %s %s\n", safe, what);
	free(safe);
	return fflush(stdout) == EOF ? 1 : 0;
}

/* POST the file (add) or PUT it on the id it names (update). */
static int
send_file(int argc, char *argv[], int update)
{
	const char	*path, *id;
	json_t		*doc, *resp = NULL;
	char		*buf;
	size_t		 len;
	int		 i, rv;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	path = argv[i];
	if ((doc = admin_file_read(path, &buf, &len)) == NULL)
		return 1;
	id = json_string_value(json_object_get(doc, "id"));
	if (update && (id == NULL || *id == '\0')) {
		warnx("%s: no \"id\": which provider to update", path);
		rv = -1;
	} else
		rv = admin_request(update ? "PUT" : "POST", "providers",
		    update ? id : NULL, buf, len, &resp);
	admin_file_free(buf, len);
	if (rv == 0) {
		drop_secret(resp);
		if (admin_want_json())
			rv = resp != NULL ? table_json(resp) : 0;
		else {
			if (json_is_string(json_object_get(resp, "id")))
				id = json_string_value(json_object_get(resp,
				    "id"));
			rv = say_done(id != NULL ? id : path,
			    update ? "updated" : "added");
		}
	}
	json_decref(resp);
	json_decref(doc);
	return rv == 0 ? 0 : 1;
}

int
cmd_provider_add(int argc, char *argv[])
{
	return send_file(argc, argv, 0);
}

int
cmd_provider_update(int argc, char *argv[])
{
	return send_file(argc, argv, 1);
}

int
cmd_provider_list(int argc, char *argv[])
{
	json_t	*resp, *list;
	size_t	 i;
	int	 rv;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "providers", NULL, NULL, 0, &resp) == -1)
		return 1;
	list = json_object_get(resp, "providers");
	for (i = 0; i < json_array_size(list); i++)
		drop_secret(json_array_get(list, i));
	if (admin_want_json())
		rv = table_json(resp);
	else
		rv = table_list(resp, "providers", provider_cols,
		    NPROVIDER_COLS);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_provider_show(int argc, char *argv[])
{
	json_t	*resp;
	int	 i, rv;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "providers", argv[i], NULL, 0, &resp) == -1)
		return 1;
	drop_secret(resp);
	rv = admin_want_json() ? table_json(resp) : table_show(resp);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_provider_remove(int argc, char *argv[])
{
	json_t	*resp;
	int	 i;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	if (admin_request("DELETE", "providers", argv[i], NULL, 0,
	    &resp) == -1)
		return 1;
	json_decref(resp);
	return admin_want_json() ? 0 : say_done(argv[i], "removed");
}
