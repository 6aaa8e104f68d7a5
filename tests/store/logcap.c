/* Capturing the log in the tests of the database layer (tests.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/store/tests.h"

static FILE	*cap;

void
logcap_start(void)
{
	if ((cap = tmpfile()) == NULL)
		abort();
	log_setfd(fileno(cap));
}

char *
logcap_stop(void)
{
	char	*buf;
	long	 n;

	log_setfd(STDERR_FILENO);
	if (fseek(cap, 0, SEEK_END) == -1 || (n = ftell(cap)) < 0 ||
	    fseek(cap, 0, SEEK_SET) == -1 ||
	    (buf = calloc(1, (size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, cap) != (size_t)n)
		abort();
	fclose(cap);
	cap = NULL;
	/* Shown, so a failing test explains itself. */
	fputs(buf, stderr);
	return buf;
}
