/*
 * libFuzzer target for the audit log verifier: an audit log is a file an
 * operator may copy from anywhere, so every byte is hostile.
 *
 * Each input is verified three ways:
 *  1. as it is, from memory, from the start and as a resumed tail;
 *  2. through a descriptor (auditv_verify_fd's own buffering), which must
 *     agree with (1) on the result and the line it names;
 *  3. "fixed up": every line's h and sig fields are recomputed with the
 *     test key, so the fuzzer can reach the chain and checkpoint logic;
 *     then no line may fail its hash or signature check.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv/audit.h"
#include "priv/auditkey.h"
#include "priv/auditverify.h"

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct auditkey	*key;
static uint8_t		 pub[AUDITKEY_PUBLEN];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t	 root[AUDITKEY_ROOTLEN];

	(void)argc;
	(void)argv;
	memset(root, 0x42, sizeof(root));	/* the seed corpus's key */
	if ((key = auditkey_derive(root)) == NULL)
		abort();
	auditkey_public(key, pub);
	return 0;
}

static void
via_fd(const uint8_t *data, size_t size, const struct auditv_result *want)
{
	struct auditv_result	 r;
	int			 fd;

	if ((fd = memfd_create("fuzz-audit", MFD_CLOEXEC)) == -1)
		abort();
	if (write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	(void)auditv_verify_fd(fd, pub, &r);
	close(fd);
	if (r.status != want->status || r.line != want->line ||
	    r.lines != want->lines || r.seq != want->seq)
		abort();
}

/* Recompute one line's h (and sig) in place; *prev is the chain head. */
static void
fix_line(char *line, size_t len, uint8_t prev[AUDIT_HASHLEN])
{
	static const char	 hkey[] = ",\"h\":\"", skey[] = "\",\"sig\":\"";
	uint8_t			 h[AUDIT_HASHLEN], sig[AUDITKEY_SIGLEN];
	uint8_t			 msg[AUDIT_SIGMSG_LEN];
	char			 hex[AUDITKEY_SIGHEXLEN + 1], *p = NULL, *q;
	size_t			 body;

	for (q = line; (q = memmem(q, len - (size_t)(q - line), hkey,
	    sizeof(hkey) - 1)) != NULL; q++)
		p = q;
	if (p == NULL)
		return;
	body = (size_t)(p - line);
	p += sizeof(hkey) - 1;
	if (len - (size_t)(p - line) < AUDIT_HEXLEN ||
	    audit_chain_hash(prev, line, body, h) == -1)
		return;
	auditkey_hex(h, sizeof(h), hex);
	memcpy(p, hex, AUDIT_HEXLEN);
	memcpy(prev, h, sizeof(h));
	p += AUDIT_HEXLEN;
	if ((size_t)(line + len - p) < sizeof(skey) - 1 + AUDITKEY_SIGHEXLEN ||
	    memcmp(p, skey, sizeof(skey) - 1) != 0 ||
	    strncmp(line, "{\"seq\":", 7) != 0)
		return;
	audit_sigmsg(strtoull(line + 7, NULL, 10), h, msg);
	if (auditkey_sign(key, msg, sizeof(msg), sig) == -1)
		abort();
	auditkey_hex(sig, sizeof(sig), hex);
	memcpy(p + sizeof(skey) - 1, hex, AUDITKEY_SIGHEXLEN);
}

static void
fixed_up(const uint8_t *data, size_t size)
{
	struct auditv_result	 r;
	uint8_t			 prev[AUDIT_HASHLEN] = { 0 };
	char			*buf, *nl, *line;
	size_t			 left;

	/* NUL-terminated so that strtoull() stops inside the copy. */
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = buf, left = size; left > 0; ) {
		nl = memchr(line, '\n', left);
		fix_line(line, nl != NULL ? (size_t)(nl - line) : left, prev);
		if (nl == NULL)
			break;
		left -= (size_t)(nl - line) + 1;
		line = nl + 1;
	}
	(void)auditv_verify_buf(buf, size, pub, 0, &r);
	if (r.status == AUDITV_BAD &&
	    (strcmp(r.reason, "hash chain broken") == 0 ||
	    strcmp(r.reason, "checkpoint signature does not verify") == 0))
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auditv_result	 r;

	(void)auditv_verify_buf((const char *)data, size, pub, AUDITV_TAIL,
	    &r);
	(void)auditv_verify_buf((const char *)data, size, pub, 0, &r);
	via_fd(data, size, &r);
	fixed_up(data, size);
	return 0;
}
