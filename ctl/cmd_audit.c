/*
 * dromosctl audit pubkey: print the public half of the audit signing key,
 * derived from the root key (priv/auditkey.h), in its one text form.
 * dromosctl audit verify: check a log offline (priv/auditverify.h).
 *
 * verify exits 0 when every line is chained and the log ends with a valid
 * checkpoint, 1 naming the first bad line ("line N: reason"), 2 when the
 * chain is intact but lines after the last checkpoint are not signed.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/dromosctl.h"
#include "priv/aead.h"
#include "priv/auditkey.h"
#include "priv/auditverify.h"
#include "priv/rootkey.h"
#include "priv/secmem.h"
#include "priv/tpm.h"

/* A small file (a public key or a TPM blob) into buf; its length or -1. */
static ssize_t
read_small(const char *path, uint8_t *buf, size_t bufsz)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("%s", path);
		return -1;
	}
	while (off < bufsz) {
		n = read(fd, buf + off, bufsz - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			warn("%s", path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off == bufsz) {
		warnx("%s: too long", path);
		return -1;
	}
	return (ssize_t)off;
}

static int
unseal_tpm(const char *blobpath, const char *tcti, uint8_t *key)
{
	uint8_t	 blob[TPM_BLOB_MAX + 1];
	ssize_t	 n;
	int	 rc;

	if ((n = read_small(blobpath, blob, sizeof(blob))) == -1)
		return -1;
	if ((rc = tpm_unseal_rootkey(tcti, blob, (size_t)n, key)) != TPMKEY_OK) {
		warnx("%s: %s", blobpath, tpm_strerror(rc));
		return -1;
	}
	return 0;
}

int
cmd_audit_pubkey(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "tpm-blob", required_argument, NULL, 't' },
		{ "tcti", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char			*file = NULL, *blob = NULL;
	const char			*tcti = NULL;
	char				 hex[AUDITKEY_PUBHEXLEN + 1];
	uint8_t				 pub[AUDITKEY_PUBLEN], *key;
	struct auditkey			*ak = NULL;
	int				 ch, rc;

	while ((ch = getopt_long(argc, argv, "k:t:T:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'k':
			file = optarg;
			break;
		case 't':
			blob = optarg;
			break;
		case 'T':
			tcti = optarg;
			break;
		default:
			return CTL_USAGE;
		}
	}
	if (optind != argc || (file == NULL) == (blob == NULL) ||
	    (tcti != NULL && blob == NULL))
		return CTL_USAGE;
	if (secmem_init() == -1 || (key = secmem_alloc(AEAD_KEYLEN)) == NULL)
		errx(1, "no key memory");
	rc = file != NULL ? rootkey_read_file(file, key) :
	    unseal_tpm(blob, tcti, key);
	if (rc == 0)
		ak = auditkey_derive(key);
	secmem_free(key, AEAD_KEYLEN);
	if (ak == NULL)
		return 1;
	auditkey_public(ak, pub);
	auditkey_free(ak);
	auditkey_pub_format(pub, hex);
	if (printf("%s\n", hex) < 0 || fflush(stdout) == EOF)
		err(1, "stdout");
	return 0;
}

/* The key itself (64 hex digits) or a file holding it. */
static int
load_pubkey(const char *arg, uint8_t pub[AUDITKEY_PUBLEN])
{
	uint8_t	 buf[AUDITKEY_PUBHEXLEN + 2];
	ssize_t	 n;

	if (auditkey_pub_parse(arg, strlen(arg), pub) == 0)
		return 0;
	if ((n = read_small(arg, buf, sizeof(buf))) == -1)
		return -1;
	if (auditkey_pub_parse((const char *)buf, (size_t)n, pub) == -1) {
		warnx("%s: not a public key (64 lowercase hex digits)", arg);
		return -1;
	}
	return 0;
}

int
cmd_audit_verify(int argc, char *argv[])
{
	static const struct option	 longopts[] = {
		{ "pubkey", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct auditv_result		 r;
	uint8_t				 pub[AUDITKEY_PUBLEN];
	const char			*keyarg = NULL, *path;
	int				 ch, fd, quiet = 0;

	while ((ch = getopt_long(argc, argv, "p:q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			keyarg = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return CTL_USAGE;
		}
	}
	if (keyarg == NULL || argc - optind != 1)
		return CTL_USAGE;
	path = argv[optind];
	if (load_pubkey(keyarg, pub) == -1)
		return 1;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	switch (auditv_verify_fd(fd, pub, &r)) {
	case AUDITV_OK:
		if (!quiet)
			printf("%s: %" PRIu64 " lines, %" PRIu64 " checkpoints, "
			    "last seq %" PRIu64 ": verified\n", path, r.lines,
			    r.checkpoints, r.seq);
		return 0;
	case AUDITV_UNSIGNED:
		if (r.lines == 0)
			warnx("%s: empty log", path);
		else
			warnx("%s: warning: lines %" PRIu64 "-%" PRIu64
			    " follow the last checkpoint and are not signed",
			    path, r.line, r.lines);
		return 2;
	case AUDITV_BAD:
	default:
		warnx("%s: line %" PRIu64 ": %s", path, r.line, r.reason);
		return 1;
	}
}
