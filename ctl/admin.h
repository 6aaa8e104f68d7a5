/*
 * The broker's admin socket (unpriv/API.md, "Admin socket"), as the
 * operator commands of dromosctl use it: HTTP/1.1 over a unix socket, JSON
 * both ways, problem documents (RFC 9457) printed as error messages.
 *
 * Every function that fails has already said why on stderr; the caller
 * only exits 1.
 */
#ifndef DROMOS_CTL_ADMIN_H
#define DROMOS_CTL_ADMIN_H

#include <stddef.h>

#include <jansson.h>

#define ADMIN_SOCKET_DEFAULT	"/run/dromos/admin.sock"
#define ADMIN_SOCKET_ENV	"DROMOS_ADMIN_SOCKET"
#define ADMIN_RESPONSE_MAX	(4UL * 1024 * 1024)
#define ADMIN_FILE_MAX		(1UL * 1024 * 1024)

/*
 * The options every admin command takes, before its two words (parsed by
 * main through admin_globals) or after them: -s SOCKET / --socket SOCKET,
 * and -j / --json.  ADMIN_SHORTOPTS and ADMIN_LONGOPTS go into a command's
 * own getopt_long(3) tables; admin_option() takes what they matched.
 */
#define ADMIN_USAGE		"[-j] [-s socket]"
#define ADMIN_SHORTOPTS		"js:"
#define ADMIN_LONGOPTS						\
	{ "json", no_argument, NULL, 'j' },			\
	{ "socket", required_argument, NULL, 's' }

/*
 * Consume the global options at the start of argv (after argv[0]).
 * Returns how many words they took, or -1 on a usage error.
 */
int	 admin_globals(int argc, char *argv[]);
/* 0 when ch is one of the admin options (and is now set), else -1. */
int	 admin_option(int ch, const char *arg);
/*
 * A command that takes only the admin options and exactly nops non-empty
 * operands: parse them; the index of the first operand, or -1 (usage).
 */
int	 admin_args(int argc, char *argv[], int nops);
/*
 * How long one request may take, whole (default 60 s); for a command
 * whose work grows with the data, like key rewrap.
 */
void	 admin_set_timeout(long seconds);
/* Nonzero when --json was given. */
int	 admin_want_json(void);

/*
 * One request: method on /coll or, when id is not NULL, on /coll/id with
 * id percent-encoded.  body (bodylen bytes of JSON) may be NULL.
 * On a 2xx answer returns 0 and sets *resp to the parsed JSON answer (NULL
 * for an empty one: 204).  Otherwise prints the problem and returns -1.
 */
int	 admin_request(const char *method, const char *coll, const char *id,
	    const char *body, size_t bodylen, json_t **resp);

/*
 * A JSON file of at most ADMIN_FILE_MAX bytes ("-": standard input), which
 * must hold one object.  Returns it parsed and sets *buf and *len to its
 * bytes, to be released with admin_file_free(); NULL after saying why.
 */
json_t	*admin_file_read(const char *path, char **buf, size_t *len);
/* Wipe and free the bytes of a file (it may hold a client secret). */
void	 admin_file_free(char *buf, size_t len);

#endif /* DROMOS_CTL_ADMIN_H */
