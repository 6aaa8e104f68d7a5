/*
 * Unit tests for unpriv/khclient.c against the fake keyholder: message
 * encoding (the fake decodes every request strictly), reply matching,
 * KH_R_ERROR, protocol violations, EOF, timeouts, pipelining, threads, and
 * KH_CONFIG.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"
#include "tests/unpriv/fakekh.h"
#include "tests/unpriv/tests.h"
#include "unpriv/khclient.h"

#define SHORT_TIMEOUT	300	/* ms */

static const struct kh_ad ad1 = {
	.purpose = "connection", .table = "connections", .row = "acme-github",
	.column = "credentials",
};

struct fixture {
	struct fakekh	 fk;
	struct khclient	*kh;
	int		 ondead;	/* times the callback ran */
};

static void
count_dead(void *arg)
{
	(*(int *)arg)++;
}

static void
fx_client(struct fixture *fx, int timeout)
{
	fx->kh = kh_client_new(fx->fk.brokerfd, timeout, count_dead,
	    &fx->ondead);
	assert_non_null(fx->kh);
}

static void
fx_start(struct fixture *fx, enum fakekh_mode mode, int keyring, int timeout)
{
	memset(fx, 0, sizeof(*fx));
	fakekh_start(&fx->fk, mode, keyring);
	fx_client(fx, timeout);
}

/* Free the client (the fake then sees EOF) and stop the fake. */
static void
fx_stop(struct fixture *fx)
{
	kh_client_free(fx->kh);
	fakekh_stop(&fx->fk);
	assert_int_equal(fx->fk.nbad, 0);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
test_seal_open(void **state)
{
	struct fixture	 fx;
	unsigned char	 plain[100], sealed[100 + KH_SEAL_OVERHEAD];
	unsigned char	 out[100], blob[KH_BLOB_MAX];
	size_t		 sealedlen, outlen, bloblen, i;
	uint32_t	 flags = 99;

	(void)state;
	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (unsigned char)i;
	fx_start(&fx, FK_NORMAL, 0, 0);
	assert_int_equal(kh_keyring_init(fx.kh, blob, sizeof(blob), &bloblen),
	    0);
	assert_int_equal(kh_seal(fx.kh, &ad1, plain, sizeof(plain), sealed,
	    sizeof(sealed), &sealedlen, &flags), 0);
	assert_int_equal(sealedlen, sizeof(plain) + KH_SEAL_OVERHEAD);
	assert_int_equal(flags, 0);
	assert_memory_equal(sealed, "DRM\x01", 4);
	assert_int_equal(kh_open(fx.kh, &ad1, sealed, sealedlen, out,
	    sizeof(out), &outlen), 0);
	assert_int_equal(outlen, sizeof(plain));
	assert_memory_equal(out, plain, sizeof(plain));
	assert_int_equal(kh_health(fx.kh), 0);
	assert_int_equal(kh_client_dead(fx.kh), 0);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, 4);
	assert_true(fx.fk.ids_increasing);
	assert_string_equal(fx.fk.lastpurpose, "connection");
	assert_string_equal(fx.fk.lastrow, "acme-github");
	assert_int_equal(fx.fk.lasttype, KH_HEALTH);
	assert_int_equal(fx.ondead, 0);
}

/* A value opened at another row does not open: the AD travels intact. */
static void
test_moved_value(void **state)
{
	struct fixture	 fx;
	struct kh_ad	 ad2 = ad1;
	unsigned char	 sealed[5 + KH_SEAL_OVERHEAD], out[5];
	size_t		 sealedlen, outlen = 7;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1, 0);
	assert_int_equal(kh_seal(fx.kh, &ad1, "hello", 5, sealed,
	    sizeof(sealed), &sealedlen, NULL), 0);
	ad2.row = "acme-gitlab";
	assert_int_equal(kh_open(fx.kh, &ad2, sealed, sealedlen, out,
	    sizeof(out), &outlen), KH_E_BAD_VALUE);
	assert_int_equal(outlen, 0);
	/* A refusal is an answer: the channel goes on. */
	assert_int_equal(kh_client_dead(fx.kh), 0);
	assert_int_equal(kh_open(fx.kh, &ad1, sealed, sealedlen, out,
	    sizeof(out), &outlen), 0);
	assert_memory_equal(out, "hello", 5);
	fx_stop(&fx);
}

static void
test_keyring(void **state)
{
	static const char	 fkblob[] = "a sealed keyring blob";
	struct fixture		 fx;
	unsigned char		 blob[KH_BLOB_MAX], blob2[KH_BLOB_MAX];
	unsigned char		 sealed[1 + KH_SEAL_OVERHEAD];
	size_t			 bloblen, len, sealedlen;
	struct kh_status	 st;

	(void)state;
	fx_start(&fx, FK_NORMAL, 0, 0);
	assert_int_equal(kh_seal(fx.kh, &ad1, "x", 1, sealed, sizeof(sealed),
	    &sealedlen, NULL), KH_E_NO_KEYRING);
	assert_int_equal(kh_keyring_export(fx.kh, blob, sizeof(blob),
	    &bloblen), KH_E_NO_KEYRING);
	assert_int_equal(kh_key_rotate(fx.kh, blob, sizeof(blob), &bloblen),
	    KH_E_NO_KEYRING);
	/* Too small for any blob: refused before asking. */
	assert_int_equal(kh_keyring_init(fx.kh, blob, KH_BLOB_MAX - 1,
	    &bloblen), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kh_keyring_init(fx.kh, blob, sizeof(blob), &bloblen),
	    0);
	assert_int_equal(bloblen, sizeof(fkblob));
	assert_memory_equal(blob, fkblob, sizeof(fkblob));
	assert_int_equal(kh_keyring_init(fx.kh, blob2, sizeof(blob2), &len),
	    KH_E_HAVE_KEYRING);
	assert_int_equal(len, 0);
	assert_int_equal(kh_keyring_export(fx.kh, blob2, sizeof(blob2), &len),
	    0);
	assert_int_equal(len, bloblen);
	assert_int_equal(kh_key_rotate(fx.kh, blob2, sizeof(blob2), &len), 0);
	assert_int_equal(len, bloblen);
	assert_int_equal(kh_status(fx.kh, &st), 0);
	assert_int_equal(st.active, 2);
	assert_int_equal(st.nversions, 2);
	assert_int_equal(st.versions[0].version, 1);
	assert_int_equal(st.versions[0].seals, 10);
	assert_int_equal(st.versions[1].created, 1700000100);
	assert_int_equal(kh_audit_mark(fx.kh, "operator note: rotated"), 0);
	fx_stop(&fx);
	assert_string_equal(fx.fk.note, "operator note: rotated");

	/* The blob loads into a fresh keyholder, a wrong one does not. */
	fx_start(&fx, FK_NORMAL, 0, 0);
	assert_int_equal(kh_keyring_load(fx.kh, "junk", 4), KH_E_BAD_KEYRING);
	assert_int_equal(kh_keyring_load(fx.kh, blob, bloblen), 0);
	assert_int_equal(kh_seal(fx.kh, &ad1, "x", 1, sealed, sizeof(sealed),
	    &sealedlen, NULL), 0);
	fx_stop(&fx);
}

static void
test_error_reply(void **state)
{
	struct fixture	 fx;
	unsigned char	 sealed[1 + KH_SEAL_OVERHEAD], out[1];
	size_t		 len;

	(void)state;
	fx_start(&fx, FK_ERROR, 1, 0);
	assert_int_equal(kh_health(fx.kh), KH_E_RATE);
	assert_int_equal(kh_seal(fx.kh, &ad1, "x", 1, sealed, sizeof(sealed),
	    &len, NULL), KH_E_RATE);
	assert_int_equal(len, 0);
	memset(sealed, 0, sizeof(sealed));
	assert_int_equal(kh_open(fx.kh, &ad1, sealed, sizeof(sealed), out,
	    sizeof(out), &len), KH_E_RATE);
	assert_int_equal(kh_client_dead(fx.kh), 0);
	assert_string_equal(kh_strerror(KH_E_RATE), "keyholder rate limit");
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, 3);

	/* Error code 0 means nothing: a broken reply. */
	memset(&fx, 0, sizeof(fx));
	fakekh_init(&fx.fk, FK_ERROR);
	fx.fk.code = 0;
	fakekh_run(&fx.fk);
	fx_client(&fx, 0);
	assert_int_equal(kh_health(fx.kh), -1);
	assert_int_equal(errno, EBADMSG);
	fx_stop(&fx);
}

/* Each protocol violation ends the channel, for good, with EBADMSG. */
static void
violation(enum fakekh_mode mode)
{
	struct fixture	 fx;
	unsigned char	 sealed[4 + KH_SEAL_OVERHEAD];
	size_t		 len = 5;

	fx_start(&fx, mode, 1, 0);
	memset(sealed, 0xee, sizeof(sealed));
	assert_int_equal(kh_seal(fx.kh, &ad1, "abcd", 4, sealed,
	    sizeof(sealed), &len, NULL), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(len, 0);
	assert_int_equal(kh_client_dead(fx.kh), EBADMSG);
	assert_int_equal(fx.ondead, 1);
	/* Later calls fail at once and send nothing. */
	assert_int_equal(kh_health(fx.kh), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(fx.ondead, 1);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, 1);
}

static void
test_wrong_id(void **state)
{
	(void)state;
	violation(FK_WRONG_ID);
}

static void
test_wrong_type(void **state)
{
	(void)state;
	violation(FK_WRONG_TYPE);
}

static void
test_trailing(void **state)
{
	(void)state;
	violation(FK_TRAILING);
}

static void
test_short_seal(void **state)
{
	(void)state;
	violation(FK_SHORT_SEAL);
}

static void
test_eof(void **state)
{
	struct fixture	 fx;

	(void)state;
	fx_start(&fx, FK_EOF, 1, 0);
	assert_int_equal(kh_health(fx.kh), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(kh_client_dead(fx.kh), EPIPE);
	assert_int_equal(fx.ondead, 1);
	assert_string_equal(kh_strerror(-1), "keyholder unreachable");
	fx_stop(&fx);
}

static void
test_timeout(void **state)
{
	struct fixture	 fx;
	struct timespec	 t0, t1;
	long		 ms;

	(void)state;
	fx_start(&fx, FK_SILENT, 1, SHORT_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kh_health(fx.kh), -1);
	assert_int_equal(errno, ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= SHORT_TIMEOUT - 10 && ms < SHORT_TIMEOUT + 2000);
	/* A late reply could now be taken for another: no more requests. */
	assert_int_equal(kh_client_dead(fx.kh), ETIMEDOUT);
	assert_int_equal(kh_health(fx.kh), -1);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, 1);
}

static void
test_kill(void **state)
{
	struct fixture	 fx;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1, 0);
	assert_int_equal(kh_health(fx.kh), 0);
	kh_client_kill(fx.kh, EPIPE);
	kh_client_kill(fx.kh, EIO);	/* the first reason stays */
	assert_int_equal(kh_client_dead(fx.kh), EPIPE);
	assert_int_equal(fx.ondead, 1);
	assert_int_equal(kh_health(fx.kh), -1);
	assert_int_equal(errno, EPIPE);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, 1);
}

/* Bad arguments are refused before anything reaches the keyholder. */
static void
test_bad_args(void **state)
{
	static unsigned char big[KH_PLAIN_MAX + 1 + KH_SEAL_OVERHEAD];
	struct fixture	 fx;
	struct kh_ad	 ad;
	char		 longname[KH_NAME_MAX + 2], longrow[KH_ROW_MAX + 2];
	unsigned char	 sealed[64], out[64];
	size_t		 len;
	size_t		 i;
	const char	*badnames[] = { "", "Upper", "sp ace", "dash-no",
			    "semi;", longname };

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longrow, 'r', sizeof(longrow) - 1);
	longrow[sizeof(longrow) - 1] = '\0';
	fx_start(&fx, FK_NORMAL, 1, 0);

	for (i = 0; i < sizeof(badnames) / sizeof(badnames[0]); i++) {
		ad = ad1;
		ad.purpose = badnames[i];
		assert_int_equal(kh_seal(fx.kh, &ad, "x", 1, sealed,
		    sizeof(sealed), &len, NULL), -1);
		assert_int_equal(errno, EINVAL);
		ad = ad1;
		ad.column = badnames[i];
		assert_int_equal(kh_open(fx.kh, &ad, sealed, 40, out,
		    sizeof(out), &len), -1);
		assert_int_equal(errno, EINVAL);
	}
	ad = ad1;
	ad.row = "line\nbreak";
	assert_int_equal(kh_seal(fx.kh, &ad, "x", 1, sealed, sizeof(sealed),
	    &len, NULL), -1);
	ad.row = longrow;
	assert_int_equal(kh_seal(fx.kh, &ad, "x", 1, sealed, sizeof(sealed),
	    &len, NULL), -1);
	ad.row = NULL;
	assert_int_equal(kh_seal(fx.kh, &ad, "x", 1, sealed, sizeof(sealed),
	    &len, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* The longest row is fine. */
	longrow[KH_ROW_MAX] = '\0';
	ad.row = longrow;
	assert_int_equal(kh_seal(fx.kh, &ad, "x", 1, sealed, sizeof(sealed),
	    &len, NULL), 0);

	assert_int_equal(kh_seal(fx.kh, &ad1, "", 0, sealed, sizeof(sealed),
	    &len, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(kh_seal(fx.kh, &ad1, big, KH_PLAIN_MAX + 1, big,
	    sizeof(big), &len, NULL), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kh_seal(fx.kh, &ad1, "abc", 3, sealed,
	    3 + KH_SEAL_OVERHEAD - 1, &len, NULL), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kh_open(fx.kh, &ad1, sealed, KH_SEAL_OVERHEAD - 1,
	    out, sizeof(out), &len), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kh_open(fx.kh, &ad1, sealed, 40, out, 3, &len), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(kh_audit_mark(fx.kh, "tab\there"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(kh_keyring_load(fx.kh, big, KH_BLOB_MAX + 1), -1);
	assert_int_equal(errno, EMSGSIZE);

	assert_int_equal(kh_client_dead(fx.kh), 0);
	assert_int_equal(kh_health(fx.kh), 0);
	fx_stop(&fx);
	/* Only the longest-row SEAL and the health check went out. */
	assert_int_equal(fx.fk.nreq, 2);
}

#define BATCH	64

/*
 * The fake holds its replies until 8 requests are in: without pipelining
 * the first OPEN would time out.
 */
static void
test_batch(void **state)
{
	struct fixture		 fx;
	struct kh_open_op	 ops[BATCH];
	unsigned char		 sealed[BATCH][16 + KH_SEAL_OVERHEAD];
	unsigned char		 plain[BATCH][16], out[BATCH][16];
	char			 rows[BATCH][16];
	size_t			 i;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fakekh_init(&fx.fk, FK_PIPELINE);
	fx.fk.have_keyring = 1;
	fx.fk.hold = 8;
	fakekh_run(&fx.fk);
	fx_client(&fx, 2000);
	memset(ops, 0, sizeof(ops));
	for (i = 0; i < BATCH; i++) {
		snprintf(rows[i], sizeof(rows[i]), "row-%zu", i);
		memset(plain[i], (int)i, sizeof(plain[i]));
		fakekh_seal("connection", "connections", rows[i],
		    "credentials", plain[i], sizeof(plain[i]), sealed[i]);
		ops[i].ad = ad1;
		ops[i].ad.row = rows[i];
		ops[i].sealed = sealed[i];
		ops[i].sealedlen = sizeof(sealed[i]);
		ops[i].plain = out[i];
		ops[i].plainsz = sizeof(out[i]);
	}
	ops[5].ad.row = "moved";
	assert_int_equal(kh_open_batch(fx.kh, ops, BATCH), 0);
	for (i = 0; i < BATCH; i++) {
		if (i == 5) {
			assert_int_equal(ops[i].result, KH_E_BAD_VALUE);
			assert_int_equal(ops[i].plainlen, 0);
			continue;
		}
		assert_int_equal(ops[i].result, 0);
		assert_int_equal(ops[i].plainlen, sizeof(plain[i]));
		assert_memory_equal(out[i], plain[i], sizeof(plain[i]));
	}
	assert_int_equal(kh_open_batch(fx.kh, ops, 0), 0);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, BATCH);
	assert_true(fx.fk.maxheld >= 8);
	assert_true(fx.fk.ids_increasing);
}

/* Replies out of order break the protocol; outputs are wiped. */
static void
test_batch_reorder(void **state)
{
	struct fixture		 fx;
	struct kh_open_op	 ops[4];
	unsigned char		 sealed[4][8 + KH_SEAL_OVERHEAD], out[4][8];
	size_t			 i;

	(void)state;
	fx_start(&fx, FK_REORDER, 1, 0);
	memset(ops, 0, sizeof(ops));
	memset(out, 0xaa, sizeof(out));
	for (i = 0; i < 4; i++) {
		fakekh_seal("connection", "connections", "acme-github",
		    "credentials", "8 bytes!", 8, sealed[i]);
		ops[i].ad = ad1;
		ops[i].sealed = sealed[i];
		ops[i].sealedlen = sizeof(sealed[i]);
		ops[i].plain = out[i];
		ops[i].plainsz = sizeof(out[i]);
	}
	assert_int_equal(kh_open_batch(fx.kh, ops, 4), -1);
	assert_int_equal(errno, EBADMSG);
	assert_true(all_zero(&out[0][0], sizeof(out)));
	fx_stop(&fx);
}

#define NTHREADS	8
#define NROUNDS		200

static void *
hammer(void *arg)
{
	struct khclient	*kh = arg;
	unsigned char	 plain[24], sealed[24 + KH_SEAL_OVERHEAD], out[24];
	size_t		 len, olen;
	int		 i, bad = 0;

	for (i = 0; i < NROUNDS; i++) {
		memset(plain, i, sizeof(plain));
		if (kh_seal(kh, &ad1, plain, sizeof(plain), sealed,
		    sizeof(sealed), &len, NULL) != 0 ||
		    kh_open(kh, &ad1, sealed, len, out, sizeof(out),
		    &olen) != 0 || olen != sizeof(plain) ||
		    memcmp(out, plain, sizeof(plain)) != 0)
			bad++;
	}
	return (void *)(intptr_t)bad;
}

/* Many threads share one channel; every reply reaches its caller. */
static void
test_threads(void **state)
{
	struct fixture	 fx;
	pthread_t	 t[NTHREADS];
	void		*rv;
	int		 i;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1, 0);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, fx.kh),
		    0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, NTHREADS * NROUNDS * 2);
	assert_true(fx.fk.ids_increasing);
}

#define NSHARE		6
#define SHARE_ROUNDS	20

struct share {
	struct khclient		*kh;
	pthread_barrier_t	*start;
	int			 n;
};

static void *
share_open(void *arg)
{
	struct share	*sh = arg;
	struct kh_ad	 ad = ad1;
	unsigned char	 plain[20], sealed[20 + KH_SEAL_OVERHEAD], out[20];
	char		 row[16];
	size_t		 olen;
	int		 i, bad = 0;

	snprintf(row, sizeof(row), "row-%d", sh->n);
	ad.row = row;
	memset(plain, 'a' + sh->n, sizeof(plain));
	fakekh_seal(ad.purpose, ad.table, ad.row, ad.column, plain,
	    sizeof(plain), sealed);
	for (i = 0; i < SHARE_ROUNDS; i++) {
		pthread_barrier_wait(sh->start);
		memset(out, 0, sizeof(out));
		if (kh_open(sh->kh, &ad, sealed, sizeof(sealed), out,
		    sizeof(out), &olen) != 0 || olen != sizeof(plain) ||
		    memcmp(out, plain, sizeof(plain)) != 0)
			bad++;
	}
	return (void *)(intptr_t)bad;
}

/*
 * Concurrent callers share the channel: the fake answers nothing until
 * NSHARE requests are in, so callers taking turns on the channel (each
 * waiting for its reply before the next may send) would time out.  Every
 * reply still reaches the caller that asked, with its own plaintext.
 */
static void
test_shared_channel(void **state)
{
	struct fixture		 fx;
	struct share		 sh[NSHARE];
	pthread_barrier_t	 start;
	pthread_t		 t[NSHARE];
	void			*rv;
	int			 i;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fakekh_init(&fx.fk, FK_PIPELINE);
	fx.fk.have_keyring = 1;
	fx.fk.hold = NSHARE;
	fakekh_run(&fx.fk);
	fx_client(&fx, 2000);
	assert_int_equal(pthread_barrier_init(&start, NULL, NSHARE), 0);
	for (i = 0; i < NSHARE; i++) {
		sh[i].kh = fx.kh;
		sh[i].start = &start;
		sh[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, share_open,
		    &sh[i]), 0);
	}
	for (i = 0; i < NSHARE; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(kh_client_dead(fx.kh), 0);
	assert_int_equal(fx.ondead, 0);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, NSHARE * SHARE_ROUNDS);
	assert_true(fx.fk.maxheld >= NSHARE);
	assert_true(fx.fk.ids_increasing);
}

/*
 * The keyholder goes silent while several callers wait: every one of them
 * fails (none is left waiting for a reply that will not come), the
 * callback runs once, and their plaintext buffers are left zeroed.
 */
static void *
share_silent(void *arg)
{
	struct share	*sh = arg;
	unsigned char	 sealed[8 + KH_SEAL_OVERHEAD], out[8];
	size_t		 olen = 99;
	int		 rv;

	fakekh_seal(ad1.purpose, ad1.table, ad1.row, ad1.column, "8 bytes!",
	    8, sealed);
	memset(out, 0xaa, sizeof(out));
	pthread_barrier_wait(sh->start);
	rv = kh_open(sh->kh, &ad1, sealed, sizeof(sealed), out, sizeof(out),
	    &olen);
	if (rv != -1 || errno != ETIMEDOUT || olen != 0 ||
	    !all_zero(out, sizeof(out)))
		return (void *)(intptr_t)1;
	return NULL;
}

static void
test_shared_timeout(void **state)
{
	struct fixture		 fx;
	struct share		 sh[NSHARE];
	pthread_barrier_t	 start;
	pthread_t		 t[NSHARE];
	void			*rv;
	int			 i;

	(void)state;
	fx_start(&fx, FK_SILENT, 1, SHORT_TIMEOUT);
	assert_int_equal(pthread_barrier_init(&start, NULL, NSHARE), 0);
	for (i = 0; i < NSHARE; i++) {
		sh[i].kh = fx.kh;
		sh[i].start = &start;
		sh[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, share_silent,
		    &sh[i]), 0);
	}
	for (i = 0; i < NSHARE; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(kh_client_dead(fx.kh), ETIMEDOUT);
	assert_int_equal(fx.ondead, 1);
	fx_stop(&fx);
}

/* KH_METRICS: the counters in layout V1, and nothing else. */
static void
test_metrics(void **state)
{
	static const uint32_t	 bad[][2] = {
		{ KH_METRICS_V2 + 1, KH_M_COUNT },	/* a newer layout */
		{ KH_METRICS_V2, KH_M_COUNT - 1 },	/* too few */
		{ KH_METRICS_V2, KH_M_COUNT + 1 },	/* too many */
	};
	struct fixture	 fx;
	uint64_t	 v[KH_M_COUNT];
	size_t		 i;

	(void)state;
	fx_start(&fx, FK_NORMAL, 0, 0);
	assert_int_equal(kh_metrics(fx.kh, v), 0);
	for (i = 0; i < KH_M_COUNT; i++)
		assert_int_equal(v[i], FAKEKH_METRIC(i));
	assert_int_equal(kh_client_dead(fx.kh), 0);
	fx_stop(&fx);
	assert_int_equal(fx.fk.lasttype, KH_METRICS);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&fx, 0, sizeof(fx));
		fakekh_init(&fx.fk, FK_NORMAL);
		fx.fk.mlayout = bad[i][0];
		fx.fk.mcount = bad[i][1];
		fakekh_run(&fx.fk);
		fx_client(&fx, 0);
		assert_int_equal(kh_metrics(fx.kh, v), -1);
		assert_int_equal(errno, EBADMSG);
		assert_int_equal(kh_client_dead(fx.kh), EBADMSG);
		assert_int_equal(fx.ondead, 1);
		fx_stop(&fx);
	}

	/* Refused like any request (the fake's default code). */
	fx_start(&fx, FK_ERROR, 0, 0);
	assert_int_equal(kh_metrics(fx.kh, v), KH_E_RATE);
	fx_stop(&fx);
}

/* KH_CONFIG from a bare socketpair end playing dromosd. */
struct cfcase {
	const char	*listen, *admin, *group, *db, *metrics;
	int		 trailing;
	int		 ok;
	const char	*tls[5];	/* listener, certificate, key, CA, CRL */
};

#define TLS_FILES	"/etc/dromos/b.crt", "/etc/dromos/b.key", \
			"/etc/dromos/gw-ca.pem"

/*
 * A client whose channel's other end has sent this KH_CONFIG (verbose 2);
 * *peer is that end, for the caller to close.
 */
static struct khclient *
config_sent(int *peer, const char *listen, const char *admin,
    const char *group, const char *db, const char *metrics,
    const char *const tls[5], uint32_t keep, int trailing)
{
	struct khclient	*kh;
	int		 sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	fakekh_send_config(sp[0], listen, admin, group, db, metrics, tls, 2,
	    keep, trailing);
	kh = kh_client_new(sp[1], 0, NULL, NULL);
	assert_non_null(kh);
	*peer = sp[0];
	return kh;
}

static void
test_config(void **state)
{
	static const struct cfcase cases[] = {
		{ "/run/dromos/broker.sock", "/run/dromos/admin.sock",
		    "_dromosadm", "host=/run/postgresql dbname=dromos "
		    "password=hunter2", "127.0.0.1:9101", 0, 1, { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 1, { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "[::1]:9101", 0, 1,
		    { NULL } },
		{ "relative.sock", "", "", "", "", 0, 0, { NULL } },
		{ "", "", "", "", "", 0, 0, { NULL } },
		{ "/run/dromos/broker.sock", "admin.sock", "", "", "", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker.sock", "", "-wheel", "", "", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker.sock", "", "a:b", "", "", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker\n.sock", "", "", "", "", 0, 0, { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "", 1, 0, { NULL } },
		{ "/run/dromos/broker.sock/with/a/very/long/path/that/does/"
		    "not/fit/in/a/sockaddr_un/because/those/hold/only/108/"
		    "bytes", "", "", "", "", 0, 0, { NULL } },
		/* The metrics listener: numeric loopback only. */
		{ "/run/dromos/broker.sock", "", "", "", "10.0.0.1:9101", 0,
		    0, { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "0.0.0.0:9101", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "localhost:9101", 0,
		    0, { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "127.0.0.1", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker.sock", "", "", "", "127.0.0.1:0", 0, 0,
		    { NULL } },
		{ "/run/dromos/broker.sock", "", "", "",
		    "127.0.0.1:9101:9102", 0, 0, { NULL } },
		/* The TLS listener: any numeric address, three files. */
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 1,
		    { "0.0.0.0:8444", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "127.0.0.1:9101", 0,
		    1, { "[::]:8444", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 1,
		    { "192.0.2.10:8444", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "broker.example:8444", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0:8444", "", "/k", "/ca" } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0:8444", "/c", "k.pem", "/ca" } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0:8444", "/c", "/k", "/c\ta" } },
		/* Files without a listener, or a listener without files. */
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "", TLS_FILES } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0:8444", "", "", "" } },
		{ "/run/dromos/broker.sock", "", "", "", "", 1, 0,
		    { "0.0.0.0:8444", TLS_FILES } },
		/* A client CRL: optional, an absolute path, with a listener. */
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 1,
		    { "0.0.0.0:8444", TLS_FILES, "/etc/dromos/gw-crl.pem" } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "0.0.0.0:8444", TLS_FILES, "gw-crl.pem" } },
		{ "/run/dromos/broker.sock", "", "", "", "", 0, 0,
		    { "", "", "", "", "/etc/dromos/gw-crl.pem" } },
	};
	char		 longpath[KH_TLS_PATH_MAX + 1];
	const char	*toolong[5] = { "0.0.0.0:8444", longpath, "/k", "/ca",
			    NULL };
	struct kh_config cf;
	struct khclient	*kh;
	size_t		 i;
	int		 peer, rv;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kh = config_sent(&peer, cases[i].listen, cases[i].admin,
		    cases[i].group, cases[i].db, cases[i].metrics,
		    cases[i].tls[0] != NULL ? cases[i].tls : NULL, 0,
		    cases[i].trailing);
		rv = kh_recv_config(kh, 1000, &cf);
		if (!cases[i].ok) {
			assert_int_equal(rv, -1);
			assert_int_equal(errno, EBADMSG);
			assert_null(cf.database);
			assert_int_equal(kh_client_dead(kh), EBADMSG);
		} else {
			assert_int_equal(rv, 0);
			assert_string_equal(cf.listen, cases[i].listen);
			assert_string_equal(cf.admin, cases[i].admin);
			assert_string_equal(cf.group, cases[i].group);
			assert_string_equal(cf.public_url,
			    "https://127.0.0.1:8443");
			assert_string_equal(cf.user, "_dromos");
			assert_string_equal(cf.database, cases[i].db);
			assert_string_equal(cf.metrics, cases[i].metrics);
			assert_string_equal(cf.tls, cases[i].tls[0] ?
			    cases[i].tls[0] : "");
			assert_string_equal(cf.tls_cert, cases[i].tls[1] ?
			    cases[i].tls[1] : "");
			assert_string_equal(cf.tls_key, cases[i].tls[2] ?
			    cases[i].tls[2] : "");
			assert_string_equal(cf.tls_ca, cases[i].tls[3] ?
			    cases[i].tls[3] : "");
			assert_string_equal(cf.tls_crl, cases[i].tls[4] ?
			    cases[i].tls[4] : "");
			assert_int_equal(cf.verbose, 2);
			assert_int_equal(cf.access_keep, 0);
			kh_config_clear(&cf);
			assert_null(cf.database);
			assert_int_equal(cf.listen[0], '\0');
		}
		kh_client_free(kh);
		close(peer);
	}

	/* A path as long as the field holds, and one byte more. */
	longpath[0] = '/';
	memset(longpath + 1, 'p', KH_TLS_PATH_MAX - 2);
	longpath[KH_TLS_PATH_MAX - 1] = '\0';
	for (i = 0; i < 2; i++) {
		kh = config_sent(&peer, "/run/dromos/broker.sock", "", "", "",
		    "", toolong, 0, 0);
		rv = kh_recv_config(kh, 1000, &cf);
		if (i == 0) {
			assert_int_equal(rv, 0);
			assert_string_equal(cf.tls_cert, longpath);
			kh_config_clear(&cf);
			longpath[KH_TLS_PATH_MAX - 1] = 'p';
			longpath[KH_TLS_PATH_MAX] = '\0';
		} else {
			assert_int_equal(rv, -1);
			assert_int_equal(errno, EBADMSG);
		}
		kh_client_free(kh);
		close(peer);
	}
}

/* The days of access_log to keep: 0 (all) up to 36500. */
static void
test_config_keep(void **state)
{
	static const struct {
		uint32_t	 keep;
		int		 ok;
	} cases[] = {
		{ 1, 1 }, { 90, 1 }, { KH_KEEP_DAYS_MAX, 1 },
		{ KH_KEEP_DAYS_MAX + 1, 0 }, { UINT32_MAX, 0 },
	};
	struct kh_config cf;
	struct khclient	*kh;
	size_t		 i;
	int		 peer, rv;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kh = config_sent(&peer, "/run/dromos/broker.sock", "", "", "",
		    "", NULL, cases[i].keep, 0);
		rv = kh_recv_config(kh, 1000, &cf);
		if (cases[i].ok) {
			assert_int_equal(rv, 0);
			assert_int_equal(cf.access_keep, cases[i].keep);
			kh_config_clear(&cf);
		} else {
			assert_int_equal(rv, -1);
			assert_int_equal(errno, EBADMSG);
		}
		kh_client_free(kh);
		close(peer);
	}
}

static void
test_config_other(void **state)
{
	struct kh_config cf;
	struct khclient	*kh;
	struct imsgbuf	 ib;
	int		 sp[2];

	(void)state;
	/* Nothing comes: time out. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	kh = kh_client_new(sp[1], 0, NULL, NULL);
	assert_int_equal(kh_recv_config(kh, 100, &cf), -1);
	assert_int_equal(errno, ETIMEDOUT);
	kh_client_free(kh);
	close(sp[0]);

	/* dromosd goes away. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	kh = kh_client_new(sp[1], 0, NULL, NULL);
	close(sp[0]);
	assert_int_equal(kh_recv_config(kh, 1000, &cf), -1);
	assert_int_equal(errno, EPIPE);
	kh_client_free(kh);

	/* Something else comes first. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(imsgbuf_init(&ib, sp[0]), 0);
	assert_int_equal(imsg_compose(&ib, KH_R_OK, 0, 0, -1, NULL, 0), 1);
	assert_int_equal(imsgbuf_flush(&ib), 0);
	imsgbuf_clear(&ib);
	kh = kh_client_new(sp[1], 0, NULL, NULL);
	assert_int_equal(kh_recv_config(kh, 1000, &cf), -1);
	assert_int_equal(errno, EBADMSG);
	kh_client_free(kh);
	close(sp[0]);
}

/* Asynchronous OPENs: what the callbacks saw. */
#define NASYNC		64

struct landing {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	struct kh_aopen	*got[NASYNC];
	int		 n;
	int		 late;		/* a callback for an index seen twice */
};

struct slot {
	struct landing	*l;
	int		 i;
};

static void
landed(void *arg, struct kh_aopen *a)
{
	struct slot	*s = arg;

	/* The channel's mutex is held: only note it and wake the test. */
	pthread_mutex_lock(&s->l->mtx);
	if (s->l->got[s->i] != NULL)
		s->l->late++;
	s->l->got[s->i] = a;
	s->l->n++;
	pthread_cond_signal(&s->l->cv);
	pthread_mutex_unlock(&s->l->mtx);
}

static void
landing_init(struct landing *l, struct slot *slots, int n)
{
	int	 i;

	memset(l, 0, sizeof(*l));
	assert_int_equal(pthread_mutex_init(&l->mtx, NULL), 0);
	assert_int_equal(pthread_cond_init(&l->cv, NULL), 0);
	for (i = 0; i < n; i++) {
		slots[i].l = l;
		slots[i].i = i;
	}
}

/* Until n callbacks ran, or 5 s. */
static void
landing_wait(struct landing *l, int n)
{
	struct timespec	 dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&l->mtx);
	while (l->n < n)
		if (pthread_cond_timedwait(&l->cv, &l->mtx, &dl) != 0)
			break;
	pthread_mutex_unlock(&l->mtx);
	assert_int_equal(l->n, n);
	assert_int_equal(l->late, 0);
}

static void
landing_free(struct landing *l)
{
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mtx);
}

/* Without kh_client_async() there is nobody to read: refused. */
static void
test_async_needs_reader(void **state)
{
	struct fixture	 fx;
	struct landing	 l;
	struct slot	 s[1];
	unsigned char	 sealed[4 + KH_SEAL_OVERHEAD];

	(void)state;
	fx_start(&fx, FK_NORMAL, 1, 0);
	landing_init(&l, s, 1);
	fakekh_seal(ad1.purpose, ad1.table, ad1.row, ad1.column, "abcd", 4,
	    sealed);
	assert_null(kh_open_start(fx.kh, &ad1, sealed, sizeof(sealed), landed,
	    &s[0]));
	assert_int_equal(errno, ENOTSUP);
	/* Nor a value too short to be sealed, with the reader running. */
	assert_int_equal(kh_client_async(fx.kh), 0);
	assert_int_equal(kh_client_async(fx.kh), 0);	/* once is enough */
	assert_null(kh_open_start(fx.kh, &ad1, sealed, KH_SEAL_OVERHEAD - 1,
	    landed, &s[0]));
	assert_null(kh_open_start(fx.kh, &ad1, sealed, sizeof(sealed), NULL,
	    &s[0]));
	fx_stop(&fx);
	assert_int_equal(l.n, 0);
	assert_int_equal(fx.fk.nreq, 0);
	landing_free(&l);
}

/*
 * NASYNC OPENs on the wire at once, while threads make synchronous calls
 * on the same channel: every callback runs once, with its own plaintext,
 * and the synchronous callers (which no longer read) get theirs.
 */
static void
test_async_open(void **state)
{
	struct fixture	 fx;
	struct landing	 l;
	struct slot	 s[NASYNC];
	struct kh_ad	 ad[NASYNC];
	char		 rows[NASYNC][24];
	unsigned char	 plain[NASYNC][32], sealed[NASYNC][32 +
			    KH_SEAL_OVERHEAD], out[64];
	pthread_t	 t[2];
	void		*rv;
	size_t		 olen;
	int		 i;

	(void)state;
	fx_start(&fx, FK_NORMAL, 1, 0);
	assert_int_equal(kh_client_async(fx.kh), 0);
	landing_init(&l, s, NASYNC);
	for (i = 0; i < NASYNC; i++) {
		snprintf(rows[i], sizeof(rows[i]), "async-%d", i);
		ad[i] = ad1;
		ad[i].row = rows[i];
		memset(plain[i], 'A' + i % 26, sizeof(plain[i]));
		plain[i][0] = (unsigned char)i;
		fakekh_seal(ad[i].purpose, ad[i].table, ad[i].row,
		    ad[i].column, plain[i], sizeof(plain[i]), sealed[i]);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, fx.kh),
		    0);
	for (i = 0; i < NASYNC; i++)
		assert_non_null(kh_open_start(fx.kh, &ad[i], sealed[i],
		    sizeof(sealed[i]), landed, &s[i]));
	landing_wait(&l, NASYNC);
	for (i = 0; i < NASYNC; i++) {
		memset(out, 0, sizeof(out));
		assert_int_equal(kh_open_finish(l.got[i], out, sizeof(out),
		    &olen), 0);
		assert_int_equal(olen, sizeof(plain[i]));
		assert_memory_equal(out, plain[i], sizeof(plain[i]));
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	assert_int_equal(kh_client_dead(fx.kh), 0);
	fx_stop(&fx);
	assert_int_equal(fx.fk.nreq, NASYNC + 2 * NROUNDS * 2);
	assert_true(fx.fk.ids_increasing);
	landing_free(&l);
}

/* A keyholder's refusal reaches kh_open_finish() as its code. */
static void
test_async_error(void **state)
{
	struct fixture	 fx;
	struct landing	 l;
	struct slot	 s[1];
	unsigned char	 sealed[4 + KH_SEAL_OVERHEAD], out[4];
	size_t		 olen = 99;

	(void)state;
	fx_start(&fx, FK_ERROR, 1, 0);
	assert_int_equal(kh_client_async(fx.kh), 0);
	landing_init(&l, s, 1);
	memset(sealed, 0, sizeof(sealed));
	assert_non_null(kh_open_start(fx.kh, &ad1, sealed, sizeof(sealed),
	    landed, &s[0]));
	landing_wait(&l, 1);
	assert_int_equal(kh_open_finish(l.got[0], out, sizeof(out), &olen),
	    KH_E_RATE);
	assert_int_equal(olen, 0);
	assert_int_equal(kh_client_dead(fx.kh), 0);
	fx_stop(&fx);
	landing_free(&l);
}

/*
 * The channel fails under waiting OPENs (a hang-up, a timeout, the
 * client freed): every callback still runs, once, and finish says why;
 * a dead channel takes no more.
 */
static void
async_fail(enum fakekh_mode mode, int timeout, int free_first, int want)
{
	struct fixture	 fx;
	struct landing	 l;
	struct slot	 s[4];
	unsigned char	 sealed[4 + KH_SEAL_OVERHEAD], out[4];
	size_t		 olen;
	int		 i, started = 0;

	fx_start(&fx, mode, 1, timeout);
	assert_int_equal(kh_client_async(fx.kh), 0);
	landing_init(&l, s, 4);
	fakekh_seal(ad1.purpose, ad1.table, ad1.row, ad1.column, "abcd", 4,
	    sealed);
	for (i = 0; i < 4; i++)
		if (kh_open_start(fx.kh, &ad1, sealed, sizeof(sealed), landed,
		    &s[i]) != NULL)
			started++;
	assert_true(started >= 1);
	if (free_first) {
		kh_client_free(fx.kh);
		fx.kh = NULL;
	}
	landing_wait(&l, started);
	for (i = 0; i < started; i++) {
		errno = 0;
		assert_int_equal(kh_open_finish(l.got[i], out, sizeof(out),
		    &olen), -1);
		/* Freed: the reader saw the hang-up, or stopped first. */
		if (free_first && errno == ESHUTDOWN)
			errno = want;
		assert_int_equal(errno, want);
		assert_int_equal(olen, 0);
	}
	if (fx.kh != NULL) {
		assert_int_equal(kh_client_dead(fx.kh), want);
		assert_null(kh_open_start(fx.kh, &ad1, sealed, sizeof(sealed),
		    landed, &s[0]));
		assert_int_equal(errno, want);
		assert_int_equal(fx.ondead, 1);
	}
	fx_stop(&fx);
	landing_free(&l);
}

static void
test_async_eof(void **state)
{
	(void)state;
	async_fail(FK_EOF, 0, 0, EPIPE);
}

static void
test_async_timeout(void **state)
{
	(void)state;
	async_fail(FK_SILENT, SHORT_TIMEOUT, 0, ETIMEDOUT);
}

static void
test_async_free(void **state)
{
	(void)state;
	async_fail(FK_SILENT, 60000, 1, EPIPE);
}

int
run_khclient_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_moved_value),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_wrong_id),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_short_seal),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_reorder),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_shared_channel),
		cmocka_unit_test(test_shared_timeout),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_keep),
		cmocka_unit_test(test_config_other),
		cmocka_unit_test(test_async_needs_reader),
		cmocka_unit_test(test_async_open),
		cmocka_unit_test(test_async_error),
		cmocka_unit_test(test_async_eof),
		cmocka_unit_test(test_async_timeout),
		cmocka_unit_test(test_async_free),
	};

	return cmocka_run_group_tests_name("khclient", tests, NULL, NULL);
}
