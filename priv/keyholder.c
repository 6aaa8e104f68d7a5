/*
 * The keyholder's request loop, shaped like OpenSSH's monitor.
 *
 * Requests arrive on the imsg socket from dromos-broker.  Each is checked
 * against a table of {type, length bounds, handler}; an unknown type, a bad
 * length or a malformed field is audited and then ends the keyholder, since
 * only a broken or subverted broker sends one.  A well-formed request that
 * cannot be honoured gets KH_R_ERROR and an audit line.
 *
 * Write-ahead auditing, in batches: every request already read is handled,
 * its audit line buffered and its answer held back; then the batch's audit
 * lines are written with one write(2); only if that succeeds do the held
 * answers go out.  If it fails, every held answer becomes KH_E_AUDIT and
 * any plaintext in them is wiped first: nothing leaves unaudited.
 *
 * The one exception is KH_METRICS: it reads counters, touches no key and
 * no value, and changes nothing, so it writes no audit line (a scraper
 * polling it must not be a way to fill the audit log), and its answer,
 * released in order with the rest of its batch, is not turned into
 * KH_E_AUDIT when the batch's commit fails (so the counter of audit
 * failures can still be read once the log is broken).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "imsg/imsg.h"
#include "policy/policy.h"
#include "priv/aead.h"
#include "priv/audit.h"
#include "priv/keyholder.h"
#include "priv/keyring.h"
#include "priv/khproto.h"

/* Answers held until the batch's audit lines are on disk. */
#define KH_BATCH_MAX	256

struct kh_reply {
	uint32_t	 type;
	uint32_t	 id;
	uint32_t	 req;		/* the request's type */
	int		 audited;	/* released only after the commit */
	uint8_t		*data;		/* heap, wiped before free */
	size_t		 len;
};

struct kh_req {
	struct keyholder	*kh;
	struct imsg		*imsg;
	struct imsg_reader	 rd;
	struct kh_reply		*reply;
	struct audit_event	 ev;
	char			 purpose[KH_NAME_MAX + 1];
	char			 table[KH_NAME_MAX + 1];
	char			 row[KH_ROW_MAX + 1];
	char			 column[KH_NAME_MAX + 1];
	char			 note[AUDIT_NOTE_MAX + 1];
};

/* Handlers return 0 (answered, maybe with an error) or -1 (malformed). */
typedef int (*kh_handler)(struct kh_req *);

static int	kh_seal(struct kh_req *);
static int	kh_open(struct kh_req *);
static int	kh_keyring_init(struct kh_req *);
static int	kh_keyring_load(struct kh_req *);
static int	kh_key_rotate(struct kh_req *);
static int	kh_key_status(struct kh_req *);
static int	kh_keyring_export(struct kh_req *);
static int	kh_audit_mark(struct kh_req *);
static int	kh_health(struct kh_req *);
static int	kh_metrics(struct kh_req *);

/* Smallest and largest payloads: 4-byte length prefixes included. */
#define AD_MIN		(4 * (4 + 1))
#define AD_MAX		(4 * 4 + 3 * KH_NAME_MAX + KH_ROW_MAX)

#define AUDITED		1
#define UNAUDITED	0

static const struct kh_dispatch {
	uint32_t	 type;
	const char	*name;
	size_t		 min;
	size_t		 max;
	int		 audited;
	kh_handler	 fn;
} dispatch[] = {
	{ KH_SEAL, "SEAL", AD_MIN + 4, AD_MAX + 4 + KH_PLAIN_MAX, AUDITED,
	    kh_seal },
	{ KH_OPEN, "OPEN", AD_MIN + 4 + AEAD_OVERHEAD,
	    AD_MAX + 4 + KH_SEALED_MAX, AUDITED, kh_open },
	{ KH_KEYRING_INIT, "KEYRING_INIT", 0, 0, AUDITED, kh_keyring_init },
	{ KH_KEYRING_LOAD, "KEYRING_LOAD", 4 + AEAD_OVERHEAD,
	    4 + KH_BLOB_MAX, AUDITED, kh_keyring_load },
	{ KH_KEY_ROTATE, "KEY_ROTATE", 0, 0, AUDITED, kh_key_rotate },
	{ KH_KEY_STATUS, "KEY_STATUS", 0, 0, AUDITED, kh_key_status },
	{ KH_KEYRING_EXPORT, "KEYRING_EXPORT", 0, 0, AUDITED,
	    kh_keyring_export },
	{ KH_AUDIT_MARK, "AUDIT_MARK", 4 + 1, 4 + AUDIT_NOTE_MAX, AUDITED,
	    kh_audit_mark },
	{ KH_HEALTH, "HEALTH", 0, 0, AUDITED, kh_health },
	/* Counters only: see the top of this file. */
	{ KH_METRICS, "METRICS", 0, 0, UNAUDITED, kh_metrics },
};

static volatile sig_atomic_t	 kh_quit;
static volatile sig_atomic_t	 kh_hup;

static void	kh_hangup(struct keyholder *);

static void
kh_sighandler(int sig)
{
	if (sig == SIGHUP)
		kh_hup = 1;
	else if (kh_quit < 2)
		kh_quit++;		/* the second one: stop at once */
}

static void
reply_clear(struct kh_reply *r)
{
	if (r->data != NULL) {
		explicit_bzero(r->data, r->len);
		free(r->data);
	}
	memset(r, 0, sizeof(*r));
}

static int
reply_set(struct kh_reply *r, uint32_t type, const void *data, size_t len)
{
	r->type = type;
	if (len == 0)
		return 0;
	if ((r->data = malloc(len)) == NULL)
		fatal("%s", __func__);
	memcpy(r->data, data, len);
	r->len = len;
	return 0;
}

/* An answer of one length-prefixed byte string, after a u32 prefix if any. */
static int
reply_bytes(struct kh_reply *r, uint32_t type, const uint32_t *prefix,
    const void *data, size_t len)
{
	size_t	 off = 0, total = len + 4 + (prefix ? 4 : 0);
	uint32_t n;

	r->type = type;
	if ((r->data = malloc(total)) == NULL)
		fatal("%s", __func__);
	if (prefix != NULL) {
		n = htobe32(*prefix);
		memcpy(r->data, &n, 4);
		off = 4;
	}
	n = htobe32((uint32_t)len);
	memcpy(r->data + off, &n, 4);
	memcpy(r->data + off + 4, data, len);
	r->len = total;
	return 0;
}

static int
reply_error(struct kh_req *q, uint32_t code, const char *outcome)
{
	uint32_t	 be = htobe32(code);

	q->ev.outcome = outcome;
	return reply_set(q->reply, KH_R_ERROR, &be, sizeof(be));
}

/* Purpose, table, row and column, in that order, as the SEAL/OPEN AD. */
static int
read_ad(struct kh_req *q)
{
	if (imsg_read_string(&q->rd, q->purpose, sizeof(q->purpose)) == -1 ||
	    imsg_read_string(&q->rd, q->table, sizeof(q->table)) == -1 ||
	    imsg_read_string(&q->rd, q->row, sizeof(q->row)) == -1 ||
	    imsg_read_string(&q->rd, q->column, sizeof(q->column)) == -1)
		return -1;
	q->ev.purpose = q->purpose;
	q->ev.table = q->table;
	q->ev.row = q->row;
	q->ev.column = q->column;
	return 0;
}

static int
kh_aead_error(struct kh_req *q, int rv)
{
	switch (rv) {
	case AEAD_ERR_VERSION:
		return reply_error(q, KH_E_UNKNOWN_VERSION, "unknown key version");
	case AEAD_ERR_AUTH:
	case AEAD_ERR_MALFORMED:
		return reply_error(q, KH_E_BAD_VALUE, aead_strerror(rv));
	default:
		return reply_error(q, KH_E_INTERNAL, aead_strerror(rv));
	}
}

static int
kh_seal(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	const void		*plain;
	size_t			 plainlen, outlen;
	uint8_t			 out[KH_SEALED_MAX];
	uint32_t		 flags = 0, v;
	int			 rv;

	q->ev.op = AUDIT_SEAL;
	if (read_ad(q) == -1 ||
	    imsg_read_lbytes(&q->rd, &plain, &plainlen, KH_PLAIN_MAX) == -1 ||
	    imsg_read_end(&q->rd) == -1)
		return -1;
	if (kh->kr == NULL)
		return reply_error(q, KH_E_NO_KEYRING, "no keyring");
	v = keyring_active(kh->kr);
	rv = aead_seal(kh->kr, q->purpose, q->table, q->row, q->column,
	    plain, plainlen, out, sizeof(out), &outlen);
	if (rv == AEAD_ERR_FIELD)
		return -1;
	if (rv != AEAD_OK)
		return kh_aead_error(q, rv);
	q->ev.kv = keyring_active(kh->kr);
	if (q->ev.kv != v)
		kh->m[KH_M_ROTATIONS]++;	/* by itself, at the threshold */
	if (q->ev.kv != v || keyring_needs_save(kh->kr))
		flags |= KH_F_KEYRING_CHANGED;
	return reply_bytes(q->reply, KH_R_SEALED, &flags, out, outlen);
}

static int
kh_open(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	const void		*sealed;
	size_t			 sealedlen, outlen;
	uint8_t			 out[KH_PLAIN_MAX];
	uint32_t		 v;
	int			 rv;

	q->ev.op = AUDIT_OPEN;
	if (read_ad(q) == -1 ||
	    imsg_read_lbytes(&q->rd, &sealed, &sealedlen, KH_SEALED_MAX) == -1 ||
	    imsg_read_end(&q->rd) == -1)
		return -1;
	if (aead_parse_header(sealed, sealedlen, &v) == 0)
		q->ev.kv = v;
	if (kh->kr == NULL)
		return reply_error(q, KH_E_NO_KEYRING, "no keyring");
	rv = aead_open(kh->kr, q->purpose, q->table, q->row, q->column,
	    sealed, sealedlen, out, sizeof(out), &outlen);
	if (rv == AEAD_ERR_FIELD)
		return -1;
	if (rv != AEAD_OK)
		return kh_aead_error(q, rv);
	rv = reply_bytes(q->reply, KH_R_OPENED, NULL, out, outlen);
	explicit_bzero(out, outlen);
	return rv;
}

/* The sealed keyring as an answer; the broker stores it. */
static int
reply_keyring(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	uint8_t			*blob;
	size_t			 len;
	int			 rv;

	if ((blob = malloc(KEYRING_BLOB_MAX)) == NULL)
		fatal("%s", __func__);
	rv = keyring_save(kh->kr, kh->rootkey, blob, KEYRING_BLOB_MAX, &len);
	if (rv != AEAD_OK) {
		free(blob);
		return reply_error(q, KH_E_INTERNAL, aead_strerror(rv));
	}
	reply_bytes(q->reply, KH_R_KEYRING, NULL, blob, len);
	free(blob);
	return 0;
}

static int
kh_keyring_init(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;

	q->ev.op = AUDIT_INIT;
	if (kh->kr != NULL)
		return reply_error(q, KH_E_HAVE_KEYRING, "keyring loaded already");
	if ((kh->kr = keyring_new()) == NULL)
		return reply_error(q, KH_E_INTERNAL, "keyring_new failed");
	keyring_set_rotate_threshold(kh->kr, kh->rotate_after);
	q->ev.kv = keyring_active(kh->kr);
	return reply_keyring(q);
}

static int
kh_keyring_load(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	struct keyring		*kr;
	const void		*blob;
	size_t			 len;
	int			 rv;

	q->ev.op = AUDIT_LOAD;
	if (imsg_read_lbytes(&q->rd, &blob, &len, KH_BLOB_MAX) == -1 ||
	    imsg_read_end(&q->rd) == -1)
		return -1;
	if ((rv = keyring_load(kh->rootkey, blob, len, &kr)) != AEAD_OK)
		return reply_error(q, KH_E_BAD_KEYRING, aead_strerror(rv));
	/*
	 * With one loaded, only its successor replaces it: the keyring
	 * another broker's keyholder rotated and stored.  Never an older
	 * or a different one, so no key version is ever lost.
	 */
	if (kh->kr != NULL && !keyring_succeeds(kr, kh->kr)) {
		keyring_free(kr);
		return reply_error(q, KH_E_HAVE_KEYRING,
		    "not a successor of the loaded keyring");
	}
	if (kh->kr == NULL)
		keyring_set_rotate_threshold(kr, kh->rotate_after);
	keyring_free(kh->kr);
	kh->kr = kr;
	q->ev.kv = keyring_active(kh->kr);
	return reply_set(q->reply, KH_R_OK, NULL, 0);
}

static int
kh_key_rotate(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	uint32_t		 v;

	q->ev.op = AUDIT_ROTATE;
	if (kh->kr == NULL)
		return reply_error(q, KH_E_NO_KEYRING, "no keyring");
	if (keyring_rotate(kh->kr, &v) == -1)
		return reply_error(q, KH_E_INTERNAL, "rotation failed");
	kh->m[KH_M_ROTATIONS]++;
	q->ev.kv = v;
	return reply_keyring(q);
}

static int
kh_keyring_export(struct kh_req *q)
{
	q->ev.op = AUDIT_STATUS;
	q->ev.purpose = "export";
	if (q->kh->kr == NULL)
		return reply_error(q, KH_E_NO_KEYRING, "no keyring");
	q->ev.kv = keyring_active(q->kh->kr);
	return reply_keyring(q);
}

static int
kh_key_status(struct kh_req *q)
{
	struct keyring_status	 st[KEYRING_MAX_VERSIONS];
	uint8_t			 buf[8 + KEYRING_MAX_VERSIONS * 20], *p;
	uint32_t		 u;
	uint64_t		 w;
	size_t			 n, i;

	q->ev.op = AUDIT_STATUS;
	if (q->kh->kr == NULL)
		return reply_error(q, KH_E_NO_KEYRING, "no keyring");
	n = keyring_status(q->kh->kr, st, KEYRING_MAX_VERSIONS);
	q->ev.kv = keyring_active(q->kh->kr);
	p = buf;
	u = htobe32(q->ev.kv);
	memcpy(p, &u, 4);
	u = htobe32((uint32_t)n);
	memcpy(p + 4, &u, 4);
	p += 8;
	for (i = 0; i < n; i++, p += 20) {
		u = htobe32(st[i].version);
		memcpy(p, &u, 4);
		w = htobe64(st[i].seals);
		memcpy(p + 4, &w, 8);
		w = htobe64((uint64_t)st[i].created);
		memcpy(p + 12, &w, 8);
	}
	return reply_set(q->reply, KH_R_STATUS, buf, (size_t)(p - buf));
}

static int
kh_audit_mark(struct kh_req *q)
{
	q->ev.op = AUDIT_MARK;
	if (imsg_read_string(&q->rd, q->note, sizeof(q->note)) == -1 ||
	    imsg_read_end(&q->rd) == -1)
		return -1;
	q->ev.note = q->note;
	return reply_set(q->reply, KH_R_OK, NULL, 0);
}

static int
kh_health(struct kh_req *q)
{
	q->ev.op = AUDIT_HEALTH;
	return reply_set(q->reply, KH_R_OK, NULL, 0);
}

/* The counters, in layout KH_METRICS_V2: they hold nothing secret. */
static int
kh_metrics(struct kh_req *q)
{
	struct keyholder	*kh = q->kh;
	struct audit_stats	 st;
	uint8_t			 buf[8 + 8 * KH_M_COUNT];
	uint64_t		 v[KH_M_COUNT], w;
	uint32_t		 u;
	size_t			 i;

	audit_stats(kh->audit, &st);
	memcpy(v, kh->m, sizeof(v));
	v[KH_M_AUDIT_LINES] = st.lines;
	v[KH_M_AUDIT_CHECKPOINTS] = st.checkpoints;
	u = htobe32(KH_METRICS_V2);
	memcpy(buf, &u, 4);
	u = htobe32(KH_M_COUNT);
	memcpy(buf + 4, &u, 4);
	for (i = 0; i < KH_M_COUNT; i++) {
		w = htobe64(v[i]);
		memcpy(buf + 8 + 8 * i, &w, 8);
	}
	return reply_set(q->reply, KH_R_METRICS, buf, sizeof(buf));
}

static const struct kh_dispatch *
dispatch_find(uint32_t type)
{
	size_t	 i;

	for (i = 0; i < sizeof(dispatch) / sizeof(dispatch[0]); i++)
		if (dispatch[i].type == type)
			return &dispatch[i];
	return NULL;
}

/*
 * A request no correct broker sends: audit it (best effort: we are about to
 * stop either way) and end the keyholder.
 */
static void __attribute__((__noreturn__))
kh_refuse(struct keyholder *kh, struct imsg *imsg, const char *why)
{
	struct audit_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.op = AUDIT_REFUSE;
	ev.outcome = why;
	ev.pid = imsg_get_pid(imsg);
	if (audit_append(kh->audit, &ev) == -1 || audit_commit(kh->audit) == -1)
		log_warnx("audit: cannot record refusal");
	audit_shutdown(kh->audit);
	kh_hangup(kh);
	fatalx("refused request type %u (%zu bytes) from the broker: %s",
	    imsg_get_type(imsg), imsg_get_len(imsg), why);
}

/* Over the keyholder's rate: a token bucket refilled once a second. */
static int
kh_rate_exceeded(struct keyholder *kh)
{
	struct timespec	 now;

	if (kh->rate == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != kh->rate_sec) {
		kh->rate_sec = now.tv_sec;
		kh->rate_left = kh->rate;
	}
	if (kh->rate_left == 0)
		return 1;
	kh->rate_left--;
	return 0;
}

static void
kh_handle(struct keyholder *kh, struct imsg *imsg, struct kh_reply *reply)
{
	const struct kh_dispatch	*d;
	struct kh_req			 q;
	size_t				 len = imsg_get_len(imsg);

	if ((d = dispatch_find(imsg_get_type(imsg))) == NULL)
		kh_refuse(kh, imsg, "unknown request type");
	if (len < d->min || len > d->max)
		kh_refuse(kh, imsg, "bad request length");

	memset(&q, 0, sizeof(q));
	q.kh = kh;
	q.imsg = imsg;
	q.reply = reply;
	q.ev.pid = imsg_get_pid(imsg);
	reply->id = imsg_get_id(imsg);
	reply->req = d->type;
	reply->audited = d->audited;
	imsg_reader_init(&q.rd, imsg);

	if ((d->type == KH_SEAL || d->type == KH_OPEN) && kh_rate_exceeded(kh)) {
		q.ev.op = d->type == KH_SEAL ? AUDIT_SEAL : AUDIT_OPEN;
		reply_error(&q, KH_E_RATE, "rate limited");
	} else if (d->fn(&q) == -1)
		kh_refuse(kh, imsg, "malformed field");

	if (d->audited && audit_append(kh->audit, &q.ev) == -1) {
		/* Not recorded, so not answered with anything but an error. */
		reply_clear(reply);
		reply->id = imsg_get_id(imsg);
		reply->req = d->type;
		reply->audited = d->audited;
		reply_error(&q, KH_E_AUDIT, "audit append failed");
		kh->audit_lost = 1;
	}
	log_debug("%s id %u: %s", d->name, reply->id,
	    q.ev.outcome ? q.ev.outcome : "ok");
	explicit_bzero(&q, sizeof(q));
}

/* Count an answer as it goes out: its request's type, and its outcome. */
static void
kh_count(struct keyholder *kh, const struct kh_reply *r)
{
	uint32_t	 code;

	if (r->req < 1 || r->req > KH_TYPE_LAST)
		return;
	kh->m[KH_M_REQUESTS + r->req - 1]++;
	if (r->req != KH_SEAL && r->req != KH_OPEN)
		return;
	if (r->type != KH_R_ERROR) {
		kh->m[r->req == KH_SEAL ? KH_M_SEAL_OK : KH_M_OPEN_OK]++;
		return;
	}
	if (r->len != sizeof(code))
		return;
	memcpy(&code, r->data, sizeof(code));
	code = be32toh(code);
	if (code >= 1 && code <= KH_E_LAST)
		kh->m[(r->req == KH_SEAL ? KH_M_SEAL_REFUSED :
		    KH_M_OPEN_REFUSED) + code - 1]++;
}

/* Commit the batch's audit lines, then release its answers. */
static void
kh_flush_batch(struct keyholder *kh, struct kh_reply *r, size_t n)
{
	uint32_t	 be = htobe32(KH_E_AUDIT);
	size_t		 i, audited = 0;

	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		audited += r[i].audited != 0;
	/* One failure per batch whose lines did not all reach the log. */
	if (kh->audit_lost)
		kh->m[KH_M_AUDIT_FAILURES]++;
	if (audited > 0 && audit_commit(kh->audit) == -1) {
		log_warnx("audit log not written: answering %zu request(s) "
		    "with errors", audited);
		if (!kh->audit_lost)
			kh->m[KH_M_AUDIT_FAILURES]++;
		for (i = 0; i < n; i++) {
			uint32_t id = r[i].id, req = r[i].req;

			if (!r[i].audited)
				continue;
			reply_clear(&r[i]);
			r[i].id = id;
			r[i].req = req;
			r[i].audited = 1;
			reply_set(&r[i], KH_R_ERROR, &be, sizeof(be));
		}
	}
	kh->audit_lost = 0;
	kh->m[KH_M_BATCHES]++;
	if (n > kh->m[KH_M_BATCH_MAX])
		kh->m[KH_M_BATCH_MAX] = n;
	for (i = 0; i < n; i++) {
		kh_count(kh, &r[i]);
		if (imsg_compose(&kh->ibuf, r[i].type, r[i].id, 0, -1,
		    r[i].data, r[i].len) == -1)
			fatal("imsg_compose");
		reply_clear(&r[i]);
	}
}

/* Read every request there is, answer them as one batch. */
static int
kh_dispatch_imsgs(struct keyholder *kh)
{
	struct kh_reply	 replies[KH_BATCH_MAX];
	struct imsg	 imsg;
	ssize_t		 n;
	size_t		 nr = 0;

	memset(replies, 0, sizeof(replies));
	for (;;) {
		if ((n = imsg_get(&kh->ibuf, &imsg)) == -1)
			return -1;
		if (n == 0)
			break;
		kh_handle(kh, &imsg, &replies[nr++]);
		imsg_free(&imsg);
		if (nr == KH_BATCH_MAX) {
			kh_flush_batch(kh, replies, nr);
			nr = 0;
		}
	}
	kh_flush_batch(kh, replies, nr);
	return 0;
}

static int
kh_timed_checkpoint(struct keyholder *kh)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (kh->checkpoint_interval == 0 ||
	    now.tv_sec - kh->last_checkpoint < (time_t)kh->checkpoint_interval)
		return 0;
	kh->last_checkpoint = now.tv_sec;
	if (audit_checkpoint(kh->audit) == -1 || audit_commit(kh->audit) == -1) {
		log_warnx("audit checkpoint not written");
		kh->m[KH_M_AUDIT_FAILURES]++;
		return -1;
	}
	return 0;
}

/*
 * SIGHUP: if the audit log was moved away (by an operator, logrotate), go
 * on in a new file of its name (audit.h, "Rotation").  Never a stop, and
 * nothing is lost: whatever fails, the lines keep going to the moved file.
 * The configuration is read at start only.
 */
static void
kh_reopen_audit(struct keyholder *kh)
{
	int	 fd;

	fd = openat(kh->audit_dirfd, kh->audit_name, POLICY_AUDIT_OPEN_FLAGS,
	    POLICY_AUDIT_OPEN_MODE);
	if (fd == -1 && errno == EEXIST) {
		log_info("SIGHUP: audit log %s was not moved: still writing "
		    "to it", kh->audit_name);
		return;
	}
	if (fd == -1) {
		log_warn("SIGHUP: cannot create a new audit log %s; still "
		    "writing to the moved file", kh->audit_name);
		kh->m[KH_M_AUDIT_REOPEN_FAILURES]++;
		return;
	}
	if (audit_reopen(kh->audit, fd) == -1) {
		log_warnx("SIGHUP: audit log %s not rotated", kh->audit_name);
		kh->m[KH_M_AUDIT_REOPEN_FAILURES]++;
		return;
	}
	kh->m[KH_M_AUDIT_REOPENS]++;
	log_info("SIGHUP: audit log %s reopened: the chain goes on at seq "
	    "%" PRIu64, kh->audit_name, audit_seq(kh->audit) + 1);
}

/*
 * Told to stop: the first time, close the stop pipe, so that the broker
 * stops taking requests and answers those it has, which may still need
 * us: we serve until it closes the channel.  -1 once we should not wait
 * any longer (a second signal, or KH_STOP_WAIT_MS passed).
 */
static int
kh_stopping(struct keyholder *kh, struct timespec *by)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (kh->stopfd != -1) {
		close(kh->stopfd);
		kh->stopfd = -1;
		*by = now;
		by->tv_sec += KH_STOP_WAIT_MS / 1000;
		log_info("stopping on signal: the broker answers the requests "
		    "it has first");
		return 0;
	}
	if (kh_quit > 1) {
		log_info("second signal: stopping the broker now");
		return -1;
	}
	if (now.tv_sec > by->tv_sec || (now.tv_sec == by->tv_sec &&
	    now.tv_nsec >= by->tv_nsec)) {
		log_warnx("the broker did not stop within %d s: stopping it",
		    KH_STOP_WAIT_MS / 1000);
		return -1;
	}
	return 0;
}

/*
 * Serve the broker until it goes away or we are told to stop.  Returns the
 * exit status for dromosd: 0 on an orderly stop, 1 when the broker died.
 */
int
keyholder_loop(struct keyholder *kh)
{
	struct sigaction	 sa;
	struct pollfd		 pfd;
	struct timespec		 ts, now, stop_by = { 0, 0 };
	sigset_t		 block, empty;
	int			 n, status, rv = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kh_sighandler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);
	clock_gettime(CLOCK_MONOTONIC, &now);
	kh->last_checkpoint = now.tv_sec;
	kh->m[KH_M_START_TIME] = (uint64_t)time(NULL);

	for (;;) {
		if (kh_quit && kh_stopping(kh, &stop_by) == -1)
			break;
		pfd.fd = kh->ibuf.fd;
		pfd.events = POLLIN;
		if (imsgbuf_queuelen(&kh->ibuf) > 0)
			pfd.events |= POLLOUT;
		ts.tv_sec = kh_quit ? 0 : 1;
		ts.tv_nsec = kh_quit ? 100000000 : 0;
		n = ppoll(&pfd, 1, &ts, &empty);
		if (n == -1 && errno != EINTR)
			fatal("ppoll");
		if (kh_hup) {
			kh_hup = 0;
			kh_reopen_audit(kh);
		}
		if (n == -1)
			continue;
		kh_timed_checkpoint(kh);
		if (n == 0)
			continue;
		if (pfd.revents & POLLOUT && imsgbuf_write(&kh->ibuf) == -1) {
			log_warn("write to broker");
			break;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = imsgbuf_read(&kh->ibuf);
			if (n == -1 && errno != EAGAIN) {
				if (errno == EBADMSG)
					kh_refuse_stream(kh, "malformed message header");
				log_warn("read from broker");
				break;
			}
			if (n == 0) {
				if (kh_quit)
					log_info("the broker has stopped");
				else
					log_warnx("broker closed its channel");
				break;
			}
			if (kh_dispatch_imsgs(kh) == -1)
				kh_refuse_stream(kh, "malformed message");
			if (imsgbuf_write(&kh->ibuf) == -1 && errno != EAGAIN) {
				log_warn("write to broker");
				break;
			}
		}
	}

	/*
	 * The broker runs as another user, so it cannot be signalled; closing
	 * its channel ends it, if the stop pipe has not (kh_stopping).
	 */
	kh_hangup(kh);
	if (kh_quit)
		rv = 0;
	if (waitpid(kh->broker, &status, 0) == kh->broker) {
		if (WIFSIGNALED(status)) {
			log_warnx("broker killed by signal %d", WTERMSIG(status));
			rv = 1;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
		    !kh_quit) {
			log_warnx("broker exited with status %d",
			    WEXITSTATUS(status));
			rv = 1;
		} else if (!kh_quit)
			log_warnx("broker exited");
	}
	if (audit_shutdown(kh->audit) == -1) {
		log_warnx("final audit checkpoint not written");
		rv = 1;
	}
	return rv;
}

/* Close the broker's channel: it sees EOF and exits. */
static void
kh_hangup(struct keyholder *kh)
{
	if (kh->ibuf.fd != -1) {
		close(kh->ibuf.fd);
		kh->ibuf.fd = -1;
	}
}

/* The stream itself is broken (a bad header): audit and stop. */
void
kh_refuse_stream(struct keyholder *kh, const char *why)
{
	struct audit_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.op = AUDIT_REFUSE;
	ev.outcome = why;
	if (audit_append(kh->audit, &ev) == -1 || audit_commit(kh->audit) == -1)
		log_warnx("audit: cannot record refusal");
	audit_shutdown(kh->audit);
	kh_hangup(kh);
	fatalx("refused the broker's stream: %s", why);
}
