/*
 * Re-sealing every stored secret under the active key version, online
 * (rewrap.c; dromosctl key rewrap).
 */
#ifndef DROMOS_UNPRIV_REWRAP_H
#define DROMOS_UNPRIV_REWRAP_H

#include <stddef.h>
#include <stdint.h>

#define REWRAP_BATCH	32	/* rows read at a time */

struct broker;

struct rewrap_result {
	uint32_t	 version;	/* the active version at the start */
	size_t		 connections;	/* re-sealed */
	size_t		 providers;	/* client secrets re-sealed */
	size_t		 changed;	/* replaced meanwhile by a writer */
	size_t		 failed;	/* do not open: left as they are */
	const char	*error;		/* why the run stopped, or NULL */
};

/* 0 when every row was visited, -1 when the run stopped (res->error). */
int	 rewrap_all(struct broker *, struct rewrap_result *res);

#endif /* DROMOS_UNPRIV_REWRAP_H */
