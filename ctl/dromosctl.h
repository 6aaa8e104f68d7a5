/*
 * dromosctl: the operator's tool.  Each command is a pair of words ("key
 * init", "audit verify") found in one dispatch table in dromosctl.c; its
 * handler lives in a file of its own.
 *
 * A handler gets the arguments after the pair, with argv[0] the second
 * word, so it can use getopt(3) directly (optind is 1 on entry).  It
 * returns the exit status of dromosctl, or CTL_USAGE to have its usage line
 * printed and dromosctl exit 1.
 */
#ifndef DROMOS_CTL_H
#define DROMOS_CTL_H

#define CTL_USAGE	(-1)

/* ctl/cmd_key.c */
int	 cmd_key_init(int argc, char *argv[]);
/* ctl/key_tpm.c */
int	 cmd_key_seal_tpm(int argc, char *argv[]);
int	 cmd_key_status(int argc, char *argv[]);
int	 cmd_key_rotate(int argc, char *argv[]);
int	 cmd_key_rewrap(int argc, char *argv[]);
/* ctl/cmd_audit.c */
int	 cmd_audit_pubkey(int argc, char *argv[]);
int	 cmd_audit_verify(int argc, char *argv[]);
/* ctl/cmd_provider.c */
int	 cmd_provider_add(int argc, char *argv[]);
int	 cmd_provider_update(int argc, char *argv[]);
int	 cmd_provider_list(int argc, char *argv[]);
int	 cmd_provider_show(int argc, char *argv[]);
int	 cmd_provider_remove(int argc, char *argv[]);
/* ctl/cmd_client.c */
int	 cmd_client_add(int argc, char *argv[]);
int	 cmd_client_list(int argc, char *argv[]);
int	 cmd_client_revoke(int argc, char *argv[]);
/* ctl/cmd_connection.c */
int	 cmd_connection_list(int argc, char *argv[]);
int	 cmd_connection_show(int argc, char *argv[]);
int	 cmd_connection_log(int argc, char *argv[]);

#endif /* DROMOS_CTL_H */
