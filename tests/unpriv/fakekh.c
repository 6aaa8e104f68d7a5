/* The fake keyholder of fakekh.h. */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "tests/unpriv/fakekh.h"

#define FK_OVERHEAD	36		/* DRM, format, version, nonce, tag */
#define FK_HDR		20		/* up to the body */
#define FK_XOR		0x5a

static void
die(const char *what)
{
	fprintf(stderr, "fakekh: %s: %s\n", what, strerror(errno));
	abort();
}

struct fk_ad {
	char	 s[4][KH_ROW_MAX + 1];	/* purpose, table, row, column */
};

/* FNV-1a over the AD and the plaintext, stretched to 16 bytes. */
static void
fk_tag(const struct fk_ad *ad, const unsigned char *p, size_t len,
    unsigned char tag[16])
{
	uint64_t	 h = 14695981039346656037ull;
	size_t		 i, k;

	for (k = 0; k < 4; k++) {
		for (i = 0; ad->s[k][i] != '\0'; i++)
			h = (h ^ (unsigned char)ad->s[k][i]) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	for (i = 0; i < 16; i++) {
		if (i == 8)
			h = (h ^ 0xa5) * 1099511628211ull;
		tag[i] = (unsigned char)(h >> (8 * (i % 8)));
	}
}

static int
read_ad(struct imsg_reader *r, struct fk_ad *ad)
{
	static const size_t	 max[4] = { KH_NAME_MAX, KH_NAME_MAX,
				    KH_ROW_MAX, KH_NAME_MAX };
	size_t			 k;

	for (k = 0; k < 4; k++)
		if (imsg_read_string(r, ad->s[k], max[k] + 1) == -1 ||
		    ad->s[k][0] == '\0')
			return -1;
	return 0;
}

static struct ibuf *
reply(struct fakekh *fk, uint32_t type, uint32_t id, size_t hint)
{
	struct ibuf	*m;

	if (fk->mode == FK_WRONG_ID)
		id++;
	if ((m = imsg_create(&fk->ib, type, id, getpid(), hint)) == NULL)
		die("imsg_create");
	return m;
}

static void
send_reply(struct fakekh *fk, struct ibuf *m)
{
	if (fk->mode == FK_TRAILING && imsg_add_u32(m, 0) == -1)
		die("imsg_add");
	if (imsg_close(&fk->ib, m) == -1)
		die("imsg_close");
}

static void
send_error(struct fakekh *fk, uint32_t id, uint32_t code)
{
	struct ibuf	*m = reply(fk, KH_R_ERROR, id, 4);

	if (imsg_add_u32(m, code) == -1)
		die("imsg_add");
	send_reply(fk, m);
}

static void
send_ok(struct fakekh *fk, uint32_t id)
{
	send_reply(fk, reply(fk, KH_R_OK, id, 0));
}

static void
fk_seal(const struct fk_ad *ad, const unsigned char *p, size_t len,
    unsigned char *out)
{
	size_t	 i;

	memcpy(out, "DRM\x01\x00\x00\x00\x01", 8);
	memset(out + 8, 0x11, 12);
	for (i = 0; i < len; i++)
		out[FK_HDR + i] = p[i] ^ FK_XOR;
	fk_tag(ad, p, len, out + FK_HDR + len);
}

void
fakekh_seal(const char *purpose, const char *table, const char *row,
    const char *column, const void *plain, size_t len, unsigned char *out)
{
	struct fk_ad	 ad;

	snprintf(ad.s[0], sizeof(ad.s[0]), "%s", purpose);
	snprintf(ad.s[1], sizeof(ad.s[1]), "%s", table);
	snprintf(ad.s[2], sizeof(ad.s[2]), "%s", row);
	snprintf(ad.s[3], sizeof(ad.s[3]), "%s", column);
	fk_seal(&ad, plain, len, out);
}

static void
send_blob(struct fakekh *fk, uint32_t id, const void *blob, size_t len)
{
	struct ibuf	*m = reply(fk, KH_R_KEYRING, id, 0);

	if (imsg_add_lbytes(m, blob, len) == -1)
		die("imsg_add");
	send_reply(fk, m);
}

/* Each handler: 0, or -1 for a malformed request. */
static int
do_seal(struct fakekh *fk, struct imsg_reader *r, uint32_t id)
{
	struct fk_ad	 ad;
	const void	*p;
	size_t		 len;
	unsigned char	 out[KH_PLAIN_MAX + FK_OVERHEAD];
	struct ibuf	*m;

	if (read_ad(r, &ad) == -1 ||
	    imsg_read_lbytes(r, &p, &len, KH_PLAIN_MAX) == -1 ||
	    imsg_read_end(r) == -1 || len == 0)
		return -1;
	snprintf(fk->lastpurpose, sizeof(fk->lastpurpose), "%s", ad.s[0]);
	snprintf(fk->lastrow, sizeof(fk->lastrow), "%s", ad.s[2]);
	fk->lastplainlen = len;
	if (!fk->have_keyring) {
		send_error(fk, id, KH_E_NO_KEYRING);
		return 0;
	}
	fk_seal(&ad, p, len, out);
	if (fk->mode == FK_WRONG_TYPE)
		m = reply(fk, KH_R_OPENED, id, 0);
	else
		m = reply(fk, KH_R_SEALED, id, 0);
	if (fk->mode == FK_SHORT_SEAL)
		len--;
	if (imsg_add_u32(m, 0) == -1 ||
	    imsg_add_lbytes(m, out, len + FK_OVERHEAD) == -1)
		die("imsg_add");
	send_reply(fk, m);
	return 0;
}

static int
do_open(struct fakekh *fk, struct imsg_reader *r, uint32_t id)
{
	struct fk_ad	 ad;
	const void	*p;
	const unsigned char *s;
	size_t		 len, n, i;
	unsigned char	 plain[KH_PLAIN_MAX], tag[16];
	struct ibuf	*m;

	if (read_ad(r, &ad) == -1 ||
	    imsg_read_lbytes(r, &p, &len, KH_SEALED_MAX) == -1 ||
	    imsg_read_end(r) == -1)
		return -1;
	snprintf(fk->lastpurpose, sizeof(fk->lastpurpose), "%s", ad.s[0]);
	snprintf(fk->lastrow, sizeof(fk->lastrow), "%s", ad.s[2]);
	s = p;
	if (!fk->have_keyring) {
		send_error(fk, id, KH_E_NO_KEYRING);
		return 0;
	}
	if (len < FK_OVERHEAD || memcmp(s, "DRM\x01", 4) != 0) {
		send_error(fk, id, KH_E_BAD_VALUE);
		return 0;
	}
	n = len - FK_OVERHEAD;
	for (i = 0; i < n; i++)
		plain[i] = s[FK_HDR + i] ^ FK_XOR;
	fk_tag(&ad, plain, n, tag);
	if (memcmp(tag, s + FK_HDR + n, 16) != 0) {
		send_error(fk, id, KH_E_BAD_VALUE);
		return 0;
	}
	if (fk->mode == FK_CORRUPT && n > 0)
		plain[0] ^= 1;
	m = reply(fk, KH_R_OPENED, id, 0);
	if (imsg_add_lbytes(m, plain, n) == -1)
		die("imsg_add");
	send_reply(fk, m);
	explicit_bzero(plain, sizeof(plain));
	return 0;
}

static int
do_keyring(struct fakekh *fk, uint32_t type, struct imsg_reader *r,
    uint32_t id)
{
	static const char	 blob[] = "a sealed keyring blob";
	const void		*p;
	size_t			 len;

	switch (type) {
	case KH_KEYRING_INIT:
		if (imsg_read_end(r) == -1)
			return -1;
		if (fk->have_keyring)
			send_error(fk, id, KH_E_HAVE_KEYRING);
		else {
			fk->have_keyring = 1;
			send_blob(fk, id, blob, sizeof(blob));
		}
		return 0;
	case KH_KEY_ROTATE:
		if (imsg_read_end(r) == -1)
			return -1;
		if (!fk->have_keyring)
			send_error(fk, id, KH_E_NO_KEYRING);
		else
			send_blob(fk, id, blob, sizeof(blob));
		return 0;
	case KH_KEYRING_LOAD:
		if (imsg_read_lbytes(r, &p, &len, KH_BLOB_MAX) == -1 ||
		    imsg_read_end(r) == -1)
			return -1;
		if (fk->have_keyring)
			send_error(fk, id, KH_E_HAVE_KEYRING);
		else if (len != sizeof(blob) || memcmp(p, blob, len) != 0)
			send_error(fk, id, KH_E_BAD_KEYRING);
		else {
			fk->have_keyring = 1;
			send_ok(fk, id);
		}
		return 0;
	case KH_KEYRING_EXPORT:
		if (imsg_read_end(r) == -1)
			return -1;
		if (!fk->have_keyring)
			send_error(fk, id, KH_E_NO_KEYRING);
		else
			send_blob(fk, id, blob, sizeof(blob));
		return 0;
	default:
		return -1;
	}
}

static int
do_metrics(struct fakekh *fk, struct imsg_reader *r, uint32_t id)
{
	struct ibuf	*m;
	uint32_t	 i, n = fk->mcount ? fk->mcount : KH_M_COUNT;

	if (imsg_read_end(r) == -1)
		return -1;
	m = reply(fk, KH_R_METRICS, id, 0);
	if (imsg_add_u32(m, fk->mlayout ? fk->mlayout : KH_METRICS_V2) == -1 ||
	    imsg_add_u32(m, n) == -1)
		die("imsg_add");
	for (i = 0; i < n; i++)
		if (imsg_add_u64(m, FAKEKH_METRIC(i)) == -1)
			die("imsg_add");
	send_reply(fk, m);
	return 0;
}

static int
do_other(struct fakekh *fk, uint32_t type, struct imsg_reader *r,
    uint32_t id)
{
	struct ibuf	*m;

	switch (type) {
	case KH_HEALTH:
		if (imsg_read_end(r) == -1)
			return -1;
		send_ok(fk, id);
		return 0;
	case KH_AUDIT_MARK:
		if (imsg_read_string(r, fk->note, sizeof(fk->note)) == -1 ||
		    imsg_read_end(r) == -1)
			return -1;
		send_ok(fk, id);
		return 0;
	case KH_KEY_STATUS:
		if (imsg_read_end(r) == -1)
			return -1;
		m = reply(fk, KH_R_STATUS, id, 0);
		if (imsg_add_u32(m, 2) == -1 || imsg_add_u32(m, 2) == -1 ||
		    imsg_add_u32(m, 1) == -1 || imsg_add_u64(m, 10) == -1 ||
		    imsg_add_u64(m, 1700000000) == -1 ||
		    imsg_add_u32(m, 2) == -1 || imsg_add_u64(m, 3) == -1 ||
		    imsg_add_u64(m, 1700000100) == -1)
			die("imsg_add");
		send_reply(fk, m);
		return 0;
	case KH_METRICS:
		return do_metrics(fk, r, id);
	default:
		return -1;
	}
}

static int
handle(struct fakekh *fk, struct imsg *imsg)
{
	struct imsg_reader	 r;
	uint32_t		 type = imsg_get_type(imsg);
	uint32_t		 id = imsg_get_id(imsg);

	if (fk->nreq > 0 && id <= fk->lastid)
		fk->ids_increasing = 0;
	if (id == 0)
		fk->ids_increasing = 0;
	fk->nreq++;
	fk->lastid = id;
	fk->lasttype = type;
	imsg_reader_init(&r, imsg);
	if (fk->mode == FK_ERROR) {
		send_error(fk, id, fk->code);
		return 0;
	}
	switch (type) {
	case KH_SEAL:
		return do_seal(fk, &r, id);
	case KH_OPEN:
		return do_open(fk, &r, id);
	case KH_KEYRING_INIT:
	case KH_KEYRING_LOAD:
	case KH_KEYRING_EXPORT:
	case KH_KEY_ROTATE:
		return do_keyring(fk, type, &r, id);
	default:
		return do_other(fk, type, &r, id);
	}
}

/* FK_REORDER: hold a request back and answer it after the next one. */
static int
handle_reorder(struct fakekh *fk, struct imsg *imsg)
{
	struct imsg	 held;

	if (!fk->pending) {
		fk->pending = 1;
		fk->held = *imsg;
		memset(imsg, 0, sizeof(*imsg));
		imsg->fd = -1;
		return 0;
	}
	fk->pending = 0;
	held = fk->held;
	if (handle(fk, imsg) == -1 || handle(fk, &held) == -1) {
		imsg_free(&held);
		return -1;
	}
	imsg_free(&held);
	return 0;
}

static void *
fk_main(void *arg)
{
	struct fakekh	*fk = arg;
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	for (;;) {
		if ((n = imsg_get(&fk->ib, &imsg)) == -1)
			break;
		if (n == 0) {
			if (fk->mode != FK_PIPELINE ||
			    imsgbuf_queuelen(&fk->ib) >= fk->hold) {
				if (imsgbuf_queuelen(&fk->ib) > fk->maxheld)
					fk->maxheld = imsgbuf_queuelen(&fk->ib);
				if (imsgbuf_flush(&fk->ib) == -1)
					break;
			}
			if (imsgbuf_read(&fk->ib) != 1)
				break;
			continue;
		}
		if (fk->mode == FK_EOF) {
			imsg_free(&imsg);
			break;
		}
		if (fk->mode == FK_SILENT) {
			fk->nreq++;
			imsg_free(&imsg);
			continue;
		}
		if (fk->mode == FK_REORDER)
			rv = handle_reorder(fk, &imsg);
		else
			rv = handle(fk, &imsg);
		imsg_free(&imsg);
		if (rv == -1) {
			/* dromosd would log, audit and exit. */
			fk->nbad++;
			break;
		}
	}
	if (fk->pending)
		imsg_free(&fk->held);
	(void)shutdown(fk->fd, SHUT_RDWR);
	return NULL;
}

void
fakekh_init(struct fakekh *fk, enum fakekh_mode mode)
{
	int	 sp[2];

	memset(fk, 0, sizeof(*fk));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		die("socketpair");
	fk->fd = sp[0];
	fk->brokerfd = sp[1];
	fk->mode = mode;
	fk->ids_increasing = 1;
	fk->hold = 8;
	fk->code = KH_E_RATE;
	if (imsgbuf_init(&fk->ib, fk->fd) == -1)
		die("imsgbuf_init");
}

void
fakekh_run(struct fakekh *fk)
{
	if ((errno = pthread_create(&fk->thread, NULL, fk_main, fk)) != 0)
		die("pthread_create");
}

void
fakekh_start(struct fakekh *fk, enum fakekh_mode mode, int keyring)
{
	fakekh_init(fk, mode);
	fk->have_keyring = keyring;
	fakekh_run(fk);
}

void
fakekh_stop(struct fakekh *fk)
{
	(void)shutdown(fk->fd, SHUT_RDWR);
	if ((errno = pthread_join(fk->thread, NULL)) != 0)
		die("pthread_join");
	imsgbuf_clear(&fk->ib);
	(void)close(fk->fd);
}

void
fakekh_send_config(int fd, const char *listen, const char *admin,
    const char *group, const char *db, const char *metrics,
    const char *const tls[5], uint32_t verbose, uint32_t keep, int trailing)
{
	static const char *const notls[5] = { "", "", "", "", "" };
	struct imsgbuf	 ib;
	struct ibuf	*m;
	size_t		 i;

	if (imsgbuf_init(&ib, fd) == -1)
		die("imsgbuf_init");
	if ((m = imsg_create(&ib, KH_CONFIG, 0, getpid(), 0)) == NULL ||
	    imsg_add_string(m, listen) == -1 ||
	    imsg_add_string(m, admin) == -1 ||
	    imsg_add_string(m, group) == -1 ||
	    imsg_add_string(m, db) == -1 ||
	    imsg_add_u32(m, verbose) == -1 ||
	    imsg_add_string(m, "https://127.0.0.1:8443") == -1 ||
	    imsg_add_string(m, "_dromos") == -1 ||
	    imsg_add_string(m, "https://app.example/done") == -1 ||
	    imsg_add_string(m, metrics) == -1)
		die("send config");
	if (tls == NULL)
		tls = notls;
	for (i = 0; i < 5; i++)
		if (imsg_add_string(m, tls[i] != NULL ? tls[i] : "") == -1)
			die("send config");
	if (imsg_add_u32(m, keep) == -1)
		die("send config");
	if ((trailing && imsg_add_u32(m, 0) == -1) ||
	    imsg_close(&ib, m) == -1 || imsgbuf_flush(&ib) == -1)
		die("send config");
	imsgbuf_clear(&ib);
}
