/*
 * dromosctl client add NAME --scope SCOPE..., client list, client revoke
 * NAME: the API clients of the broker (unpriv/API.md, "Scopes").
 *
 * "client add" is the only time a client's token exists in the clear
 * outside the client itself: the broker keeps a hash.  It goes to
 * standard output alone, straight through write(2), and every copy in
 * this process is wiped (ctl/admin.c allocates for jansson and libcurl).
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/admin.h"
#include "ctl/dromosctl.h"
#include "ctl/table.h"

static const struct column	 client_cols[] = {
	{ "NAME",	"name" },
	{ "ID",		"id" },
	{ "SCOPES",	"scopes" },
	{ "CREATED",	"created_at" },
	{ "REVOKED",	"revoked_at" },
};
#define NCLIENT_COLS	(sizeof(client_cols) / sizeof(client_cols[0]))

/* A token is printable ASCII without spaces; anything else is not one. */
static int
token_ok(const char *t)
{
	if (t == NULL || *t == '\0')
		return 0;
	for (; *t != '\0'; t++)
		if (*t < 0x21 || *t > 0x7e)
			return 0;
	return 1;
}

/* The request body {"name": NAME, "scopes": [...]}, from the arguments. */
static json_t *
parse_add(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		ADMIN_LONGOPTS,
		{ "scope", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	json_t				*scopes, *body = NULL;
	int				 ch;

	if ((scopes = json_array()) == NULL)
		err(1, NULL);
	while ((ch = getopt_long(argc, argv, ADMIN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (ch == 'S') {
			if (json_array_append_new(scopes,
			    json_string(optarg)) == -1) {
				warnx("%s: not UTF-8", "scope");
				goto out;
			}
		} else if (admin_option(ch, optarg) == -1)
			goto out;
	}
	if (argc - optind != 1 || *argv[optind] == '\0' ||
	    json_array_size(scopes) == 0)
		goto out;
	if ((body = json_pack("{s:s, s:O}", "name", argv[optind], "scopes",
	    scopes)) == NULL)
		warnx("%s: not UTF-8", "name");
 out:
	json_decref(scopes);
	return body;
}

int
cmd_client_add(int argc, char *argv[])
{
	const char	*token;
	json_t		*body, *resp;
	char		*text;
	int		 rv = 1;

	if ((body = parse_add(argc, argv)) == NULL)
		return CTL_USAGE;
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		err(1, NULL);
	json_decref(body);
	if (admin_request("POST", "clients", NULL, text, strlen(text),
	    &resp) == -1) {
		free(text);
		return 1;
	}
	free(text);
	token = json_string_value(json_object_get(resp, "token"));
	if (!token_ok(token))
		warnx("malformed answer from the broker: no token");
	else {
		warnx("store this token now: it will not be shown again");
		if ((admin_want_json() ? table_json(resp) :
		    table_secret(token)) == 0)
			rv = 0;
	}
	json_decref(resp);	/* wipes the token (ctl/admin.c) */
	return rv;
}

int
cmd_client_list(int argc, char *argv[])
{
	json_t	*resp;
	int	 rv;

	if (admin_args(argc, argv, 0) == -1)
		return CTL_USAGE;
	if (admin_request("GET", "clients", NULL, NULL, 0, &resp) == -1)
		return 1;
	if (admin_want_json())
		rv = table_json(resp);
	else
		rv = table_list(resp, "clients", client_cols, NCLIENT_COLS);
	json_decref(resp);
	return rv == 0 ? 0 : 1;
}

int
cmd_client_revoke(int argc, char *argv[])
{
	json_t	*resp;
	char	*safe;
	int	 i;

	if ((i = admin_args(argc, argv, 1)) == -1)
		return CTL_USAGE;
	if (admin_request("DELETE", "clients", argv[i], NULL, 0, &resp) == -1)
		return 1;
	json_decref(resp);
	if (admin_want_json())
		return 0;
	safe = table_safe(argv[i], strlen(argv[i]));
	printf("client %s revoked\n", safe);
	free(safe);
	return fflush(stdout) == EOF ? 1 : 0;
}
