/*
 * dromosctl audit pubkey: print the public half of the audit signing key,
 * derived from the root key (priv/auditkey.h), in its one text form.
 * dromosctl audit verify: check a log offline (priv/auditverify.h), or
 * the files of a rotated log, oldest first, each on its own and each
 * continuing the one before.
 *
 * verify exits 0 when every line is chained, every file after the first
 * begins with the checkpoint the one before ends with, and the last ends
 * with a valid checkpoint; 1 naming the first bad line ("line N: reason")
 * or broken link; 2 when all is intact but not all is shown: lines after
 * the last file's last checkpoint are not signed, or the first file
 * continues one not given.
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

/* Verify one file, "-" for standard input; -1 if it does not open. */
static int
verify_file(const char *path, const uint8_t pub[AUDITKEY_PUBLEN],
    struct auditv_result *r)
{
	int	 fd;

	if (strcmp(path, "-") == 0) {
		(void)auditv_verify_fd(STDIN_FILENO, pub, r);
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("%s", path);
		return -1;
	}
	(void)auditv_verify_fd(fd, pub, r);
	close(fd);
	return 0;
}

/*
 * Before reading path: the file before it must end with a checkpoint, the
 * line path has to begin with.  An unsigned tail there is a broken link,
 * not a warning: the next file cannot have been started after it.
 */
static int
check_end(const char *ppath, const struct auditv_result *prev,
    const char *path)
{
	if (prev->status == AUDITV_OK)
		return 0;
	if (prev->lines == 0)
		warnx("%s: does not continue %s (%s is empty)", path, ppath,
		    ppath);
	else
		warnx("%s: does not continue %s (%s ends at seq %" PRIu64
		    " without a checkpoint: lines %" PRIu64 "-%" PRIu64
		    " are not signed)", path, ppath, ppath, prev->seq,
		    prev->line, prev->lines);
	return -1;
}

/*
 * path continues ppath: its first line is ppath's last, the checkpoint
 * (seq, h) ppath ends with.  The bytes are compared too, since the time of
 * the copy is covered by neither chain nor signature.  With seq > 1 this
 * makes path a continued file (its first line was an anchor); at seq 1 the
 * copy was chained from h_0 like the original.
 */
static int
check_link(const char *ppath, const struct auditv_result *prev,
    const char *path, const struct auditv_result *r)
{
	if (r->lines == 0) {
		warnx("%s: does not continue %s (%s is empty)", path, ppath,
		    path);
		return -1;
	}
	if (r->first_seq != prev->seq) {
		warnx("%s: does not continue %s (it starts at seq %" PRIu64
		    ", %s ends at seq %" PRIu64 ")", path, ppath, r->first_seq,
		    ppath, prev->seq);
		return -1;
	}
	if (memcmp(r->first_h, prev->head, sizeof(r->first_h)) != 0 ||
	    memcmp(r->first_line_sum, prev->last_cp_sum,
	    sizeof(r->first_line_sum)) != 0) {
		warnx("%s: does not continue %s (its first line is not the "
		    "checkpoint at seq %" PRIu64 " that %s ends with)", path,
		    ppath, prev->seq, ppath);
		return -1;
	}
	return 0;
}

/* The line for a verified file; linked: it continues the file before. */
static void
print_ok(const char *path, const struct auditv_result *r, int linked)
{
	printf("%s: %" PRIu64 " lines, %" PRIu64 " checkpoints, ", path,
	    r->lines, r->checkpoints);
	if (!linked && !r->continued)
		printf("last seq %" PRIu64 ": verified\n", r->seq);
	else if (linked)
		printf("seq %" PRIu64 "-%" PRIu64 ": verified (continues seq %"
		    PRIu64 ")\n", r->first_seq, r->seq, r->first_seq);
	else
		printf("seq %" PRIu64 "-%" PRIu64 ": verified; continues seq %"
		    PRIu64 " of a file not given\n", r->first_seq, r->seq,
		    r->first_seq);
}

/* A file that is not intact: 1, or 2 for the last file's unsigned tail. */
static int
report_bad(const char *path, const struct auditv_result *r)
{
	if (r->status == AUDITV_BAD) {
		warnx("%s: line %" PRIu64 ": %s", path, r->line, r->reason);
		return 1;
	}
	if (r->lines == 0)
		warnx("%s: empty log", path);
	else
		warnx("%s: warning: lines %" PRIu64 "-%" PRIu64
		    " follow the last checkpoint and are not signed",
		    path, r->line, r->lines);
	return 2;
}

/*
 * The files in order, stopping at the first problem.  A file's own bad
 * line is reported in its order with the link to it: a first line that
 * does not parse comes before the link, any later one after.
 */
static int
verify_files(char *paths[], int n, const uint8_t pub[AUDITKEY_PUBLEN],
    int quiet)
{
	struct auditv_result	 prev, r;
	uint64_t		 from = 0;
	int			 i, linked;

	memset(&prev, 0, sizeof(prev));
	for (i = 0; i < n; i++) {
		linked = i > 0;
		if (linked && check_end(paths[i - 1], &prev, paths[i]) == -1)
			return 1;
		if (verify_file(paths[i], pub, &r) == -1)
			return 1;
		if (linked && (r.status != AUDITV_BAD || r.line > 1) &&
		    check_link(paths[i - 1], &prev, paths[i], &r) == -1)
			return 1;
		if (r.status == AUDITV_BAD)
			return report_bad(paths[i], &r);
		/* An unsigned tail: the next file's link, or exit 2. */
		if (r.status == AUDITV_UNSIGNED && i == n - 1)
			return report_bad(paths[i], &r);
		if (r.status == AUDITV_OK && !quiet)
			print_ok(paths[i], &r, linked);
		if (i == 0 && r.continued)
			from = r.first_seq;
		prev = r;
	}
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	/* Intact, but not shown whole: the files before it were not given. */
	if (from != 0) {
		warnx("%s: warning: it continues seq %" PRIu64 " of a file not "
		    "given: that no line is missing before it is not shown",
		    paths[0], from);
		return 2;
	}
	return 0;
}

/*
 * Whether "-" is among the files: one of several cannot be told apart
 * from the files around it, nor its place in the order shown.
 */
static int
has_stdin(char *paths[], int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(paths[i], "-") == 0)
			return 1;
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
	uint8_t				 pub[AUDITKEY_PUBLEN];
	const char			*keyarg = NULL;
	int				 ch, quiet = 0;

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
	if (keyarg == NULL || optind == argc)
		return CTL_USAGE;
	if (argc - optind > 1 && has_stdin(argv + optind, argc - optind)) {
		warnx("-: standard input must be the only file");
		return 1;
	}
	if (load_pubkey(keyarg, pub) == -1)
		return 1;
	return verify_files(argv + optind, argc - optind, pub, quiet);
}
