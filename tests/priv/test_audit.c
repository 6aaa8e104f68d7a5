/*
 * Unit tests for the audit chain: the writer (priv/audit.c), the offline
 * verifier (priv/auditverify.c) and the signing key (priv/auditkey.c).
 * Every tampering test checks the exact line number the verifier names.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "priv/audit.h"
#include "priv/auditkey.h"
#include "priv/auditverify.h"
#include "tests/priv/tests.h"

#define MAXLINES	4096

static const uint8_t	 root[AUDITKEY_ROOTLEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
/* Ed25519 public key of HKDF(root) computed with the openssl(1) tool. */
static const char	 root_pub_hex[] =
    "d0e3fb9eb2c9f10764c66b0d3985edfe92eec34158707b06f583aa22920794cd";

static uint8_t	 pub[AUDITKEY_PUBLEN];
static char	 tmpdir[] = "/tmp/dromos-audit-XXXXXX";
static char	 logpath[64];
static char	 rotpath[2][64];	/* the files a log is rotated into */

/* A log in memory, split into lines (each keeps its newline). */
struct log {
	char	*buf;
	size_t	 len;
	size_t	 nlines;
	size_t	 off[MAXLINES + 1];	/* off[nlines] == len */
};

static int
setup(void **state)
{
	struct auditkey	*k;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/audit.log", tmpdir);
	snprintf(rotpath[0], sizeof(rotpath[0]), "%s/audit.log.1", tmpdir);
	snprintf(rotpath[1], sizeof(rotpath[1]), "%s/audit.log.2", tmpdir);
	if ((k = auditkey_derive(root)) == NULL)
		return -1;
	auditkey_public(k, pub);
	auditkey_free(k);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(logpath);
	(void)unlink(rotpath[0]);
	(void)unlink(rotpath[1]);
	return rmdir(tmpdir);
}

static int
open_path(const char *path, int flags)
{
	int	 fd = open(path, flags | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	return fd;
}

static int
open_log(int flags)
{
	return open_path(logpath, flags);
}

static struct audit *
new_writer(int fd, unsigned every)
{
	struct audit_config	 conf = { .checkpoint_every = every };
	struct audit		*a;

	a = audit_new(fd, auditkey_derive(root), &conf);
	assert_non_null(a);
	return a;
}

/* The i-th test event: every op but CHECKPOINT, varied fields. */
static void
event(size_t i, struct audit_event *ev)
{
	static const enum audit_op	 ops[] = { AUDIT_SEAL, AUDIT_OPEN,
	    AUDIT_OPEN, AUDIT_STATUS, AUDIT_REFUSE, AUDIT_ROTATE, AUDIT_MARK };
	static char			 row[32];

	memset(ev, 0, sizeof(*ev));
	ev->op = ops[i % (sizeof(ops) / sizeof(ops[0]))];
	ev->purpose = "provider_secret";
	ev->table = "providers";
	snprintf(row, sizeof(row), "%zu", i * 7);
	ev->row = row;
	ev->column = "client_secret";
	ev->kv = (uint32_t)(i / 50 + 1);
	ev->outcome = ev->op == AUDIT_REFUSE ? "error: \"bad\" \\ AD" : "ok";
	ev->pid = (pid_t)(1000 + i);
	if (ev->op == AUDIT_MARK)
		ev->note = "operator: rotated after \"incident\" #12";
}

/* Append n events from event number first, committing every batch. */
static void
write_events(struct audit *a, size_t first, size_t n, size_t batch)
{
	struct audit_event	 ev;
	size_t			 i;

	for (i = 0; i < n; i++) {
		event(first + i, &ev);
		assert_int_equal(audit_append(a, &ev), 0);
		if ((i + 1) % batch == 0)
			assert_int_equal(audit_commit(a), 0);
	}
	assert_int_equal(audit_commit(a), 0);
}

static void
split(struct log *l)
{
	size_t	 i;

	l->nlines = 0;
	for (i = 0; i < l->len; i++)
		if (i == 0 || l->buf[i - 1] == '\n') {
			assert_true(l->nlines < MAXLINES);
			l->off[l->nlines++] = i;
		}
	l->off[l->nlines] = l->len;
}

static void
load_path(const char *path, struct log *l)
{
	struct stat	 st;
	int		 fd = open_path(path, O_RDONLY);

	assert_int_equal(fstat(fd, &st), 0);
	l->len = (size_t)st.st_size;
	l->buf = malloc(l->len + 1);
	assert_non_null(l->buf);
	assert_int_equal(read(fd, l->buf, l->len), (ssize_t)l->len);
	close(fd);
	split(l);
}

static void
load(struct log *l)
{
	load_path(logpath, l);
}

/* A fresh log of n events (checkpoint every "every"), closed cleanly. */
static void
make_log(struct log *l, size_t n, unsigned every)
{
	struct audit	*a;
	int		 fd;

	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	a = new_writer(fd, every);
	write_events(a, 0, n, 5);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(l);
}

/* Line k (1-based) of l. */
static const char *
line(const struct log *l, size_t k, size_t *len)
{
	*len = l->off[k] - l->off[k - 1];
	return l->buf + l->off[k - 1];
}

static enum auditv_status
verify(const char *buf, size_t len, struct auditv_result *r)
{
	return auditv_verify_buf(buf, len, pub, 0, r);
}

static void
expect_bad(const char *buf, size_t len, uint64_t lineno, const char *why)
{
	struct auditv_result	 r;

	assert_int_equal(verify(buf, len, &r), AUDITV_BAD);
	if (r.line != lineno)
		fail_msg("bad line %" PRIu64 " (%s), expected %" PRIu64,
		    r.line, r.reason, lineno);
	if (why != NULL && strstr(r.reason, why) == NULL)
		fail_msg("reason \"%s\", expected \"%s\"", r.reason, why);
}

/* A copy of l with lines [k, k + n) removed. */
static char *
without(const struct log *l, size_t k, size_t n, size_t *len)
{
	char	*b = malloc(l->len);
	size_t	 a = l->off[k - 1], e = l->off[k - 1 + n];

	assert_non_null(b);
	memcpy(b, l->buf, a);
	memcpy(b + a, l->buf + e, l->len - e);
	*len = l->len - (e - a);
	return b;
}

static void
test_key_kat(void **state)
{
	char	 hex[AUDITKEY_PUBHEXLEN + 1];
	uint8_t	 p2[AUDITKEY_PUBLEN];

	(void)state;
	auditkey_pub_format(pub, hex);
	assert_string_equal(hex, root_pub_hex);
	assert_int_equal(auditkey_pub_parse(root_pub_hex,
	    strlen(root_pub_hex), p2), 0);
	assert_memory_equal(p2, pub, sizeof(pub));
	/* One newline is allowed, upper case and short strings are not. */
	hex[AUDITKEY_PUBHEXLEN] = '\n';
	assert_int_equal(auditkey_pub_parse(hex, sizeof(hex), p2), 0);
	hex[0] = 'D';
	assert_int_equal(auditkey_pub_parse(hex, sizeof(hex), p2), -1);
	assert_int_equal(auditkey_pub_parse(root_pub_hex, 63, p2), -1);
}

/* The exact bytes of a line and the hash it carries (hashlib KAT). */
static void
test_format_kat(void **state)
{
	static const char	 body[] = "{\"seq\":1,\"time\":"
	    "\"2024-01-02T03:04:05.678Z\",\"op\":\"SEAL\",\"purpose\":"
	    "\"provider_secret\",\"table\":\"providers\",\"row\":\"42\","
	    "\"column\":\"client_secret\",\"kv\":3,\"outcome\":\"ok\","
	    "\"pid\":1234";
	static const char	 h1[] =
	    "d52ab9b0e43482ff79b927d3860479948a70d4b7814ae8427abf1974ace6ee18";
	struct audit_event	 ev = { .op = AUDIT_SEAL,
	    .purpose = "provider_secret", .table = "providers", .row = "42",
	    .column = "client_secret", .kv = 3, .pid = 1234 };
	uint8_t			 zero[AUDIT_HASHLEN] = { 0 }, h[AUDIT_HASHLEN];
	char			 buf[AUDIT_LINE_MAX + 1], hex[AUDIT_HEXLEN + 1];
	char			 want[sizeof(body) + 80];
	int			 n;

	(void)state;
	n = audit_format_body(buf, sizeof(buf), 1,
	    "2024-01-02T03:04:05.678Z", &ev);
	assert_int_equal(n, (int)strlen(body));
	assert_memory_equal(buf, body, strlen(body));
	assert_int_equal(audit_chain_hash(zero, buf, (size_t)n, h), 0);
	auditkey_hex(h, sizeof(h), hex);
	assert_string_equal(hex, h1);
	n = audit_format_tail(buf, sizeof(buf), (size_t)n, h, NULL);
	snprintf(want, sizeof(want), "%s,\"h\":\"%s\"}\n", body, h1);
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	/* Bad times and fields do not format. */
	assert_int_equal(audit_format_body(buf, sizeof(buf), 1,
	    "2024-01-02 03:04:05.678Z", &ev), -1);
	assert_int_equal(audit_format_body(buf, sizeof(buf), 0,
	    "2024-01-02T03:04:05.678Z", &ev), -1);
	assert_int_equal(audit_format_body(buf, 40, 1,
	    "2024-01-02T03:04:05.678Z", &ev), -1);
}

static void
test_chain_verifies(void **state)
{
	struct log		 l;
	struct auditv_result	 r;
	json_t			*o;
	size_t			 k, n, cps = 0;
	const char		*s;
	int			 fd;

	(void)state;
	/* 300 events, a checkpoint after every 37, a last one at shutdown. */
	make_log(&l, 300, 37);
	assert_int_equal(l.nlines, 300 + 300 / 37 + 1);
	for (k = 1; k <= l.nlines; k++) {
		s = line(&l, k, &n);
		o = json_loadb(s, n, 0, NULL);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "seq")),
		    (json_int_t)k);
		if (strcmp(json_string_value(json_object_get(o, "op")),
		    "CHECKPOINT") == 0) {
			assert_true(k % 38 == 0 || k == l.nlines);
			cps++;
		}
		json_decref(o);
	}
	assert_int_equal(verify(l.buf, l.len, &r), AUDITV_OK);
	assert_int_equal(r.lines, l.nlines);
	assert_int_equal(r.checkpoints, cps);
	assert_int_equal(r.seq, l.nlines);
	/* The same from a descriptor. */
	fd = open_log(O_RDONLY);
	assert_int_equal(auditv_verify_fd(fd, pub, &r), AUDITV_OK);
	assert_int_equal(r.lines, l.nlines);
	close(fd);
	free(l.buf);
}

/* Every single-bit change of a byte in line k is caught at line k. */
static void
test_edit_any_byte(void **state)
{
	static const size_t	 ks[] = { 1, 2, 37, 38, 150, 0 /* last */ };
	struct log		 l;
	size_t			 i, j, k, n;
	char			 c;

	(void)state;
	make_log(&l, 200, 37);
	for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		k = ks[i] != 0 ? ks[i] : l.nlines;
		(void)line(&l, k, &n);
		for (j = l.off[k - 1]; j < l.off[k - 1] + n; j++) {
			c = l.buf[j];
			l.buf[j] = (char)(c ^ 0x01);
			expect_bad(l.buf, l.len, k, NULL);
			l.buf[j] = (char)(c ^ 0x20);
			expect_bad(l.buf, l.len, k, NULL);
			l.buf[j] = c;
		}
	}
	free(l.buf);
}

static void
test_edit_reasons(void **state)
{
	struct log	 l;
	char		*p, c;
	size_t		 n;

	(void)state;
	make_log(&l, 100, 37);
	/* A plausible edit: another row id, same length. */
	p = strstr(l.buf + l.off[9], "\"row\":\"");
	assert_non_null(p);
	c = p[7];
	p[7] = c == '9' ? '8' : '9';
	expect_bad(l.buf, l.len, 10, "hash chain broken");
	p[7] = c;
	/* A line re-spaced: same JSON, not the bytes that were hashed. */
	(void)line(&l, 10, &n);
	p = memchr(l.buf + l.off[9], ',', n);
	*p = ' ';
	expect_bad(l.buf, l.len, 10, "not JSON");
	*p = ',';
	/* A signature byte. */
	p = strstr(l.buf + l.off[37], "\"sig\":\"");
	assert_non_null(p);
	p[10] = p[10] == '0' ? '1' : '0';
	expect_bad(l.buf, l.len, 38, "signature");
	free(l.buf);
}

static void
test_delete(void **state)
{
	struct log		 l;
	struct auditv_result	 r;
	char			*b;
	size_t			 len;

	(void)state;
	make_log(&l, 200, 37);
	b = without(&l, 100, 1, &len);
	expect_bad(b, len, 100, "seq 101, expected 100");
	free(b);
	b = without(&l, 1, 1, &len);
	expect_bad(b, len, 1, "seq 2, expected 1");
	free(b);
	b = without(&l, 38, 1, &len);		/* a checkpoint */
	expect_bad(b, len, 38, "seq 39, expected 38");
	free(b);
	b = without(&l, 50, 10, &len);
	expect_bad(b, len, 50, "seq 60, expected 50");
	free(b);
	/* Without its final checkpoint the log's tail is unsigned. */
	b = without(&l, l.nlines, 1, &len);
	assert_int_equal(verify(b, len, &r), AUDITV_UNSIGNED);
	assert_int_equal(r.line, 5 * 38 + 1);
	assert_int_equal(r.checkpoints, 5);
	free(b);
	free(l.buf);
}

static void
test_swap(void **state)
{
	struct log	 l;
	char		*b;
	size_t		 k, la, lb, i;

	(void)state;
	make_log(&l, 200, 37);
	for (i = 0; i < 3; i++) {
		k = (size_t[]){ 1, 37, 120 }[i];
		b = malloc(l.len);
		assert_non_null(b);
		la = l.off[k] - l.off[k - 1];
		lb = l.off[k + 1] - l.off[k];
		memcpy(b, l.buf, l.len);
		memcpy(b + l.off[k - 1], l.buf + l.off[k], lb);
		memcpy(b + l.off[k - 1] + lb, l.buf + l.off[k - 1], la);
		expect_bad(b, l.len, k, "seq");
		free(b);
	}
	free(l.buf);
}

/* One more line after l, chained correctly when chained != 0. */
static char *
with_appended(const struct log *l, int chained, size_t *len)
{
	struct audit_event	 ev = { .op = AUDIT_OPEN,
	    .purpose = "provider_secret", .row = "1", .pid = 4242 };
	struct auditv_result	 r;
	uint8_t			 h[AUDIT_HASHLEN];
	char			 ln[AUDIT_LINE_MAX + 1], *b;
	int			 body, n;

	(void)verify(l->buf, l->len, &r);
	body = audit_format_body(ln, sizeof(ln), r.seq + 1,
	    "2030-01-01T00:00:00.000Z", &ev);
	assert_true(body > 0);
	assert_int_equal(audit_chain_hash(r.head, ln, (size_t)body, h), 0);
	if (!chained)
		h[0] ^= 0x80;
	n = audit_format_tail(ln, sizeof(ln), (size_t)body, h, NULL);
	assert_true(n > 0);
	b = malloc(l->len + (size_t)n);
	assert_non_null(b);
	memcpy(b, l->buf, l->len);
	memcpy(b + l->len, ln, (size_t)n);
	*len = l->len + (size_t)n;
	return b;
}

/*
 * One more line, chained correctly, whose outcome is written "\u006fk":
 * valid JSON for the same value, but not the canonical form.
 */
static char *
with_noncanonical(const struct log *l, size_t *len)
{
	static const char	 body[] = "{\"seq\":%" PRIu64 ",\"time\":"
	    "\"2030-01-01T00:00:00.000Z\",\"op\":\"OPEN\",\"purpose\":\"\","
	    "\"table\":\"\",\"row\":\"1\",\"column\":\"\",\"kv\":0,"
	    "\"outcome\":\"\\u006fk\",\"pid\":4242";
	struct auditv_result	 r;
	uint8_t			 h[AUDIT_HASHLEN];
	char			 ln[AUDIT_LINE_MAX + 1], *b;
	int			 n;

	(void)verify(l->buf, l->len, &r);
	n = snprintf(ln, sizeof(ln), body, r.seq + 1);
	assert_int_equal(audit_chain_hash(r.head, ln, (size_t)n, h), 0);
	n = audit_format_tail(ln, sizeof(ln), (size_t)n, h, NULL);
	assert_true(n > 0);
	b = malloc(l->len + (size_t)n);
	assert_non_null(b);
	memcpy(b, l->buf, l->len);
	memcpy(b + l->len, ln, (size_t)n);
	*len = l->len + (size_t)n;
	return b;
}

static void
test_append_forged(void **state)
{
	struct log		 l;
	struct auditv_result	 r;
	char			*b;
	size_t			 len;

	(void)state;
	make_log(&l, 100, 37);
	b = with_appended(&l, 0, &len);
	expect_bad(b, len, l.nlines + 1, "hash chain broken");
	free(b);
	/* Chained by someone without the key: only the warning. */
	b = with_appended(&l, 1, &len);
	assert_int_equal(verify(b, len, &r), AUDITV_UNSIGNED);
	assert_int_equal(r.line, l.nlines + 1);
	free(b);
	/* Chained, and the same JSON value, but not the writer's bytes. */
	b = with_noncanonical(&l, &len);
	expect_bad(b, len, l.nlines + 1, "not in canonical form");
	free(b);
	free(l.buf);
}

static void
test_truncated(void **state)
{
	struct log		 l;
	struct auditv_result	 r;
	size_t			 cut;

	(void)state;
	make_log(&l, 100, 37);
	for (cut = 1; cut < l.off[l.nlines] - l.off[l.nlines - 1]; cut += 7)
		expect_bad(l.buf, l.len - cut, l.nlines, NULL);
	expect_bad(l.buf, l.len - 1, l.nlines, "truncated");
	/* Cut at a line boundary: intact but unsigned. */
	assert_int_equal(verify(l.buf, l.off[l.nlines - 1], &r),
	    AUDITV_UNSIGNED);
	assert_int_equal(verify(l.buf, 0, &r), AUDITV_UNSIGNED);
	assert_int_equal(r.line, 0);
	free(l.buf);
}

static void
test_wrong_key(void **state)
{
	struct log		 l;
	struct auditv_result	 r;
	uint8_t			 other[AUDITKEY_ROOTLEN], opub[AUDITKEY_PUBLEN];
	struct auditkey		*k;

	(void)state;
	make_log(&l, 100, 37);
	memset(other, 0x5a, sizeof(other));
	k = auditkey_derive(other);
	assert_non_null(k);
	auditkey_public(k, opub);
	auditkey_free(k);
	assert_memory_not_equal(opub, pub, sizeof(pub));
	assert_int_equal(auditv_verify_buf(l.buf, l.len, opub, 0, &r),
	    AUDITV_BAD);
	assert_int_equal(r.line, 38);
	assert_non_null(strstr(r.reason, "signature"));
	free(l.buf);
}

/* Restart: a new writer continues the chain of the file. */
static void
restart(unsigned every, size_t first, size_t n, int clean)
{
	struct audit	*a;
	int		 fd, rfd;

	fd = open_log(O_WRONLY | O_APPEND | O_CREAT);
	rfd = open_log(O_RDONLY);
	a = new_writer(fd, every);
	assert_int_equal(audit_resume(a, rfd), 0);
	close(rfd);
	write_events(a, first, n, 3);
	if (clean)
		assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
}

static void
test_resume(void **state)
{
	struct log		 l;
	struct auditv_result	 r;

	(void)state;
	(void)unlink(logpath);
	restart(37, 0, 100, 1);		/* new file */
	restart(37, 100, 50, 0);	/* continue; crash: no checkpoint */
	restart(37, 150, 60, 1);	/* resume an unsigned tail */
	restart(37, 210, 10, 1);
	load(&l);
	assert_int_equal(verify(l.buf, l.len, &r), AUDITV_OK);
	assert_int_equal(r.lines, l.nlines);
	assert_true(r.seq == l.nlines && r.seq > 220);
	free(l.buf);

	/* A tail bigger than a read block, and a log never checkpointed. */
	(void)unlink(logpath);
	restart(1000, 0, 1500, 0);
	restart(1000, 1500, 700, 0);
	restart(100000, 2200, 5, 0);
	restart(100000, 2205, 5, 1);
	load(&l);
	assert_true(l.len > 3 * 64 * 1024);
	assert_int_equal(verify(l.buf, l.len, &r), AUDITV_OK);
	assert_int_equal(r.lines, 2210 + 3);
	free(l.buf);
}

/* Resume refuses a log that does not verify from its last checkpoint. */
static void
expect_resume_fails(const char *buf, size_t len, unsigned every,
    const uint8_t *rootkey)
{
	struct audit_config	 conf = { .checkpoint_every = every };
	struct audit		*a;
	int			 fd, rfd;

	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	rfd = open_log(O_RDONLY);
	a = audit_new(fd, auditkey_derive(rootkey), &conf);
	assert_non_null(a);
	assert_int_equal(audit_resume(a, rfd), -1);
	audit_free(a);
	close(rfd);
	close(fd);
}

static void
test_resume_refuses(void **state)
{
	struct log	 l;
	struct audit	*a;
	uint8_t		 other[AUDITKEY_ROOTLEN];
	char		*b;
	size_t		 len;
	int		 fd, rfd;

	(void)state;
	make_log(&l, 100, 37);
	/* Torn last line. */
	expect_resume_fails(l.buf, l.len - 3, 37, root);
	/* Tail edited after the last checkpoint. */
	b = without(&l, l.nlines, 1, &len);
	b[l.off[l.nlines - 3] + 10] ^= 1;
	expect_resume_fails(b, len, 37, root);
	free(b);
	/* Another root key: the checkpoint does not verify. */
	memset(other, 0x77, sizeof(other));
	expect_resume_fails(l.buf, l.len, 37, other);
	/* The same bytes resume with the right key. */
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	assert_int_equal(write(fd, l.buf, l.len), (ssize_t)l.len);
	rfd = open_log(O_RDONLY);
	a = new_writer(fd, 37);
	assert_int_equal(audit_resume(a, rfd), 0);
	assert_int_equal(audit_seq(a), l.nlines);
	audit_free(a);
	close(rfd);
	/* A read descriptor on another file. */
	rfd = open("/dev/null", O_RDONLY);
	a = new_writer(fd, 37);
	assert_int_equal(audit_resume(a, rfd), -1);
	audit_free(a);
	close(rfd);
	close(fd);
	free(l.buf);
}

/* A commit that cannot write fails, and the writer stays failed. */
static void
test_fail_closed(void **state)
{
	struct audit_event	 ev;
	struct audit		*a;
	int			 fd;

	(void)state;
	event(0, &ev);
	(void)unlink(logpath);
	fd = open_log(O_RDONLY | O_CREAT);
	a = new_writer(fd, 10);
	assert_int_equal(audit_append(a, &ev), 0);
	assert_int_equal(audit_commit(a), -1);
	assert_int_equal(audit_append(a, &ev), -1);
	assert_int_equal(audit_commit(a), -1);
	assert_int_equal(audit_shutdown(a), -1);
	audit_free(a);
	close(fd);

	fd = open_log(O_WRONLY | O_APPEND);
	a = new_writer(fd, 10);
	close(fd);
	assert_int_equal(audit_append(a, &ev), 0);
	assert_int_equal(audit_commit(a), -1);
	assert_int_equal(audit_append(a, &ev), -1);
	audit_free(a);

	/* Nothing buffered is still nothing to write: but not once broken. */
	fd = open_log(O_WRONLY | O_APPEND);
	a = new_writer(fd, 10);
	assert_int_equal(audit_commit(a), 0);
	audit_free(a);
	close(fd);
}

/* The writer's counts: committed lines and checkpoints only, as on disk. */
#define CP	"\"op\":\"CHECKPOINT\""
static void
test_stats(void **state)
{
	struct audit_stats	 st;
	struct audit_event	 ev;
	struct audit		*a;
	struct stat		 sb;
	struct log		 l;
	size_t			 i, len, cps = 0;
	int			 fd;

	(void)state;
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT);
	a = new_writer(fd, 10);
	audit_stats(a, &st);
	assert_int_equal(st.lines, 0);
	assert_int_equal(st.checkpoints, 0);
	/* Buffered is not written. */
	event(0, &ev);
	assert_int_equal(audit_append(a, &ev), 0);
	audit_stats(a, &st);
	assert_int_equal(st.lines, 0);
	assert_int_equal(audit_commit(a), 0);
	audit_stats(a, &st);
	assert_int_equal(st.lines, 1);
	/* 24 more: checkpoints after lines 10 and 20 (and their own lines). */
	write_events(a, 1, 24, 7);
	assert_int_equal(audit_checkpoint(a), 0);
	assert_int_equal(audit_commit(a), 0);
	audit_stats(a, &st);
	load(&l);
	for (i = 1; i <= l.nlines; i++) {
		const char	*p = line(&l, i, &len);

		if (memmem(p, len, CP, sizeof(CP) - 1) != NULL)
			cps++;
	}
	assert_int_equal(cps, 3);
	assert_int_equal(st.checkpoints, cps);
	assert_int_equal(st.lines, l.nlines);
	assert_int_equal(st.lines, 25 + 3);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(st.bytes, (uint64_t)sb.st_size);
	free(l.buf);
	audit_free(a);
	close(fd);

	/* A failed commit counts nothing. */
	fd = open_log(O_RDONLY);
	a = new_writer(fd, 10);
	assert_int_equal(audit_append(a, &ev), 0);
	assert_int_equal(audit_commit(a), -1);
	audit_stats(a, &st);
	assert_int_equal(st.lines, 0);
	assert_int_equal(st.bytes, 0);
	audit_free(a);
	close(fd);
}

static void
test_batch_full(void **state)
{
	struct audit_event	 ev;
	struct audit		*a;
	struct log		 l;
	struct auditv_result	 r;
	size_t			 i;
	int			 fd;

	(void)state;
	event(4, &ev);
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT);
	a = new_writer(fd, 1000);
	for (i = 0; audit_append(a, &ev) == 0; i++)
		assert_true(i < AUDIT_BATCH_MAX);
	assert_int_equal(errno, ENOBUFS);
	assert_true(i > 100);
	/* Not broken: commit and carry on. */
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(audit_append(a, &ev), 0);
	assert_int_equal(audit_checkpoint(a), 0);
	assert_int_equal(audit_checkpoint(a), 0);	/* nothing new: none */
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(audit_seq(a), i + 2);
	audit_free(a);
	close(fd);
	load(&l);
	assert_int_equal(verify(l.buf, l.len, &r), AUDITV_OK);
	assert_int_equal(r.lines, i + 2);
	free(l.buf);
}

static void
test_invalid_events(void **state)
{
	static const struct audit_event	 bad[] = {
		{ .op = AUDIT_CHECKPOINT },
		{ .op = 0 },
		{ .op = (enum audit_op)99 },
		{ .op = AUDIT_SEAL, .purpose = "has space" },
		{ .op = AUDIT_SEAL, .purpose = "quote\"" },
		{ .op = AUDIT_SEAL, .table = "a\nb" },
		{ .op = AUDIT_SEAL, .row = "new\nline" },
		{ .op = AUDIT_SEAL, .row = "caf\xc3\xa9" },
		{ .op = AUDIT_SEAL, .outcome = "" },
		{ .op = AUDIT_SEAL, .outcome = "tab\there" },
		{ .op = AUDIT_SEAL, .note = "note on a seal" },
		{ .op = AUDIT_SEAL, .pid = -1 },
		{ .op = AUDIT_SEAL, .column = "0123456789012345678901234567890"
		    "12345678901234567890123456789012345" },
	};
	struct audit	*a;
	size_t		 i;
	int		 fd;

	(void)state;
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT);
	a = new_writer(fd, 10);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (audit_append(a, &bad[i]) != -1)
			fail_msg("bad event %zu accepted", i);
	/* Refusals do not break the writer or write anything. */
	assert_int_equal(audit_commit(a), 0);
	assert_int_equal(audit_seq(a), 0);
	audit_free(a);
	close(fd);
}

/* Escaped strings come back as they went in. */
static void
test_escaping(void **state)
{
	struct audit_event	 ev;
	struct log		 l;
	json_t			*o;
	size_t			 n;
	const char		*s;

	(void)state;
	make_log(&l, 7, 100);
	event(4, &ev);			/* a REFUSE with '"' and '\' */
	s = line(&l, 5, &n);
	o = json_loadb(s, n, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "outcome")),
	    ev.outcome);
	assert_string_equal(json_string_value(json_object_get(o, "op")),
	    "REFUSE");
	json_decref(o);
	event(6, &ev);			/* a MARK with a note */
	s = line(&l, 7, &n);
	o = json_loadb(s, n, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "note")),
	    ev.note);
	json_decref(o);
	free(l.buf);
}

/*
 * Nothing secret reaches the file: not the plaintext a SEAL is about, not
 * the root key, not the signing key.  The event has no field for them, so
 * the plaintext lives next to it, as in the keyholder.
 */
static void
test_no_secrets(void **state)
{
	struct {
		struct audit_event	 ev;
		char			 plaintext[64];
	}			 req;
	char			 hex[2 * AUDITKEY_ROOTLEN + 1];
	struct log		 l;
	struct audit		*a;
	int			 fd;

	(void)state;
	memset(&req, 0, sizeof(req));
	snprintf(req.plaintext, sizeof(req.plaintext), "%s",
	    "ghp_PLANTED_plaintext_0123456789");
	req.ev.op = AUDIT_SEAL;
	req.ev.purpose = "provider_secret";
	req.ev.row = "7";
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT);
	a = new_writer(fd, 2);
	assert_int_equal(audit_append(a, &req.ev), 0);
	assert_int_equal(audit_append(a, &req.ev), 0);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(&l);
	assert_int_equal(l.nlines, 3);
	l.buf[l.len] = '\0';
	assert_null(strstr(l.buf, "PLANTED"));
	auditkey_hex(root, sizeof(root), hex);
	assert_null(strstr(l.buf, hex));
	hex[16] = '\0';
	assert_null(strstr(l.buf, hex));
	assert_null(memmem(l.buf, l.len, root + 4, 8));
	free(l.buf);
}

/* Long lines and junk are errors with a line number, not crashes. */
static void
test_junk(void **state)
{
	char	*b;
	size_t	 n = 3 * AUDIT_LINE_MAX;
	int	 fd;
	struct auditv_result	 r;

	(void)state;
	b = malloc(n);
	assert_non_null(b);
	memset(b, 'a', n);
	expect_bad(b, n, 1, "longer");
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_CREAT);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	fd = open_log(O_RDONLY);
	assert_int_equal(auditv_verify_fd(fd, pub, &r), AUDITV_BAD);
	assert_int_equal(r.line, 1);
	close(fd);
	expect_bad("\n", 1, 1, "not JSON");
	expect_bad("[]\n", 3, 1, "not a JSON object");
	expect_bad("{\"seq\":1}\n", 10, 1, "time");
	expect_bad("{\"seq\":1,\"seq\":1}\n", 18, 1, "not JSON");
	free(b);
}

/* Rotation: audit_reopen() continues the chain in a new file. */

static int
is_cp(const struct log *l, size_t k)
{
	const char	*p;
	size_t		 n;

	p = line(l, k, &n);
	return memmem(p, n, CP, sizeof(CP) - 1) != NULL;
}

/* The next file of a rotated log, opened as dromosd would. */
static int
open_next(const char *path)
{
	(void)unlink(path);
	return open_path(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
}

/*
 * A log rotated twice, into rotpath[0] and rotpath[1]: 100 events, rotated
 * with lines after the last checkpoint; 50 more and a checkpoint, rotated
 * right after it; 20 more, shut down.  ls[i] is file i, anchor[i] the seq
 * of the checkpoint rotation i ended the old file with.
 */
static void
make_rotated(struct log ls[3], uint64_t anchor[2])
{
	struct audit	*a;
	uint64_t	 s;
	int		 fd;

	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	a = new_writer(fd, 37);
	write_events(a, 0, 100, 5);
	s = audit_seq(a);
	assert_int_equal(audit_reopen(a, open_next(rotpath[0])), 0);
	anchor[0] = audit_seq(a);
	assert_int_equal(anchor[0], s + 1);
	write_events(a, 100, 50, 5);
	assert_int_equal(audit_checkpoint(a), 0);
	assert_int_equal(audit_commit(a), 0);
	s = audit_seq(a);
	assert_int_equal(audit_reopen(a, open_next(rotpath[1])), 0);
	anchor[1] = audit_seq(a);
	assert_int_equal(anchor[1], s);
	write_events(a, 150, 20, 5);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(&ls[0]);
	load_path(rotpath[0], &ls[1]);
	load_path(rotpath[1], &ls[2]);
}

static void
test_rotate(void **state)
{
	struct log		 ls[3];
	struct auditv_result	 r[3], rt;
	uint64_t		 anchor[2];
	const char		*a, *b;
	size_t			 i, alen, blen;
	int			 fd;

	(void)state;
	make_rotated(ls, anchor);
	for (i = 0; i < 3; i++) {
		assert_int_equal(verify(ls[i].buf, ls[i].len, &r[i]),
		    AUDITV_OK);
		assert_int_equal(r[i].lines, ls[i].nlines);
		assert_int_equal(r[i].lines, r[i].seq - r[i].first_seq + 1);
		assert_int_equal(r[i].continued, i > 0);
		assert_true(is_cp(&ls[i], ls[i].nlines));
	}
	/* 100 events, checkpoints after 37 and 74, one to rotate. */
	assert_int_equal(r[0].first_seq, 1);
	assert_int_equal(r[0].seq, 103);
	assert_int_equal(r[0].checkpoints, 3);
	/* The anchor, 50 events, checkpoints after 37 and at the end. */
	assert_int_equal(r[1].first_seq, anchor[0]);
	assert_int_equal(r[1].seq, anchor[1]);
	assert_int_equal(r[1].lines, 1 + 50 + 2);
	assert_int_equal(r[1].checkpoints, 3);
	/* Rotated right after a checkpoint: that one ends the file, alone. */
	assert_false(is_cp(&ls[1], ls[1].nlines - 1));
	assert_int_equal(r[2].first_seq, anchor[1]);
	assert_int_equal(r[2].lines, 1 + 20 + 1);
	for (i = 1; i < 3; i++) {
		/* Each file begins with its predecessor's last line. */
		a = line(&ls[i - 1], ls[i - 1].nlines, &alen);
		b = line(&ls[i], 1, &blen);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		assert_memory_equal(r[i].first_h, r[i - 1].head, AUDIT_HASHLEN);
		assert_memory_equal(r[i].first_line_sum, r[i - 1].last_cp_sum,
		    AUDIT_HASHLEN);
	}
	/* From a descriptor, and as a tail, the same. */
	fd = open_path(rotpath[1], O_RDONLY);
	assert_int_equal(auditv_verify_fd(fd, pub, &rt), AUDITV_OK);
	close(fd);
	assert_true(rt.continued);
	assert_int_equal(rt.first_seq, anchor[1]);
	assert_int_equal(auditv_verify_buf(ls[2].buf, ls[2].len, pub,
	    AUDITV_TAIL, &rt), AUDITV_OK);
	assert_true(rt.continued);
	assert_int_equal(rt.seq, r[2].seq);
	for (i = 0; i < 3; i++)
		free(ls[i].buf);
}

/*
 * Every single-bit change of the anchor is caught at line 1, except in its
 * time, which neither chain nor signature covers: that one shows only
 * against the file before, whose last line it no longer is.
 */
static void
edit_anchor(struct log *l, const struct auditv_result *prev)
{
	static const char	 tkey[] = "\"time\":\"";
	static const char	 flips[] = { 0x01, 0x20 };
	struct auditv_result	 r;
	const char		*t;
	size_t			 j, k, n, ts, unseen = 0;
	char			 c;

	(void)line(l, 1, &n);
	t = memmem(l->buf, n, tkey, sizeof(tkey) - 1);
	assert_non_null(t);
	ts = (size_t)(t - l->buf) + sizeof(tkey) - 1;
	for (j = 0; j < n; j++) {
		c = l->buf[j];
		for (k = 0; k < sizeof(flips); k++) {
			l->buf[j] = (char)(c ^ flips[k]);
			if (verify(l->buf, l->len, &r) == AUDITV_BAD) {
				if (r.line != 1)
					fail_msg("byte %zu: line %" PRIu64,
					    j, r.line);
				continue;
			}
			assert_true(j >= ts && j < ts + AUDIT_TIME_LEN);
			assert_memory_not_equal(r.first_line_sum,
			    prev->last_cp_sum, AUDIT_HASHLEN);
			unseen++;
		}
		l->buf[j] = c;
	}
	assert_true(unseen > 0);
}

/* The anchor's signature replaced with one by another key. */
static void
resign_anchor(struct log *l, uint64_t seq, const uint8_t h[AUDIT_HASHLEN],
    struct auditkey *k)
{
	static const char	 skey[] = "\"sig\":\"";
	uint8_t			 msg[AUDIT_SIGMSG_LEN], sig[AUDITKEY_SIGLEN];
	char			 hex[AUDITKEY_SIGHEXLEN + 1], *p;
	size_t			 n;

	(void)line(l, 1, &n);
	p = memmem(l->buf, n, skey, sizeof(skey) - 1);
	assert_non_null(p);
	audit_sigmsg(seq, h, msg);
	assert_int_equal(auditkey_sign(k, msg, sizeof(msg), sig), 0);
	auditkey_hex(sig, sizeof(sig), hex);
	memcpy(p + sizeof(skey) - 1, hex, AUDITKEY_SIGHEXLEN);
}

static void
test_rotate_tamper(void **state)
{
	struct log		 ls[3], l;
	struct auditv_result	 r0, r;
	uint64_t		 anchor[2];
	uint8_t			 other[AUDITKEY_ROOTLEN], opub[AUDITKEY_PUBLEN];
	struct auditkey		*k;
	char			*b, want[64];
	size_t			 len, i;

	(void)state;
	make_rotated(ls, anchor);
	assert_int_equal(verify(ls[0].buf, ls[0].len, &r0), AUDITV_OK);
	/* Without its anchor the file starts mid-chain. */
	b = without(&ls[1], 1, 1, &len);
	snprintf(want, sizeof(want), "seq %" PRIu64 ", expected 1",
	    anchor[0] + 1);
	expect_bad(b, len, 1, want);
	free(b);
	/* The chain goes on from the anchor's h. */
	b = without(&ls[1], 2, 1, &len);
	snprintf(want, sizeof(want), "seq %" PRIu64 ", expected %" PRIu64,
	    anchor[0] + 2, anchor[0] + 1);
	expect_bad(b, len, 2, want);
	free(b);
	b = strstr(ls[1].buf + ls[1].off[1], "\"row\":\"");
	assert_non_null(b);
	b[7] ^= 0x01;
	expect_bad(ls[1].buf, ls[1].len, 2, "hash chain broken");
	b[7] ^= 0x01;
	edit_anchor(&ls[1], &r0);
	/* An anchor signed by another key, alone or with its file. */
	memset(other, 0x5a, sizeof(other));
	k = auditkey_derive(other);
	assert_non_null(k);
	auditkey_public(k, opub);
	assert_int_equal(auditv_verify_buf(ls[1].buf, ls[1].len, opub, 0, &r),
	    AUDITV_BAD);
	assert_int_equal(r.line, 1);
	assert_non_null(strstr(r.reason, "signature"));
	resign_anchor(&ls[1], anchor[0], r0.head, k);
	expect_bad(ls[1].buf, ls[1].len, 1, "signature");
	assert_int_equal(auditv_verify_buf(ls[1].buf, ls[1].len, opub, 0, &r),
	    AUDITV_BAD);
	assert_int_equal(r.line, 1 + 37 + 1);
	auditkey_free(k);
	/* A tail still has to start at a checkpoint. */
	b = without(&ls[2], 1, 1, &len);
	assert_int_equal(auditv_verify_buf(b, len, pub, AUDITV_TAIL, &r),
	    AUDITV_BAD);
	assert_int_equal(r.line, 1);
	assert_non_null(strstr(r.reason, "tail does not start"));
	free(b);
	for (i = 0; i < 3; i++)
		free(ls[i].buf);

	/*
	 * What a continued file alone does not show: a log whose lines up
	 * to a checkpoint were removed looks like one.
	 */
	make_log(&l, 200, 37);
	b = without(&l, 1, 37, &len);
	assert_int_equal(verify(b, len, &r), AUDITV_OK);
	assert_true(r.continued);
	assert_int_equal(r.first_seq, 38);
	free(b);
	free(l.buf);
}

/* A writer continuing path, as dromosd restarted on it would. */
static struct audit *
resume_path(const char *path, unsigned every, int *fdp)
{
	struct audit	*a;
	int		 rfd;

	*fdp = open_path(path, O_WRONLY | O_APPEND);
	rfd = open_path(path, O_RDONLY);
	a = new_writer(*fdp, every);
	assert_int_equal(audit_resume(a, rfd), 0);
	close(rfd);
	return a;
}

static void
test_rotate_resume(void **state)
{
	struct log		 l0, l1;
	struct auditv_result	 r0, r1;
	struct audit		*a;
	uint64_t		 s;
	int			 fd;

	(void)state;
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	a = new_writer(fd, 37);
	write_events(a, 0, 40, 5);
	assert_int_equal(audit_reopen(a, open_next(rotpath[0])), 0);
	s = audit_seq(a);
	audit_free(a);			/* crash: the file is its anchor */
	close(fd);
	/* The only checkpoint is the first line: resumed from the start. */
	a = resume_path(rotpath[0], 37, &fd);
	assert_int_equal(audit_seq(a), s);
	write_events(a, 40, 10, 3);
	audit_free(a);			/* crash: an unsigned tail */
	close(fd);
	a = resume_path(rotpath[0], 37, &fd);
	assert_int_equal(audit_seq(a), s + 10);
	write_events(a, 50, 80, 3);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	/* Now from a checkpoint after the anchor, a tail. */
	a = resume_path(rotpath[0], 37, &fd);
	s = audit_seq(a);
	write_events(a, 130, 5, 3);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(&l0);
	load_path(rotpath[0], &l1);
	assert_int_equal(verify(l0.buf, l0.len, &r0), AUDITV_OK);
	assert_int_equal(verify(l1.buf, l1.len, &r1), AUDITV_OK);
	assert_true(r1.continued);
	assert_int_equal(r1.first_seq, r0.seq);
	assert_memory_equal(r1.first_h, r0.head, AUDIT_HASHLEN);
	assert_memory_equal(r1.first_line_sum, r0.last_cp_sum, AUDIT_HASHLEN);
	assert_int_equal(r1.seq, s + 5 + 1);
	assert_int_equal(r1.lines, r1.seq - r1.first_seq + 1);
	free(l0.buf);
	free(l1.buf);
}

/*
 * Restarted on a log that ends with a checkpoint, the writer rotates
 * without writing a second one: the resumed checkpoint is the anchor.
 */
static void
test_rotate_after_resume(void **state)
{
	struct log		 l0, l1;
	struct auditv_result	 r0, r1;
	struct audit		*a;
	size_t			 n;
	int			 fd;

	(void)state;
	(void)unlink(logpath);
	(void)unlink(rotpath[0]);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	a = new_writer(fd, 37);
	write_events(a, 0, 20, 4);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(&l0);
	n = l0.nlines;
	free(l0.buf);

	a = resume_path(logpath, 37, &fd);
	assert_int_equal(audit_reopen(a, open_next(rotpath[0])), 0);
	write_events(a, 20, 5, 5);
	assert_int_equal(audit_shutdown(a), 0);
	audit_free(a);
	close(fd);
	load(&l0);
	load_path(rotpath[0], &l1);
	assert_int_equal(l0.nlines, n);
	assert_int_equal(verify(l0.buf, l0.len, &r0), AUDITV_OK);
	assert_int_equal(verify(l1.buf, l1.len, &r1), AUDITV_OK);
	assert_true(r1.continued);
	assert_int_equal(r1.first_seq, r0.seq);
	assert_memory_equal(r1.first_line_sum, r0.last_cp_sum, AUDIT_HASHLEN);
	free(l0.buf);
	free(l1.buf);
}

/* A rotation that cannot start leaves the writer on its file. */
static void
test_reopen_fails(void **state)
{
	struct audit_stats	 st;
	struct auditv_result	 r;
	struct audit		*a;
	struct log		 l;
	int			 fd;

	(void)state;
	(void)unlink(logpath);
	fd = open_log(O_WRONLY | O_APPEND | O_CREAT | O_EXCL);
	a = new_writer(fd, 37);
	write_events(a, 0, 10, 5);
	assert_int_equal(audit_reopen(a, -1), -1);
	write_events(a, 10, 10, 5);
	assert_int_equal(audit_shutdown(a), 0);
	audit_stats(a, &st);
	load(&l);
	assert_int_equal(verify(l.buf, l.len, &r), AUDITV_OK);
	assert_false(r.continued);
	assert_int_equal(r.first_seq, 1);
	assert_int_equal(r.seq, audit_seq(a));
	assert_int_equal(r.lines, st.lines);
	audit_free(a);
	close(fd);
	free(l.buf);
}

int
run_audit_tests(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_key_kat),
		cmocka_unit_test(test_rotate_after_resume),
		cmocka_unit_test(test_format_kat),
		cmocka_unit_test(test_chain_verifies),
		cmocka_unit_test(test_edit_any_byte),
		cmocka_unit_test(test_edit_reasons),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_swap),
		cmocka_unit_test(test_append_forged),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_resume_refuses),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_batch_full),
		cmocka_unit_test(test_invalid_events),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_no_secrets),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_rotate_tamper),
		cmocka_unit_test(test_rotate_resume),
		cmocka_unit_test(test_reopen_fails),
	};

	log_init(1, 0);
	return cmocka_run_group_tests_name("audit", tests, setup, teardown);
}
