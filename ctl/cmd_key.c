/*
 * dromosctl key init FILE: a fresh root key in a new file, in the form
 * rootkey_read_file() reads (priv/rootkey.h), mode 0400, owned by whoever
 * runs the command.  An existing file is never replaced.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <stdint.h>

#include "ctl/dromosctl.h"
#include "priv/aead.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"

/* AEAD_KEYLEN bytes from getrandom(2), which blocks until it is seeded. */
static int
fill_random(uint8_t *buf, size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;

	while (off < len) {
		n = getrandom(buf + off, len - off, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int
cmd_key_init(int argc, char *argv[])
{
	uint8_t	*key;
	int	 rv = 1;

	if (argc != 2)
		return CTL_USAGE;
	(void)umask(077);
	if (secmem_init() == -1 || (key = secmem_alloc(AEAD_KEYLEN)) == NULL)
		errx(1, "no key memory");
	if (fill_random(key, AEAD_KEYLEN) == -1)
		warn("getrandom");
	else if (rootkey_write_file(argv[1], key) == 0)
		rv = 0;
	/* rootkey_write_file() said why it failed. */
	secmem_free(key, AEAD_KEYLEN);
	return rv;
}
