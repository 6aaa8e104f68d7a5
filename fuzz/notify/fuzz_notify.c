/*
 * A change announcement's payload from untrusted bytes.  notify_apply
 * must never crash nor read past the payload; and whatever it says, an
 * entry of a table it does not name survives, and an entry survives
 * unless the payload names its table with its id, an empty id or one too
 * long to be a key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unpriv/cache.h"
#include "unpriv/notify.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct cache_ops	 ops = { .valsz = sizeof(int) };

/* Whether the payload may make the "connections" entry "c1" go. */
static int
may_forget(const char *p)
{
	const char	*id;

	if (strncmp(p, "connections:", 12) != 0)
		return 0;
	id = p + 12;
	return strcmp(id, "c1") == 0 || *id == '\0' ||
	    strlen(id) > CACHE_KEY_MAX;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache	*conns, *clients;
	char		*p;
	int		 v = 1;

	if (size > 8000)	/* PostgreSQL's payload limit */
		return 0;
	if ((p = malloc(size + 1)) == NULL)
		return 0;
	memcpy(p, data, size);
	p[size] = '\0';		/* libpq hands over a C string */
	conns = cache_new(&ops, 16, 60000);
	clients = cache_new(&ops, 16, 60000);
	if (conns == NULL || clients == NULL)
		abort();
	const struct notify_target t[] = {
		{ "connections", conns, 1 },
		{ "clients", clients, 0 },
	};
	cache_put(conns, "c1", 2, &v, cache_gen(conns));
	cache_put(clients, "h", 1, &v, cache_gen(clients));
	notify_apply(t, 2, p);
	if (!may_forget(p) && !cache_get(conns, "c1", 2, &v))
		abort();
	if (strncmp(p, "clients:", 8) != 0 && !cache_get(clients, "h", 1, &v))
		abort();
	cache_free(conns);
	cache_free(clients);
	free(p);
	return 0;
}
