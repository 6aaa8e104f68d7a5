/*
 * Unit tests for priv/tpm.c: PCR selection strings and the blob parser on
 * their own, then sealing and unsealing against a real swtpm that this
 * group starts on free ports and always stops again.  Without swtpm (or
 * with DROMOS_SWTPM naming a missing program) the TPM tests are skipped,
 * never passed.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "priv/tpm.h"
#include "tests/priv/tests.h"

#ifdef HAVE_TSS2
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>
#endif

#define PCR_DEBUG	16	/* resettable from locality 0 */

static const uint8_t key1[TPM_ROOTKEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
	0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x00,
};

static int
is_zero(const uint8_t *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Log capture: failures must say why, in words. */

static FILE	*cap_fp;

static void
cap_begin(void)
{
	cap_fp = tmpfile();
	assert_non_null(cap_fp);
	log_setfd(fileno(cap_fp));
}

static const char *
cap_end(char *buf, size_t bufsz)
{
	ssize_t	 n;

	log_setfd(STDERR_FILENO);
	n = pread(fileno(cap_fp), buf, bufsz - 1, 0);
	fclose(cap_fp);
	cap_fp = NULL;
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* PCR selection strings (no TPM needed). */

static void
test_pcr_parse_good(void **state)
{
	static const struct {
		const char	*spec;
		uint32_t	 mask;
		const char	*canon;
	} good[] = {
		{ "sha256:0,7", 0x81, "sha256:0,7" },
		{ "sha256:7,0", 0x81, "sha256:0,7" },
		{ "sha256:16", 1U << 16, "sha256:16" },
		{ "sha256:23", 1U << 23, "sha256:23" },
		{ "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
		    "20,21,22,23", 0xffffff, NULL },
	};
	struct tpm_pcr_sel	 sel;
	char			 err[128], buf[128];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tpm_pcr_parse(good[i].spec, &sel, err,
		    sizeof(err)), 0);
		assert_int_equal(sel.mask, good[i].mask);
		tpm_pcr_format(&sel, buf, sizeof(buf));
		assert_string_equal(buf, good[i].canon ? good[i].canon :
		    good[i].spec);
	}
	assert_string_equal(tpm_pcr_format(NULL, buf, sizeof(buf)), "none");
	sel.mask = 0x81;
	/* Truncation stays terminated. */
	assert_string_equal(tpm_pcr_format(&sel, buf, 9), "sha256:0");
}

static void
test_pcr_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "sha256", "sha256:", "sha1:0", "SHA256:0", "sha384:0",
		"sha256:24", "sha256:99", "sha256:-1", "sha256:+1",
		"sha256: 1", "sha256:1 ", "sha256:0,", "sha256:,0",
		"sha256:0,,1", "sha256:07", "sha256:00", "sha256:0,0",
		"sha256:7,1,7", "sha256:0x1", "sha256:1-3",
		"sha256:18446744073709551617", "sha256:0;7",
	};
	struct tpm_pcr_sel	 sel;
	char			 err[128];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		sel.mask = 0xdead;
		assert_int_equal(tpm_pcr_parse(bad[i], &sel, err,
		    sizeof(err)), -1);
		assert_int_equal(sel.mask, 0);
		assert_true(strlen(err) > 0);
	}
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_non_null(strstr(tpm_strerror(TPMKEY_EPOLICY), "PCR policy"));
	assert_non_null(strstr(tpm_strerror(TPMKEY_EBLOB), "blob"));
	assert_non_null(strstr(tpm_strerror(TPMKEY_ENOTSUP), "tpm2-tss"));
}

#ifndef HAVE_TSS2

static void
test_not_supported(void **state)
{
	uint8_t		 key[TPM_ROOTKEY_LEN], *blob = (uint8_t *)1;
	size_t		 len = 1;
	char		 buf[4096];

	(void)state;
	cap_begin();
	assert_int_equal(tpm_seal_rootkey(NULL, NULL, key1, &blob, &len),
	    TPMKEY_ENOTSUP);
	assert_null(blob);
	memset(key, 0xaa, sizeof(key));
	assert_int_equal(tpm_unseal_rootkey(NULL, key1, sizeof(key1), key),
	    TPMKEY_ENOTSUP);
	assert_true(is_zero(key, sizeof(key)));
	assert_non_null(strstr(cap_end(buf, sizeof(buf)), "tpm2-tss"));
}

int
run_tpm_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcr_parse_good),
		cmocka_unit_test(test_pcr_parse_bad),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_not_supported),
	};

	return cmocka_run_group_tests_name("tpm", tests, NULL, NULL);
}

#else /* HAVE_TSS2 */

/* The blob parser on a made-up object (no TPM needed). */

#define OFF_PUB		12	/* length of the public part */
#define OFF_ATTRS	(OFF_PUB + 2 + 2 + 2 + 2) /* TPM2B size, type, name */

static void
fake_blob(struct tpm_blob *b, uint32_t mask)
{
	TPMT_PUBLIC	*pa = &b->pub.publicArea;
	uint16_t	 i;

	memset(b, 0, sizeof(*b));
	b->parent = TPM_PARENT_ECC_P256;
	b->pcrs.mask = mask;
	pa->type = TPM2_ALG_KEYEDHASH;
	pa->nameAlg = TPM2_ALG_SHA256;
	pa->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_NODA | (mask ? TPMA_OBJECT_ADMINWITHPOLICY :
	    TPMA_OBJECT_USERWITHAUTH);
	pa->authPolicy.size = mask ? 32 : 0;
	memset(pa->authPolicy.buffer, 0x5a, pa->authPolicy.size);
	pa->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	pa->unique.keyedHash.size = 32;
	memset(pa->unique.keyedHash.buffer, 0x11, 32);
	b->priv.size = 150;
	for (i = 0; i < b->priv.size; i++)
		b->priv.buffer[i] = (uint8_t)i;
}

static void
encode(const struct tpm_blob *b, uint8_t **buf, size_t *len)
{
	assert_int_equal(tpm_blob_encode(b, buf, len), TPMKEY_OK);
	assert_non_null(*buf);
}

static void
expect_bad(const uint8_t *buf, size_t len)
{
	struct tpm_blob	 b;
	char		 err[128];

	err[0] = '\0';
	assert_int_equal(tpm_blob_parse(buf, len, &b, err, sizeof(err)),
	    TPMKEY_EBLOB);
	assert_true(strlen(err) > 0);
}

static void
test_blob_roundtrip(void **state)
{
	static const uint32_t	 masks[] = { 0, 0x81, 1U << 16, 0xffffff };
	struct tpm_blob		 in, out;
	uint8_t			*buf, *again;
	size_t			 len, len2, i;
	char			 err[128];

	(void)state;
	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		fake_blob(&in, masks[i]);
		encode(&in, &buf, &len);
		assert_memory_equal(buf, TPM_BLOB_MAGIC, 4);
		assert_int_equal(buf[4], TPM_BLOB_VERSION);
		assert_int_equal(tpm_blob_parse(buf, len, &out, err,
		    sizeof(err)), TPMKEY_OK);
		assert_int_equal(out.pcrs.mask, masks[i]);
		assert_int_equal(out.priv.size, in.priv.size);
		assert_memory_equal(out.priv.buffer, in.priv.buffer,
		    in.priv.size);
		encode(&out, &again, &len2);
		assert_int_equal(len2, len);
		assert_memory_equal(again, buf, len);
		free(again);
		free(buf);
	}
}

static void
test_blob_reject(void **state)
{
	struct tpm_blob	 b;
	uint8_t		*buf, *t;
	size_t		 len, i;
	uint8_t		*p;

	(void)state;
	fake_blob(&b, 1U << 16);
	encode(&b, &buf, &len);

	/* Every truncation, and one byte too many. */
	for (i = 0; i < len; i++)
		expect_bad(buf, i);
	assert_non_null(t = malloc(len + 1));
	memcpy(t, buf, len);
	t[len] = 0;
	expect_bad(t, len + 1);
	free(t);
	expect_bad(buf, TPM_BLOB_MAX + 1);

	/* Header fields, one at a time. */
#define MUTATE(off, val) do {					\
	uint8_t	 saved = buf[(off)];				\
	buf[(off)] = (uint8_t)(val);				\
	expect_bad(buf, len);					\
	buf[(off)] = saved;					\
} while (0)
	MUTATE(0, 'X');			/* magic */
	MUTATE(3, 'X');
	MUTATE(4, 2);			/* version */
	MUTATE(4, 0);
	MUTATE(5, 2);			/* parent template */
	MUTATE(7, 0x10);		/* bank ALG_NULL with a mask */
	MUTATE(7, 0x04);		/* bank SHA-1 */
	MUTATE(8, 0x01);		/* PCR 24 */
	MUTATE(9, 0x00);		/* mask 0 with bank SHA-256 */
	MUTATE(OFF_PUB, 0xff);		/* public length past the end */
	MUTATE(OFF_PUB + 1, buf[OFF_PUB + 1] + 1);
	MUTATE(OFF_PUB + 1, buf[OFF_PUB + 1] - 1);
	MUTATE(OFF_PUB + 3, buf[OFF_PUB + 3] - 1); /* TPM2B size inside */
	MUTATE(OFF_PUB + 5, 0x01);	/* type RSA */
	MUTATE(OFF_PUB + 7, 0x04);	/* nameAlg SHA-1 */
	/* userWithAuth on a policy object: the policy could be bypassed. */
	MUTATE(OFF_ATTRS + 3, buf[OFF_ATTRS + 3] | 0x40);
	MUTATE(OFF_ATTRS + 3, buf[OFF_ATTRS + 3] & ~0x02); /* fixedTPM */
	MUTATE(OFF_ATTRS + 2, buf[OFF_ATTRS + 2] & ~0x04); /* noDA */
	MUTATE(OFF_ATTRS + 1, 0x01);	/* restricted */
	MUTATE(OFF_ATTRS + 5, 0x21);	/* authPolicy 32 -> 33 bytes */
	MUTATE(OFF_ATTRS + 5, 0x1f);
	/* The private length: zero, past the end, and inside. */
	p = buf + OFF_PUB + 2 + (buf[OFF_PUB] << 8 | buf[OFF_PUB + 1]);
	MUTATE(p - buf, 0xff);
	MUTATE(p - buf + 1, 0);
	MUTATE(p - buf + 3, p[3] - 1);
	MUTATE(p - buf + 3, p[3] + 1);
#undef MUTATE
	free(buf);

	/* An object without a policy but a header with PCRs, and back. */
	fake_blob(&b, 0);
	encode(&b, &buf, &len);
	buf[7] = 0x0b;
	buf[11] = 0x01;
	expect_bad(buf, len);
	free(buf);

	/* The encoder refuses what the parser would. */
	fake_blob(&b, 1U << 16);
	b.pub.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
	cap_begin();
	assert_int_equal(tpm_blob_encode(&b, &buf, &len), TPMKEY_ERR);
	assert_null(buf);
	fake_blob(&b, 1U << 24);
	assert_int_equal(tpm_blob_encode(&b, &buf, &len), TPMKEY_ERR);
	{
		char	 log[4096];

		assert_non_null(strstr(cap_end(log, sizeof(log)),
		    "sealed object is unexpected"));
	}
}

/* swtpm: started once for the group, on free ports, always stopped. */

struct swtpm {
	int		 absent;	/* no swtpm: skip */
	pid_t		 pid;
	int		 port;
	char		 dir[PATH_MAX];
	char		 tcti[64];
	void		(*oldpipe)(int);
};

static struct swtpm	 swtpm_state;

static int
find_swtpm(char *buf, size_t bufsz)
{
	const char	*env = getenv("DROMOS_SWTPM"), *path, *p, *e;
	int		 n;

	if (env != NULL) {
		snprintf(buf, bufsz, "%s", env);
		return access(buf, X_OK) == 0 ? 0 : -1;
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *e ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		n = snprintf(buf, bufsz, "%.*s/swtpm", (int)(e - p), p);
		if (n > 0 && (size_t)n < bufsz && access(buf, X_OK) == 0)
			return 0;
	}
	return -1;
}

static int
bind_local(int port)
{
	struct sockaddr_in	 sin;
	int			 s;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(s);
		return -1;
	}
	return s;
}

/* A port P with P+1 also free just now (swtpm's server and control). */
static int
free_port_pair(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen;
	int			 a, b, i, port;

	for (i = 0; i < 50; i++) {
		if ((a = bind_local(0)) == -1)
			return -1;
		slen = sizeof(sin);
		if (getsockname(a, (struct sockaddr *)&sin, &slen) == -1) {
			close(a);
			return -1;
		}
		port = ntohs(sin.sin_port);
		b = port < 65535 ? bind_local(port + 1) : -1;
		close(a);
		if (b != -1) {
			close(b);
			return port;
		}
	}
	return -1;
}

static int
can_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 s, ok;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(s);
	return ok;
}

static void
nap(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
swtpm_stop(struct swtpm *s)
{
	int	 i, status;

	if (s->pid <= 0)
		return;
	(void)kill(s->pid, SIGTERM);
	for (i = 0; i < 150; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		nap(20);
	}
	(void)kill(s->pid, SIGKILL);
	(void)waitpid(s->pid, &status, 0);
	s->pid = 0;
}

/* Start swtpm on port; 0 once it accepts, -1 if it died (port taken). */
static int
swtpm_start(struct swtpm *s, const char *bin, int port)
{
	char	 server[64], ctrl[64], state[PATH_MAX + 16], logf[PATH_MAX + 32];
	pid_t	 parent = getpid();
	int	 i, fd, status;

	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1",
	    port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1",
	    port + 1);
	snprintf(state, sizeof(state), "dir=%s", s->dir);
	snprintf(logf, sizeof(logf), "file=%s/swtpm.log", s->dir);

	if ((s->pid = fork()) == -1)
		return -1;
	if (s->pid == 0) {
		char	*argv[] = {
			(char *)(uintptr_t)bin, "socket", "--tpm2",
			"--server", server, "--ctrl", ctrl,
			"--tpmstate", state, "--log", logf,
			"--flags", "not-need-init,startup-clear", NULL,
		};

		/* Die with the test program, even if it crashes. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(127);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			(void)dup2(fd, STDIN_FILENO);
			(void)dup2(fd, STDOUT_FILENO);
			(void)dup2(fd, STDERR_FILENO);
			if (fd > STDERR_FILENO)
				close(fd);
		}
		execv(bin, argv);
		_exit(127);
	}
	for (i = 0; i < 250; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		if (can_connect(port + 1) && can_connect(port))
			return 0;
		nap(20);
	}
	swtpm_stop(s);
	return -1;
}

static void
rmtree_flat(const char *dir)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	(void)rmdir(dir);
}

static int
group_teardown(void **state)
{
	struct swtpm	*s = *state;

	if (s == NULL)
		return 0;
	swtpm_stop(s);
	if (s->dir[0] != '\0')
		rmtree_flat(s->dir);
	s->dir[0] = '\0';
	if (s->oldpipe != NULL)
		(void)signal(SIGPIPE, s->oldpipe);
	return 0;
}

static int
group_setup(void **state)
{
	struct swtpm	*s = &swtpm_state;
	const char	*tmp = getenv("TMPDIR");
	char		 bin[PATH_MAX];
	int		 i, port;

	memset(s, 0, sizeof(*s));
	*state = s;
	if (find_swtpm(bin, sizeof(bin)) == -1) {
		fprintf(stderr, "tpm: swtpm not found (DROMOS_SWTPM, PATH): "
		    "skipping the TPM tests\n");
		s->absent = 1;
		return 0;
	}
	/* A dead swtpm must fail a test, not kill the program. */
	s->oldpipe = signal(SIGPIPE, SIG_IGN);
	snprintf(s->dir, sizeof(s->dir), "%s/dromos-swtpm.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "tpm: mkdtemp %s: %s\n", s->dir,
		    strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	for (i = 0; i < 5; i++) {
		if ((port = free_port_pair()) == -1)
			break;
		if (swtpm_start(s, bin, port) == 0) {
			s->port = port;
			snprintf(s->tcti, sizeof(s->tcti),
			    "swtpm:host=127.0.0.1,port=%d", port);
			return 0;
		}
	}
	fprintf(stderr, "tpm: cannot start %s (see %s/swtpm.log)\n", bin,
	    s->dir);
	group_teardown(state);
	return -1;
}

#define NEED_SWTPM(s) do {						\
	if ((s)->absent)						\
		skip();							\
} while (0)

/* Our own ESAPI connection, to change PCRs and clear the TPM. */
static void
with_esys(const struct swtpm *s, void (*fn)(ESYS_CONTEXT *))
{
	TSS2_TCTI_CONTEXT	*tcti = NULL;
	ESYS_CONTEXT		*esys = NULL;

	assert_int_equal(Tss2_TctiLdr_Initialize(s->tcti, &tcti),
	    TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&esys, tcti, NULL), TSS2_RC_SUCCESS);
	fn(esys);
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tcti);
}

static void
pcr16_extend(ESYS_CONTEXT *esys)
{
	TPML_DIGEST_VALUES	 d;

	memset(&d, 0, sizeof(d));
	d.count = 1;
	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	memset(d.digests[0].digest.sha256, 0x42, TPM2_SHA256_DIGEST_SIZE);
	assert_int_equal(Esys_PCR_Extend(esys, ESYS_TR_PCR16,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d),
	    TSS2_RC_SUCCESS);
}

static void
pcr16_reset(ESYS_CONTEXT *esys)
{
	assert_int_equal(Esys_PCR_Reset(esys, ESYS_TR_PCR16,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE), TSS2_RC_SUCCESS);
}

static void
tpm_clear(ESYS_CONTEXT *esys)
{
	assert_int_equal(Esys_Clear(esys, ESYS_TR_RH_LOCKOUT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE), TSS2_RC_SUCCESS);
}

static void
seal(const struct swtpm *s, const char *pcrspec, uint8_t **blob, size_t *len)
{
	struct tpm_pcr_sel	 sel;
	char			 err[128];

	if (pcrspec != NULL)
		assert_int_equal(tpm_pcr_parse(pcrspec, &sel, err,
		    sizeof(err)), 0);
	assert_int_equal(tpm_seal_rootkey(s->tcti, pcrspec ? &sel : NULL,
	    key1, blob, len), TPMKEY_OK);
	assert_non_null(*blob);
	assert_in_range(*len, 16, TPM_BLOB_MAX);
}

static void
unseal_ok(const struct swtpm *s, const uint8_t *blob, size_t len)
{
	uint8_t	 key[TPM_ROOTKEY_LEN];

	memset(key, 0xaa, sizeof(key));
	assert_int_equal(tpm_unseal_rootkey(s->tcti, blob, len, key),
	    TPMKEY_OK);
	assert_memory_equal(key, key1, sizeof(key));
}

/* Unseal must fail with want, zero the key, and log needle. */
static void
unseal_fails(const struct swtpm *s, const uint8_t *blob, size_t len, int want,
    const char *needle)
{
	uint8_t	 key[TPM_ROOTKEY_LEN];
	char	 log[8192];
	int	 ret;

	memset(key, 0xaa, sizeof(key));
	cap_begin();
	ret = tpm_unseal_rootkey(s->tcti, blob, len, key);
	cap_end(log, sizeof(log));
	if (ret != want || strstr(log, needle) == NULL)
		fprintf(stderr, "tpm: got %d, log: %s\n", ret, log);
	assert_int_equal(ret, want);
	assert_true(is_zero(key, sizeof(key)));
	assert_non_null(strstr(log, needle));
}

static void
test_seal_unseal(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		*a, *b;
	size_t		 alen, blen;
	struct tpm_blob	 pb;
	char		 err[128];

	NEED_SWTPM(s);
	seal(s, NULL, &a, &alen);
	assert_int_equal(tpm_blob_parse(a, alen, &pb, err, sizeof(err)),
	    TPMKEY_OK);
	assert_int_equal(pb.pcrs.mask, 0);
	unseal_ok(s, a, alen);
	unseal_ok(s, a, alen);		/* nothing was left behind */
	/* A second seal of the same key is a different object. */
	seal(s, NULL, &b, &blen);
	assert_true(alen != blen || memcmp(a, b, alen) != 0);
	unseal_ok(s, b, blen);
	free(a);
	free(b);
}

static void
test_seal_unseal_pcrs(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		*blob;
	size_t		 len;
	struct tpm_blob	 pb;
	char		 err[128];

	NEED_SWTPM(s);
	seal(s, "sha256:0,7,23", &blob, &len);
	assert_int_equal(tpm_blob_parse(blob, len, &pb, err, sizeof(err)),
	    TPMKEY_OK);
	assert_int_equal(pb.pcrs.mask, 0x800081);
	unseal_ok(s, blob, len);
	free(blob);
}

static void
test_pcr_policy(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		*blob;
	size_t		 len;

	NEED_SWTPM(s);
	with_esys(s, pcr16_reset);
	seal(s, "sha256:16", &blob, &len);
	assert_int_equal(blob[7], 0x0b);	/* SHA-256 bank */
	assert_int_equal(blob[9], 0x01);	/* PCR 16 */
	unseal_ok(s, blob, len);

	with_esys(s, pcr16_extend);
	unseal_fails(s, blob, len, TPMKEY_EPOLICY, "PCR policy does not match");
	unseal_fails(s, blob, len, TPMKEY_EPOLICY, "sha256:16");

	/* Back to the sealing-time value: it opens again. */
	with_esys(s, pcr16_reset);
	unseal_ok(s, blob, len);
	free(blob);
}

static void
test_tampered(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		*blob;
	size_t		 len, publen;

	NEED_SWTPM(s);
	seal(s, NULL, &blob, &len);
	publen = (size_t)(blob[OFF_PUB] << 8 | blob[OFF_PUB + 1]);

	/* The encrypted private part: the TPM's integrity check. */
	blob[len - 1] ^= 0x01;
	unseal_fails(s, blob, len, TPMKEY_ERR, "cannot load");
	blob[len - 1] ^= 0x01;
	/* The object's unique field (its name): integrity again. */
	blob[OFF_PUB + 2 + publen - 1] ^= 0x80;
	unseal_fails(s, blob, len, TPMKEY_ERR, "cannot load");
	blob[OFF_PUB + 2 + publen - 1] ^= 0x80;
	/* The header: refused before the TPM is asked. */
	blob[0] ^= 0x20;
	unseal_fails(s, blob, len, TPMKEY_EBLOB, "magic");
	blob[0] ^= 0x20;
	unseal_fails(s, blob, len - 1, TPMKEY_EBLOB, "private part");
	unseal_fails(s, blob, 3, TPMKEY_EBLOB, "outside");
	unseal_ok(s, blob, len);
	free(blob);
}

static void
test_bad_tcti(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		 key[TPM_ROOTKEY_LEN], *blob;
	size_t		 len;
	char		 tcti[64], log[8192];
	int		 port;

	NEED_SWTPM(s);
	seal(s, NULL, &blob, &len);
	/* Nothing listens there. */
	assert_true((port = free_port_pair()) > 0);
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
	cap_begin();
	assert_int_equal(tpm_unseal_rootkey(tcti, blob, len, key), TPMKEY_ERR);
	assert_non_null(strstr(cap_end(log, sizeof(log)), "cannot"));
	/* A TCTI name is a library name, never a path. */
	cap_begin();
	assert_int_equal(tpm_unseal_rootkey("/tmp/evil.so:x", blob, len, key),
	    TPMKEY_ERR);
	assert_int_equal(tpm_unseal_rootkey("libtss2-tcti-swtpm.so.0", blob,
	    len, key), TPMKEY_ERR);
	assert_int_equal(tpm_unseal_rootkey("", blob, len, key), TPMKEY_ERR);
	assert_int_equal(tpm_unseal_rootkey("swtpm:port=1\n", blob, len, key),
	    TPMKEY_ERR);
	assert_non_null(strstr(cap_end(log, sizeof(log)), "bad TCTI"));
	assert_true(is_zero(key, sizeof(key)));
	free(blob);
}

static int
file_has(const char *path, const void *needle, size_t nlen)
{
	static uint8_t	 buf[1 << 20];
	ssize_t		 n;
	int		 fd;

	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	return memmem(buf, (size_t)n, needle, nlen) != NULL;
}

static void
hash_key_in_clear(ESYS_CONTEXT *esys)
{
	TPM2B_MAX_BUFFER	 data;
	TPM2B_DIGEST		*out = NULL;
	TPMT_TK_HASHCHECK	*ticket = NULL;

	memset(&data, 0, sizeof(data));
	data.size = sizeof(key1);
	memcpy(data.buffer, key1, sizeof(key1));
	assert_int_equal(Esys_Hash(esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &data, TPM2_ALG_SHA256, ESYS_TR_RH_NULL, &out,
	    &ticket), TSS2_RC_SUCCESS);
	Esys_Free(out);
	Esys_Free(ticket);
}

/*
 * The key never crosses the wire in the clear: the pcap TCTI records
 * every command and response of a seal and an unseal, and the key bytes
 * are in neither.  The control (the same key sent to TPM2_Hash without
 * parameter encryption) shows that the capture would have caught them.
 */
static void
test_key_not_on_wire(void **state)
{
	struct swtpm	*s = *state;
	struct swtpm	 wire;
	uint8_t		*blob, key[TPM_ROOTKEY_LEN];
	const uint8_t	 cc_unseal[] = { 0x00, 0x00, 0x01, 0x5e };
	char		 pcap[PATH_MAX + 16];
	size_t		 len;

	NEED_SWTPM(s);
	snprintf(pcap, sizeof(pcap), "%s/wire.pcap", s->dir);
	assert_int_equal(setenv("TCTI_PCAP_FILE", pcap, 1), 0);
	wire = *s;
	snprintf(wire.tcti, sizeof(wire.tcti), "pcap:%.56s", s->tcti);

	seal(&wire, "sha256:16", &blob, &len);
	assert_false(file_has(pcap, key1, sizeof(key1)));
	assert_int_equal(unlink(pcap), 0);
	assert_int_equal(tpm_unseal_rootkey(wire.tcti, blob, len, key),
	    TPMKEY_OK);
	assert_memory_equal(key, key1, sizeof(key));
	assert_true(file_has(pcap, cc_unseal, sizeof(cc_unseal)));
	assert_false(file_has(pcap, key1, sizeof(key1)));
	assert_int_equal(unlink(pcap), 0);

	with_esys(&wire, hash_key_in_clear);
	assert_true(file_has(pcap, key1, sizeof(key1)));
	assert_int_equal(unlink(pcap), 0);
	assert_int_equal(unsetenv("TCTI_PCAP_FILE"), 0);
	free(blob);
}

/* Last: clearing the TPM changes the owner seed for good. */
static void
test_cleared_tpm(void **state)
{
	struct swtpm	*s = *state;
	uint8_t		*blob;
	size_t		 len;

	NEED_SWTPM(s);
	seal(s, NULL, &blob, &len);
	unseal_ok(s, blob, len);
	with_esys(s, tpm_clear);
	unseal_fails(s, blob, len, TPMKEY_ERR, "owner hierarchy was cleared");
	free(blob);
}

int
run_tpm_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcr_parse_good),
		cmocka_unit_test(test_pcr_parse_bad),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_blob_roundtrip),
		cmocka_unit_test(test_blob_reject),
		cmocka_unit_test(test_seal_unseal),
		cmocka_unit_test(test_seal_unseal_pcrs),
		cmocka_unit_test(test_pcr_policy),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_bad_tcti),
		cmocka_unit_test(test_key_not_on_wire),
		cmocka_unit_test(test_cleared_tpm),
	};

	return cmocka_run_group_tests_name("tpm", tests, group_setup,
	    group_teardown);
}

#endif /* HAVE_TSS2 */
