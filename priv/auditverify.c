/*
 * Offline audit log verification (auditverify.h).  Every line is parsed
 * with jansson, rebuilt with the writer's own formatter and compared byte
 * for byte, so what was checked is exactly what was hashed; then its seq,
 * its place in the chain (unless it is the anchor a tail or a continued
 * file starts from) and, for a checkpoint, its signature.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "common/log.h"
#include "priv/audit.h"
#include "priv/auditkey.h"
#include "priv/auditverify.h"

#define READ_BLOCK	(64 * 1024)

/* One parsed line. */
struct parsed {
	uint64_t		 seq;
	struct audit_event	 ev;
	uint8_t			 h[AUDIT_HASHLEN];
	uint8_t			 sig[AUDITKEY_SIGLEN];
	size_t			 bodylen;
};

static int fail(struct auditv *, const char *, ...) LOG_FMT(2, 3);

static int
fail(struct auditv *v, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	v->bad = 1;
	return -1;
}

void
auditv_init(struct auditv *v, const uint8_t pub[AUDITKEY_PUBLEN], int flags)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->pub, pub, AUDITKEY_PUBLEN);
	v->tail = (flags & AUDITV_TAIL) != 0;
}

/* An integer member in [min, max]. */
static int
get_int(json_t *o, const char *name, json_int_t min, json_int_t max,
    json_int_t *out)
{
	json_t	*j = json_object_get(o, name);

	if (!json_is_integer(j))
		return -1;
	*out = json_integer_value(j);
	return *out >= min && *out <= max ? 0 : -1;
}

static const char *
get_str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static int
get_hex(json_t *o, const char *name, uint8_t *bin, size_t binlen)
{
	json_t	*j = json_object_get(o, name);

	if (!json_is_string(j))
		return -1;
	return auditkey_unhex(json_string_value(j), json_string_length(j),
	    bin, binlen);
}

/*
 * Fields of a line into p, and the canonical line rebuilt from them into
 * canon; -1 with the reason set if the object is not a line.
 */
static int
fields(struct auditv *v, json_t *o, struct parsed *p, char *canon,
    size_t canonsz, size_t *canonlen)
{
	json_int_t	 seq, kv, pid;
	const char	*time, *op;
	int		 body, n, cp;

	if (get_int(o, "seq", 1, INT64_MAX, &seq) == -1)
		return fail(v, "bad or missing seq");
	if ((time = get_str(o, "time")) == NULL || !audit_time_valid(time))
		return fail(v, "bad or missing time");
	if ((op = get_str(o, "op")) == NULL ||
	    audit_op_lookup(op, &p->ev.op) == -1)
		return fail(v, "bad or missing op");
	p->seq = (uint64_t)seq;
	cp = p->ev.op == AUDIT_CHECKPOINT;
	if (json_object_size(o) != (cp ? 5u : p->ev.op == AUDIT_MARK ? 12u : 11u))
		return fail(v, "wrong set of fields");
	if (get_hex(o, "h", p->h, sizeof(p->h)) == -1)
		return fail(v, "bad or missing h");
	if (cp) {
		if (get_hex(o, "sig", p->sig, sizeof(p->sig)) == -1)
			return fail(v, "bad or missing sig");
	} else {
		p->ev.purpose = get_str(o, "purpose");
		p->ev.table = get_str(o, "table");
		p->ev.row = get_str(o, "row");
		p->ev.column = get_str(o, "column");
		p->ev.outcome = get_str(o, "outcome");
		if (p->ev.op == AUDIT_MARK &&
		    (p->ev.note = get_str(o, "note")) == NULL)
			return fail(v, "bad or missing note");
		if (p->ev.purpose == NULL || p->ev.table == NULL ||
		    p->ev.row == NULL || p->ev.column == NULL ||
		    p->ev.outcome == NULL ||
		    get_int(o, "kv", 0, UINT32_MAX, &kv) == -1 ||
		    get_int(o, "pid", 0, INT32_MAX, &pid) == -1 ||
		    !audit_event_valid(&p->ev))
			return fail(v, "bad or missing field");
		p->ev.kv = (uint32_t)kv;
		p->ev.pid = (pid_t)pid;
	}
	if ((body = audit_format_body(canon, canonsz, p->seq, time,
	    &p->ev)) == -1 || (n = audit_format_tail(canon, canonsz,
	    (size_t)body, p->h, cp ? p->sig : NULL)) == -1)
		return fail(v, "fields out of range");
	p->bodylen = (size_t)body;
	*canonlen = (size_t)n;
	return 0;
}

/* Parse and check the form of one line (newline included). */
static int
parse(struct auditv *v, const char *line, size_t len, struct parsed *p)
{
	char		 canon[AUDIT_LINE_MAX + 1];
	size_t		 canonlen = 0;
	json_error_t	 err;
	json_t		*o;
	int		 rc;

	memset(p, 0, sizeof(*p));
	if (len > AUDIT_LINE_MAX)
		return fail(v, "line longer than %d bytes", AUDIT_LINE_MAX);
	if (len == 0 || line[len - 1] != '\n')
		return fail(v, "truncated line (no newline)");
	if ((o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES,
	    &err)) == NULL)
		return fail(v, "not JSON: %s", err.text);
	if (!json_is_object(o))
		rc = fail(v, "not a JSON object");
	else
		rc = fields(v, o, p, canon, sizeof(canon), &canonlen);
	json_decref(o);
	if (rc == 0 && (canonlen != len || memcmp(canon, line, len) != 0))
		rc = fail(v, "not in canonical form");
	return rc;
}

static int
check_sig(struct auditv *v, const struct parsed *p)
{
	uint8_t	 msg[AUDIT_SIGMSG_LEN];

	audit_sigmsg(p->seq, p->h, msg);
	if (auditkey_verify(v->pub, msg, sizeof(msg), p->sig) == -1)
		return fail(v, "checkpoint signature does not verify");
	return 0;
}

/* Its place in the chain: seq one more than the last, h chained from it. */
static int
check_chain(struct auditv *v, const char *line, const struct parsed *p)
{
	uint8_t	 h[AUDIT_HASHLEN];

	if (p->seq != v->seq + 1)
		return fail(v, "seq %" PRIu64 ", expected %" PRIu64, p->seq,
		    v->seq + 1);
	if (audit_chain_hash(v->h, line, p->bodylen, h) == -1)
		return fail(v, "SHA-256 failed");
	if (memcmp(h, p->h, sizeof(h)) != 0)
		return fail(v, "hash chain broken");
	return 0;
}

/*
 * Whether the line is an anchor, trusted by its signature rather than its
 * chain: the first line of a tail, or of a file that continues another
 * (audit_reopen()), which begins with a checkpoint past seq 1.  Any other
 * first line of a file must be seq 1, chained from h_0.
 */
static int
is_anchor(const struct auditv *v, const struct parsed *p)
{
	if (v->line != 1)
		return 0;
	return v->tail || (p->ev.op == AUDIT_CHECKPOINT && p->seq > 1);
}

/* The whole line's digest, to match a rotated file's anchor to its copy. */
static void
line_sum(const char *line, size_t len, uint8_t sum[AUDIT_HASHLEN])
{
	(void)crypto_hash_sha256(sum, (const unsigned char *)line, len);
}

int
auditv_line(struct auditv *v, const char *line, size_t len)
{
	struct parsed	 p;
	int		 cp, anchor;

	if (v->bad)
		return -1;
	v->line++;
	if (parse(v, line, len, &p) == -1)
		return -1;
	cp = p.ev.op == AUDIT_CHECKPOINT;
	if ((anchor = is_anchor(v, &p)) && !cp)
		return fail(v, "tail does not start at a checkpoint");
	if (!anchor && check_chain(v, line, &p) == -1)
		return -1;
	if (cp) {
		if (check_sig(v, &p) == -1)
			return -1;
		v->lastcp = v->line;
		v->checkpoints++;
		line_sum(line, len, v->cp_sum);
	}
	if (v->line == 1) {
		v->first_seq = p.seq;
		memcpy(v->first_h, p.h, sizeof(v->first_h));
		line_sum(line, len, v->first_sum);
		v->continued = anchor && p.seq > 1;
	}
	v->seq = p.seq;
	memcpy(v->h, p.h, sizeof(v->h));
	return 0;
}

enum auditv_status
auditv_end(const struct auditv *v, struct auditv_result *r)
{
	memset(r, 0, sizeof(*r));
	r->lines = v->line;
	r->checkpoints = v->checkpoints;
	r->seq = v->seq;
	memcpy(r->head, v->h, sizeof(r->head));
	r->first_seq = v->first_seq;
	memcpy(r->first_h, v->first_h, sizeof(r->first_h));
	r->continued = v->continued;
	memcpy(r->first_line_sum, v->first_sum, sizeof(r->first_line_sum));
	memcpy(r->last_cp_sum, v->cp_sum, sizeof(r->last_cp_sum));
	if (v->bad) {
		r->status = AUDITV_BAD;
		r->line = v->line;
		(void)snprintf(r->reason, sizeof(r->reason), "%s", v->reason);
		r->since_checkpoint = v->line - 1 - v->lastcp;
	} else if (v->line == 0 || v->lastcp != v->line) {
		r->status = AUDITV_UNSIGNED;
		r->line = v->line == 0 ? 0 : v->lastcp + 1;
		(void)snprintf(r->reason, sizeof(r->reason), "%s",
		    v->line == 0 ? "empty log" :
		    "no checkpoint after the last lines: they are not signed");
		r->since_checkpoint = v->line - v->lastcp;
	} else
		r->status = AUDITV_OK;
	return r->status;
}

enum auditv_status
auditv_verify_buf(const char *buf, size_t len,
    const uint8_t pub[AUDITKEY_PUBLEN], int flags, struct auditv_result *r)
{
	struct auditv	 v;
	const char	*nl;
	size_t		 n;

	auditv_init(&v, pub, flags);
	while (len > 0) {
		nl = memchr(buf, '\n', len);
		n = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		if (auditv_line(&v, buf, n) == -1)
			break;
		buf += n;
		len -= n;
	}
	return auditv_end(&v, r);
}

/*
 * Read fd line by line: a line is handed over once its newline is seen, or
 * at end of file, or as soon as it is longer than any line can be.
 */
enum auditv_status
auditv_verify_fd(int fd, const uint8_t pub[AUDITKEY_PUBLEN],
    struct auditv_result *r)
{
	struct auditv	 v;
	char		*buf;
	const char	*nl;
	size_t		 have = 0, off, n;
	ssize_t		 got;
	int		 eof = 0;

	auditv_init(&v, pub, 0);
	if ((buf = malloc(READ_BLOCK + AUDIT_LINE_MAX + 1)) == NULL) {
		v.line = 1;
		fail(&v, "out of memory");
		return auditv_end(&v, r);
	}
	while (!eof && !v.bad) {
		got = read(fd, buf + have, READ_BLOCK);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			v.line++;
			fail(&v, "read error: %s", strerror(errno));
			break;
		}
		eof = got == 0;
		have += (size_t)got;
		off = 0;
		while (off < have && !v.bad) {
			nl = memchr(buf + off, '\n', have - off);
			if (nl != NULL)
				n = (size_t)(nl - (buf + off)) + 1;
			else if (eof || have - off > AUDIT_LINE_MAX)
				n = have - off;
			else
				break;
			(void)auditv_line(&v, buf + off, n);
			off += n;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	free(buf);
	return auditv_end(&v, r);
}
