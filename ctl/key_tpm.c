/*
 * dromosctl key seal-tpm [-k ROOTKEYFILE] [--tcti TCTI] [--pcrs PCRS] BLOBFILE
 *
 * Seals a root key in the TPM and writes the blob to BLOBFILE, a new file
 * (never replaced) of mode 0400 owned by whoever runs the command.  The key
 * is a fresh one from getrandom(2), or with -k the one in ROOTKEYFILE, which
 * moves an appliance from a key file to the TPM without losing the data
 * sealed under that key.  Before anything is written the blob is unsealed
 * again and compared, so a blob on disk is known to open on this TPM with
 * today's PCR values.  The key is never printed.
 *
 * -T and -p are short for --tcti and --pcrs; -o BLOBFILE is accepted for
 * BLOBFILE.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "ctl/dromosctl.h"
#include "ctl/key_tpm.h"
#include "priv/aead.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"
#include "priv/tpm.h"

_Static_assert(TPM_ROOTKEY_LEN == AEAD_KEYLEN, "a root key is an AEAD key");

struct seal_args {
	const char		*keyfile;	/* NULL: a fresh key */
	const char		*blobfile;
	const char		*tcti;		/* NULL: TPM_TCTI_DEFAULT */
	struct tpm_pcr_sel	 pcrs;
};

static int
parse_args(int argc, char *argv[], struct seal_args *a)
{
	static const struct option	 longopts[] = {
		{ "key-file",	required_argument,	NULL,	'k' },
		{ "output",	required_argument,	NULL,	'o' },
		{ "pcrs",	required_argument,	NULL,	'p' },
		{ "tcti",	required_argument,	NULL,	'T' },
		{ NULL,		0,			NULL,	0 },
	};
	char	 err[160];
	int	 ch;

	memset(a, 0, sizeof(*a));
	while ((ch = getopt_long(argc, argv, "k:o:p:T:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'k':
			a->keyfile = optarg;
			break;
		case 'o':
			if (a->blobfile != NULL)
				return -1;
			a->blobfile = optarg;
			break;
		case 'p':
			if (tpm_pcr_parse(optarg, &a->pcrs, err,
			    sizeof(err)) == -1) {
				log_warnx("%s", err);
				return -1;
			}
			break;
		case 'T':
			a->tcti = optarg;
			break;
		default:
			return -1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && a->blobfile == NULL)
		a->blobfile = argv[0];
	else if (argc != 0 || a->blobfile == NULL)
		return -1;
	return 0;
}

static int
fill_random(uint8_t *buf, size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;

	while (off < len) {
		n = getrandom(buf + off, len - off, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("getrandom");
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Not secret, but a comparison of key bytes all the same. */
static int
ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t	 d = 0;
	size_t			 i;

	for (i = 0; i < len; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* A new file, mode 0400; removed again if it cannot be written whole. */
static int
write_blob(const char *path, const uint8_t *blob, size_t len)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd, rv = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0400)) == -1) {
		log_warn("%s: create", path);
		return -1;
	}
	/* The umask may only take bits away; 0400 exactly is the point. */
	if (fchmod(fd, 0400) == -1) {
		log_warn("%s: fchmod", path);
		rv = -1;
	}
	while (rv == 0 && off < len) {
		if ((n = write(fd, blob + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: write", path);
			rv = -1;
		} else
			off += (size_t)n;
	}
	if (rv == 0 && fsync(fd) == -1) {
		log_warn("%s: fsync", path);
		rv = -1;
	}
	if (close(fd) == -1 && rv == 0) {
		log_warn("%s: close", path);
		rv = -1;
	}
	if (rv == -1)
		(void)unlink(path);
	return rv;
}

/* Seal key, prove the blob opens again, and write it. */
static int
seal_and_write(const struct seal_args *a, const uint8_t *key, uint8_t *check)
{
	uint8_t	*blob = NULL;
	size_t	 len = 0;
	int	 rv = -1;

	if (tpm_seal_rootkey(a->tcti, &a->pcrs, key, &blob, &len) !=
	    TPMKEY_OK)
		return -1;	/* priv/tpm.c said why */
	if (tpm_unseal_rootkey(a->tcti, blob, len, check) != TPMKEY_OK)
		log_warnx("the new blob does not unseal; nothing written");
	else if (!ct_equal(key, check, TPM_ROOTKEY_LEN))
		log_warnx("the TPM unsealed a different key; nothing written");
	else
		rv = write_blob(a->blobfile, blob, len);
	free(blob);
	return rv;
}

int
cmd_key_seal_tpm(int argc, char *argv[])
{
	struct seal_args	 a;
	struct stat		 st;
	uint8_t			*key = NULL, *check = NULL;
	char			 pcrs[96];
	int			 rv = 1;

	if (parse_args(argc, argv, &a) == -1)
		return CTL_USAGE;
	/* Fail before the TPM work; O_EXCL below still decides. */
	if (lstat(a.blobfile, &st) == 0) {
		log_warnx("%s: already exists; not replacing it", a.blobfile);
		return 1;
	}
	if (secmem_init() == -1 ||
	    (key = secmem_alloc(TPM_ROOTKEY_LEN)) == NULL ||
	    (check = secmem_alloc(TPM_ROOTKEY_LEN)) == NULL) {
		log_warnx("no key memory");
		goto out;
	}
	if (a.keyfile != NULL) {
		if (rootkey_read_file(a.keyfile, key) == -1)
			goto out;
	} else if (fill_random(key, TPM_ROOTKEY_LEN) == -1)
		goto out;
	if (seal_and_write(&a, key, check) == -1)
		goto out;

	tpm_pcr_format(&a.pcrs, pcrs, sizeof(pcrs));
	printf("%s: %s sealed by the TPM at %s, PCR policy %s\n", a.blobfile,
	    a.keyfile != NULL ? "the root key" : "a new root key",
	    a.tcti != NULL ? a.tcti : TPM_TCTI_DEFAULT, pcrs);
	rv = 0;
 out:
	secmem_free(key, TPM_ROOTKEY_LEN);
	secmem_free(check, TPM_ROOTKEY_LEN);
	return rv;
}
