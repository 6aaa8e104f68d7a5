/*
 * What the operator commands print: aligned tables (like bgpctl show), one
 * object as "key  value" lines, or the broker's JSON for scripts.
 *
 * Text that came from the broker is never written to a terminal as is:
 * control characters (C0, DEL, C1) are shown as \xNN.
 */
#ifndef DROMOS_CTL_TABLE_H
#define DROMOS_CTL_TABLE_H

#include <stddef.h>

#include <jansson.h>

struct column {
	const char	*header;	/* "NAME" */
	const char	*key;		/* "display_name" */
};

/*
 * The array resp[list], one row per element (each an object), one column
 * per cols[i].key.  Returns 0, or -1 after saying the answer is malformed.
 */
int	 table_list(const json_t *resp, const char *list,
	    const struct column *cols, size_t ncols);
/* One object, one "key  value" line per member; -1 if it is not one. */
int	 table_show(const json_t *obj);
/*
 * v indented, on standard output through write(2), the text wiped after:
 * an answer may hold a token that must not linger in a stdio buffer.
 */
int	 table_json(const json_t *v);
/* A secret and a newline the same way. */
int	 table_secret(const char *s);
/* len bytes of s, control characters as \xNN, in a new string. */
char	*table_safe(const char *s, size_t len);

#endif /* DROMOS_CTL_TABLE_H */
