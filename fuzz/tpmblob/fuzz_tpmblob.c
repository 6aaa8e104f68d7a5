/*
 * Fuzz target for the TPM key blob parser (priv/tpm.c, tpm_blob_parse),
 * which reads a file before any TPM is asked.  Properties, each checked
 * with abort():
 *
 *   - a refusal always says why;
 *   - what parses is canonical: tpm_blob_encode() gives back exactly the
 *     input bytes, so no two files mean the same blob and nothing in a
 *     file is ignored;
 *   - a parsed blob is what the sealer writes: SHA-256 bank iff a PCR
 *     mask, no PCR above 23.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "priv/tpm.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 fd;

	(void)argc;
	(void)argv;
	/* tpm_blob_encode() logs only on failure, which aborts anyway. */
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1)
		log_setfd(fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm_blob	 b;
	uint8_t		*again = NULL;
	size_t		 len = 0;
	char		 err[128];

	err[0] = '\0';
	if (tpm_blob_parse(data, size, &b, err, sizeof(err)) != TPMKEY_OK) {
		check(err[0] != '\0');
		return 0;
	}
	check(size <= TPM_BLOB_MAX);
	check((b.pcrs.mask >> TPM_PCR_COUNT) == 0);
	check(data[7] == (b.pcrs.mask ? 0x0b : 0x10));
	check(tpm_blob_encode(&b, &again, &len) == TPMKEY_OK);
	check(len == size && memcmp(again, data, size) == 0);
	free(again);
	return 0;
}
