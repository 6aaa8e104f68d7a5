/*
 * The audit log writer and the canonical line format it shares with the
 * verifier.  The format, the hashed bytes and the write and sync policy are
 * specified in audit.h.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "common/log.h"
#include "priv/audit.h"
#include "priv/auditkey.h"
#include "priv/auditverify.h"

#define RESUME_BLOCK	(64 * 1024)
#define RESUME_MIN	(16 * 1024 * 1024)
#define CP_MARK		",\"op\":\"CHECKPOINT\","

struct audit {
	int		 fd;
	struct auditkey	*key;
	unsigned	 every;
	enum audit_sync	 sync;
	uint64_t	 seq;			/* last seq buffered */
	uint8_t		 h[AUDIT_HASHLEN];	/* its hash */
	uint64_t	 since_cp;		/* lines since a checkpoint */
	int		 started;		/* a line was appended */
	int		 needsync;		/* a checkpoint is buffered */
	int		 broken;		/* a commit failed: refuse all */
	uint64_t	 nlines;		/* lines buffered */
	uint64_t	 ncps;			/* of which checkpoints */
	struct audit_stats st;			/* committed */
	char		 cpline[AUDIT_LINE_MAX];	/* the last checkpoint */
	size_t		 cplen;			/* 0: none written yet */
	size_t		 len;
	char		 buf[AUDIT_BATCH_MAX];
};

static const char *const op_names[] = {
	[AUDIT_START] = "START",
	[AUDIT_STOP] = "STOP",
	[AUDIT_INIT] = "INIT",
	[AUDIT_LOAD] = "LOAD",
	[AUDIT_SEAL] = "SEAL",
	[AUDIT_OPEN] = "OPEN",
	[AUDIT_ROTATE] = "ROTATE",
	[AUDIT_STATUS] = "STATUS",
	[AUDIT_MARK] = "MARK",
	[AUDIT_HEALTH] = "HEALTH",
	[AUDIT_REFUSE] = "REFUSE",
	[AUDIT_CHECKPOINT] = "CHECKPOINT",
};
#define NOPS	(sizeof(op_names) / sizeof(op_names[0]))

/* The line format. */

const char *
audit_op_name(enum audit_op op)
{
	if ((size_t)op >= NOPS || op_names[op] == NULL)
		return NULL;
	return op_names[op];
}

int
audit_op_lookup(const char *name, enum audit_op *op)
{
	size_t	 i;

	for (i = 0; i < NOPS; i++)
		if (op_names[i] != NULL && strcmp(op_names[i], name) == 0) {
			*op = (enum audit_op)i;
			return 0;
		}
	return -1;
}

int
audit_time_valid(const char *s)
{
	static const char	 shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t			 i;

	for (i = 0; i < AUDIT_TIME_LEN; i++) {
		if (shape[i] == 'd') {
			if (s[i] < '0' || s[i] > '9')
				return 0;
		} else if (s[i] != shape[i])
			return 0;
	}
	return s[AUDIT_TIME_LEN] == '\0';
}

static int
name_valid(const char *s)
{
	size_t	 n;

	if (s == NULL)
		return 1;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= AUDIT_NAME_MAX)
			return 0;
		if ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' &&
		    s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
		    strchr("_.:/-", s[n]) != NULL)
			continue;
		return 0;
	}
	return 1;
}

/* Printable ASCII, min..max bytes (NULL counts as valid: a default). */
static int
text_valid(const char *s, size_t min, size_t max)
{
	size_t	 n;

	if (s == NULL)
		return 1;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= max || s[n] < 0x20 || s[n] > 0x7e)
			return 0;
	return n >= min;
}

int
audit_event_valid(const struct audit_event *ev)
{
	if (audit_op_name(ev->op) == NULL)
		return 0;
	if (ev->op == AUDIT_CHECKPOINT)
		return 1;	/* no other field is written */
	if (ev->op != AUDIT_MARK && ev->note != NULL)
		return 0;
	return name_valid(ev->purpose) && name_valid(ev->table) &&
	    name_valid(ev->column) && text_valid(ev->row, 0, AUDIT_ROW_MAX) &&
	    text_valid(ev->outcome, 1, AUDIT_OUTCOME_MAX) &&
	    text_valid(ev->note, 0, AUDIT_NOTE_MAX) && ev->pid >= 0;
}

/* Append to buf at *off; -1 once it does not fit. */
static int put(char *, size_t, size_t *, const char *, ...) LOG_FMT(4, 5);

static int
put(char *buf, size_t bufsz, size_t *off, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (*off >= bufsz)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, bufsz - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= bufsz - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

/* A "-quoted text field with '"' and '\\' escaped; validated already. */
static int
put_text(char *buf, size_t bufsz, size_t *off, const char *name,
    const char *s)
{
	if (put(buf, bufsz, off, ",\"%s\":\"", name) == -1)
		return -1;
	for (; *s != '\0'; s++) {
		if (*off + 2 >= bufsz)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[(*off)++] = '\\';
		buf[(*off)++] = *s;
	}
	return put(buf, bufsz, off, "\"");
}

static const char *
str_or(const char *s, const char *dflt)
{
	return s != NULL ? s : dflt;
}

int
audit_format_body(char *buf, size_t bufsz, uint64_t seq, const char *time,
    const struct audit_event *ev)
{
	size_t	 off = 0;

	if (seq == 0 || !audit_time_valid(time) || !audit_event_valid(ev))
		return -1;
	if (put(buf, bufsz, &off, "{\"seq\":%" PRIu64 ",\"time\":\"%s\","
	    "\"op\":\"%s\"", seq, time, audit_op_name(ev->op)) == -1)
		return -1;
	if (ev->op == AUDIT_CHECKPOINT)
		return (int)off;
	if (put(buf, bufsz, &off, ",\"purpose\":\"%s\",\"table\":\"%s\"",
	    str_or(ev->purpose, ""), str_or(ev->table, "")) == -1 ||
	    put_text(buf, bufsz, &off, "row", str_or(ev->row, "")) == -1 ||
	    put(buf, bufsz, &off, ",\"column\":\"%s\",\"kv\":%" PRIu32,
	    str_or(ev->column, ""), ev->kv) == -1 ||
	    put_text(buf, bufsz, &off, "outcome", str_or(ev->outcome, "ok")) == -1 ||
	    put(buf, bufsz, &off, ",\"pid\":%ld", (long)ev->pid) == -1)
		return -1;
	if (ev->op == AUDIT_MARK &&
	    put_text(buf, bufsz, &off, "note", str_or(ev->note, "")) == -1)
		return -1;
	return (int)off;
}

int
audit_format_tail(char *buf, size_t bufsz, size_t bodylen,
    const uint8_t h[AUDIT_HASHLEN], const uint8_t *sig)
{
	char	 hex[AUDITKEY_SIGHEXLEN + 1];
	size_t	 off = bodylen;

	auditkey_hex(h, AUDIT_HASHLEN, hex);
	if (put(buf, bufsz, &off, ",\"h\":\"%s\"", hex) == -1)
		return -1;
	if (sig != NULL) {
		auditkey_hex(sig, AUDITKEY_SIGLEN, hex);
		if (put(buf, bufsz, &off, ",\"sig\":\"%s\"", hex) == -1)
			return -1;
	}
	if (put(buf, bufsz, &off, "}\n") == -1 || off > AUDIT_LINE_MAX)
		return -1;
	return (int)off;
}

int
audit_chain_hash(const uint8_t prev[AUDIT_HASHLEN], const char *body,
    size_t bodylen, uint8_t h[AUDIT_HASHLEN])
{
	EVP_MD_CTX	*ctx;
	unsigned int	 hlen = 0;
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, prev, AUDIT_HASHLEN) == 1 &&
	    EVP_DigestUpdate(ctx, body, bodylen) == 1 &&
	    EVP_DigestFinal_ex(ctx, h, &hlen) == 1 && hlen == AUDIT_HASHLEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

void
audit_sigmsg(uint64_t seq, const uint8_t h[AUDIT_HASHLEN],
    uint8_t msg[AUDIT_SIGMSG_LEN])
{
	size_t	 off = sizeof(AUDIT_SIG_CONTEXT) - 1;
	int	 i;

	memcpy(msg, AUDIT_SIG_CONTEXT, off);
	for (i = 7; i >= 0; i--)
		msg[off++] = (uint8_t)(seq >> (8 * i));
	memcpy(msg + off, h, AUDIT_HASHLEN);
}

/* The writer. */

struct audit *
audit_new(int fd, struct auditkey *key, const struct audit_config *conf)
{
	struct audit	*a;

	if (fd < 0 || key == NULL) {
		auditkey_free(key);
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_warn("audit: calloc");
		auditkey_free(key);
		return NULL;
	}
	a->fd = fd;
	a->key = key;
	a->every = AUDIT_CHECKPOINT_EVERY;
	if (conf != NULL) {
		if (conf->checkpoint_every != 0)
			a->every = conf->checkpoint_every;
		a->sync = conf->sync;
	}
	return a;
}

void
audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	auditkey_free(a->key);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

uint64_t
audit_seq(const struct audit *a)
{
	return a->seq;
}

void
audit_head(const struct audit *a, uint8_t h[AUDIT_HASHLEN])
{
	memcpy(h, a->h, AUDIT_HASHLEN);
}

static int
now_rfc3339(char buf[AUDIT_TIME_LEN + 1])
{
	struct timespec	 ts;
	struct tm	 tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL)
		return -1;
	if (snprintf(buf, AUDIT_TIME_LEN + 1,
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000) != AUDIT_TIME_LEN)
		return -1;
	return 0;
}

/*
 * Format, chain (and for a checkpoint sign) one line into the buffer.  The
 * chain state only moves once the line is complete.
 */
static int
add_line(struct audit *a, const struct audit_event *ev)
{
	char		 ts[AUDIT_TIME_LEN + 1];
	uint8_t		 h[AUDIT_HASHLEN], sig[AUDITKEY_SIGLEN];
	uint8_t		 msg[AUDIT_SIGMSG_LEN];
	char		*line = a->buf + a->len;
	size_t		 room = sizeof(a->buf) - a->len;
	uint64_t	 seq = a->seq + 1;
	int		 body, n;

	if (room < AUDIT_LINE_MAX + 1) {
		errno = ENOBUFS;
		return -1;
	}
	if (now_rfc3339(ts) == -1 ||
	    (body = audit_format_body(line, room, seq, ts, ev)) == -1 ||
	    audit_chain_hash(a->h, line, (size_t)body, h) == -1)
		return -1;
	if (ev->op == AUDIT_CHECKPOINT) {
		audit_sigmsg(seq, h, msg);
		if (auditkey_sign(a->key, msg, sizeof(msg), sig) == -1)
			return -1;
	}
	if ((n = audit_format_tail(line, room, (size_t)body, h,
	    ev->op == AUDIT_CHECKPOINT ? sig : NULL)) == -1)
		return -1;
	if (ev->op == AUDIT_CHECKPOINT) {
		memcpy(a->cpline, line, (size_t)n);
		a->cplen = (size_t)n;
	}
	a->len += (size_t)n;
	a->seq = seq;
	memcpy(a->h, h, sizeof(h));
	a->started = 1;
	a->nlines++;
	if (ev->op == AUDIT_CHECKPOINT) {
		a->since_cp = 0;
		a->needsync = 1;
		a->ncps++;
	} else
		a->since_cp++;
	return 0;
}

int
audit_checkpoint(struct audit *a)
{
	struct audit_event	 cp = { .op = AUDIT_CHECKPOINT };

	if (a->broken)
		return -1;
	if (a->since_cp == 0)
		return 0;
	if (add_line(a, &cp) == -1) {
		log_warn("audit: checkpoint");
		return -1;
	}
	return 0;
}

int
audit_append(struct audit *a, const struct audit_event *ev)
{
	if (a->broken)
		return -1;
	if (ev->op == AUDIT_CHECKPOINT || !audit_event_valid(ev)) {
		log_warnx("audit: invalid event (op %d)", (int)ev->op);
		errno = EINVAL;
		return -1;
	}
	/* Room for this line and a checkpoint, so one is never skipped. */
	if (sizeof(a->buf) - a->len < 2 * (AUDIT_LINE_MAX + 1)) {
		log_warnx("audit: batch full, commit first");
		errno = ENOBUFS;
		return -1;
	}
	if (add_line(a, ev) == -1) {
		log_warn("audit: append");
		return -1;
	}
	if (a->since_cp >= a->every)
		return audit_checkpoint(a);
	return 0;
}

int
audit_commit(struct audit *a)
{
	size_t	 off = 0;
	ssize_t	 n;

	if (a->broken)
		return -1;
	while (off < a->len) {
		n = write(a->fd, a->buf + off, a->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("audit: write");
			a->broken = 1;
			return -1;
		}
		off += (size_t)n;
	}
	if (a->len > 0 && (a->needsync || a->sync == AUDIT_SYNC_COMMIT) &&
	    fdatasync(a->fd) == -1) {
		log_warn("audit: fdatasync");
		a->broken = 1;
		return -1;
	}
	a->st.lines += a->nlines;
	a->st.checkpoints += a->ncps;
	a->st.bytes += a->len;
	a->nlines = a->ncps = 0;
	a->len = 0;
	a->needsync = 0;
	return 0;
}

void
audit_stats(const struct audit *a, struct audit_stats *st)
{
	*st = a->st;
}

int
audit_shutdown(struct audit *a)
{
	if (audit_checkpoint(a) == -1 || audit_commit(a) == -1)
		return -1;
	if (fdatasync(a->fd) == -1) {
		log_warn("audit: fdatasync");
		a->broken = 1;
		return -1;
	}
	return 0;
}

/*
 * The first file ends with a checkpoint, made durable; the second begins
 * with a copy of it, the anchor its verification starts from.  A failure
 * before the descriptors are swapped leaves the writer on the first file,
 * as it was: the caller may carry on there.
 */
int
audit_reopen(struct audit *a, int newfd)
{
	struct audit_event	 cp = { .op = AUDIT_CHECKPOINT };
	int			 rv;

	if (a->broken || newfd < 0 || newfd == a->fd) {
		if (newfd >= 0 && newfd != a->fd)
			close(newfd);
		return -1;
	}
	/* A fresh checkpoint unless the last line is one we wrote. */
	if ((a->cplen == 0 || a->since_cp != 0) &&
	    add_line(a, &cp) == -1) {
		log_warn("audit: checkpoint");
		close(newfd);
		return -1;
	}
	if (audit_commit(a) == -1 || fdatasync(a->fd) == -1) {
		if (!a->broken)
			log_warn("audit: fdatasync");
		a->broken = 1;
		close(newfd);
		return -1;
	}
	/* The writer's descriptor number stays: the sandbox names it. */
	while ((rv = dup3(newfd, a->fd, O_CLOEXEC)) == -1 && errno == EINTR)
		;
	if (rv == -1) {
		log_warn("audit: dup3");
		close(newfd);
		return -1;
	}
	close(newfd);
	memcpy(a->buf, a->cpline, a->cplen);
	a->len = a->cplen;
	a->nlines = 1;
	a->ncps = 1;
	a->needsync = 1;
	return audit_commit(a);
}

/* Resuming an existing log. */

static int
pread_full(int fd, char *buf, size_t len, off_t off)
{
	ssize_t	 n;

	while (len > 0) {
		n = pread(fd, buf, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Last occurrence of CP_MARK in buf[0..len), or -1. */
static ssize_t
last_mark(const char *buf, size_t len)
{
	const char	*p = buf, *q;
	size_t		 mlen = sizeof(CP_MARK) - 1;
	ssize_t		 found = -1;

	while ((size_t)(p - buf) < len &&
	    (q = memmem(p, len - (size_t)(p - buf), CP_MARK, mlen)) != NULL) {
		found = q - buf;
		p = q + 1;
	}
	return found;
}

/*
 * Read the file backwards from its end until the start of the line holding
 * the last checkpoint, or its beginning.  *startp is that line's offset;
 * buf holds the file from *startp to the end.
 */
static char *
read_tail(int rfd, off_t size, size_t cap, off_t *startp, size_t *lenp)
{
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, blk, mlen = sizeof(CP_MARK) - 1, scan;
	off_t		 pos = size, cp = -1, start = -1, i;
	ssize_t		 m;

	while (start == -1) {
		if (pos == 0) {
			start = 0;
			break;
		}
		if (len >= cap) {
			log_warnx("audit: no checkpoint in the last %zu bytes",
			    len);
			free(buf);
			return NULL;
		}
		/* Doubling, so that moving what was read stays linear. */
		blk = len > RESUME_BLOCK ? len : RESUME_BLOCK;
		if ((off_t)blk > pos)
			blk = (size_t)pos;
		pos -= (off_t)blk;
		if ((nbuf = realloc(buf, len + blk)) == NULL) {
			log_warn("audit: realloc");
			free(buf);
			return NULL;
		}
		buf = nbuf;
		memmove(buf + blk, buf, len);
		len += blk;
		if (pread_full(rfd, buf, blk, pos) == -1) {
			log_warn("audit: read");
			free(buf);
			return NULL;
		}
		if (cp == -1) {
			scan = blk + mlen - 1 < len ? blk + mlen - 1 : len;
			if ((m = last_mark(buf, scan)) != -1)
				cp = pos + m;
		}
		for (i = cp - pos - 1; cp != -1 && i >= 0; i--)
			if (buf[i] == '\n') {
				start = pos + i + 1;
				break;
			}
	}
	*startp = start;
	*lenp = (size_t)(size - start);
	memmove(buf, buf + (start - pos), *lenp);
	return buf;
}

/* The log ends with a checkpoint: keep it for the next audit_reopen(). */
static void
keep_last_line(struct audit *a, const char *buf, size_t len)
{
	size_t	 i = len - 1;	/* the last newline */

	while (i > 0 && buf[i - 1] != '\n')
		i--;
	if (len - i <= sizeof(a->cpline)) {
		memcpy(a->cpline, buf + i, len - i);
		a->cplen = len - i;
	}
}

int
audit_resume(struct audit *a, int rfd)
{
	struct stat		 wst, rst;
	struct auditv_result	 r;
	uint8_t			 pub[AUDITKEY_PUBLEN];
	char			*tail;
	size_t			 len, cap;
	off_t			 start;

	if (a->started) {
		log_warnx("audit: resume after append");
		return -1;
	}
	if (fstat(a->fd, &wst) == -1 || fstat(rfd, &rst) == -1) {
		log_warn("audit: fstat");
		return -1;
	}
	if (wst.st_dev != rst.st_dev || wst.st_ino != rst.st_ino) {
		log_warnx("audit: resume descriptor is another file");
		return -1;
	}
	if (rst.st_size == 0)
		return 0;
	cap = (size_t)(a->every + 2) * (AUDIT_LINE_MAX + 1);
	if (cap < RESUME_MIN)
		cap = RESUME_MIN;
	if ((tail = read_tail(rfd, rst.st_size, cap, &start, &len)) == NULL)
		return -1;
	auditkey_public(a->key, pub);
	(void)auditv_verify_buf(tail, len, pub, start > 0 ? AUDITV_TAIL : 0,
	    &r);
	if (r.status != AUDITV_BAD && r.lines > 0 && r.since_checkpoint == 0)
		keep_last_line(a, tail, len);
	free(tail);
	if (r.status == AUDITV_BAD || r.lines == 0) {
		log_warnx("audit: existing log does not verify at offset "
		    "%lld, line %" PRIu64 " from there: %s; refusing to "
		    "continue it", (long long)start, r.line,
		    r.status == AUDITV_BAD ? r.reason : "no lines");
		return -1;
	}
	a->seq = r.seq;
	memcpy(a->h, r.head, AUDIT_HASHLEN);
	a->since_cp = r.since_checkpoint;
	log_info("audit: continuing the chain at seq %" PRIu64, a->seq);
	return 0;
}
