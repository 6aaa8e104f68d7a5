/*
 * dromosctl: find the command in the table and run its handler.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl/admin.h"
#include "ctl/dromosctl.h"
#include "ctl/key_tpm.h"

struct ctl_cmd {
	const char	*name;
	const char	*sub;
	int		(*handler)(int, char *[]);
	const char	*usage;
};

static const struct ctl_cmd	 cmds[] = {
	{ "key", "init", cmd_key_init, "FILE" },
	{ "key", "seal-tpm", cmd_key_seal_tpm, KEY_SEAL_TPM_USAGE },
	{ "key", "status", cmd_key_status, ADMIN_USAGE },
	{ "key", "rotate", cmd_key_rotate, ADMIN_USAGE },
	{ "key", "rewrap", cmd_key_rewrap, ADMIN_USAGE },
	{ "audit", "pubkey", cmd_audit_pubkey,
	    "-k ROOTKEYFILE | -t BLOBFILE [-T TCTI]" },
	{ "audit", "verify", cmd_audit_verify,
	    "[-q] -p PUBKEY FILE [FILE ...]" },
	{ "provider", "add", cmd_provider_add, ADMIN_USAGE " FILE" },
	{ "provider", "update", cmd_provider_update, ADMIN_USAGE " FILE" },
	{ "provider", "list", cmd_provider_list, ADMIN_USAGE },
	{ "provider", "show", cmd_provider_show, ADMIN_USAGE " ID" },
	{ "provider", "remove", cmd_provider_remove, ADMIN_USAGE " ID" },
	{ "client", "add", cmd_client_add,
	    ADMIN_USAGE " NAME --scope SCOPE [--scope SCOPE ...]" },
	{ "client", "list", cmd_client_list, ADMIN_USAGE },
	{ "client", "revoke", cmd_client_revoke, ADMIN_USAGE " NAME" },
	{ "connection", "list", cmd_connection_list, ADMIN_USAGE },
	{ "connection", "show", cmd_connection_show, ADMIN_USAGE " ID" },
	{ "connection", "log", cmd_connection_log, ADMIN_USAGE " ID" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static const char	 progname[] = "dromosctl";

/* Every command, or those whose first word is name. */
static void __attribute__((__noreturn__))
usage(const char *name)
{
	size_t	 i;
	int	 first = 1;

	for (i = 0; i < NCMDS; i++) {
		if (name != NULL && strcmp(name, cmds[i].name) != 0)
			continue;
		fprintf(stderr, "%s %s %s %s %s\n", first ? "usage:" : "      ",
		    progname, cmds[i].name, cmds[i].sub, cmds[i].usage);
		first = 0;
	}
	exit(1);
}

static void __attribute__((__noreturn__))
usage_cmd(const struct ctl_cmd *c)
{
	fprintf(stderr, "usage: %s %s %s %s\n", progname, c->name, c->sub,
	    c->usage);
	exit(1);
}

int
main(int argc, char *argv[])
{
	const struct ctl_cmd	*c = NULL;
	size_t			 i;
	int			 n, rv;

	log_init(1, 0);
	log_procinit(progname);
	/* -s SOCKET and --json may come before the command (ctl/admin.h). */
	if ((n = admin_globals(argc, argv)) == -1)
		usage(NULL);
	argc -= n;
	argv += n;
	if (argc < 2)
		usage(NULL);
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], cmds[i].name) == 0 && argc >= 3 &&
		    strcmp(argv[2], cmds[i].sub) == 0)
			c = &cmds[i];
	if (c == NULL) {
		for (i = 0; i < NCMDS; i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				usage(argv[1]);
		usage(NULL);
	}
	if ((rv = c->handler(argc - 2, argv + 2)) == CTL_USAGE)
		usage_cmd(c);
	return rv;
}
