/*
 * The keyholder's tamper-evident audit log (DESIGN.md section 4).
 *
 * One JSON object per line, in exactly this form and field order (no
 * spaces; integers in decimal without leading zeros or sign):
 *
 *   {"seq":S,"time":"T","op":"OP","purpose":"P","table":"B","row":"R",
 *    "column":"C","kv":K,"outcome":"O","pid":N,"h":"H"}\n
 *
 * for a MARK (an operator's note), the same with ,"note":"M" after pid;
 * and for a checkpoint
 *
 *   {"seq":S,"time":"T","op":"CHECKPOINT","h":"H","sig":"G"}\n
 *
 *   S	sequence number: 1 on the first line of a log, +1 on every line
 *   T	RFC 3339 UTC with milliseconds, "YYYY-MM-DDTHH:MM:SS.mmmZ"
 *   OP	START STOP INIT LOAD SEAL OPEN ROTATE STATUS MARK HEALTH REFUSE
 *	CHECKPOINT
 *   P, B, C	purpose, table, column (of the associated data, aead.h):
 *	0..64 bytes of [A-Za-z0-9_.:/-], empty when not applicable
 *   R	row id: 0..128 printable ASCII bytes (0x20..0x7e)
 *   K	key version, 0..2^32-1
 *   O	"ok" or an error reason: 1..128 printable ASCII bytes
 *   M	operator's note: 0..256 printable ASCII bytes
 *   N	requester pid, 0 when none
 *   H	64 lowercase hex digits, the chain hash defined below
 *   G	128 lowercase hex digits, the Ed25519 checkpoint signature
 *
 * In R, O and M the bytes '"' and '\' are written as \" and \\; no other
 * byte needs escaping and none other may appear.  A field that does not
 * validate makes audit_append() fail: for a REFUSE of a malformed request,
 * pass only the fields that did validate and leave the rest NULL.
 *
 * The hashed bytes.  The body of a line is its bytes from the leading '{'
 * up to, not including, the ",\"h\":\"" that opens its h field: the line
 * less its h field, its sig field, the closing '}' and the newline.  Then
 *
 *	h_0 = 32 zero bytes
 *	h_i = SHA-256(h_{i-1} || body_i)	(h_{i-1} as 32 raw bytes)
 *
 * and H is h_i in hex.  A log starts at seq 1 with h_0, so a removed head
 * shows as a first line whose seq is not 1.
 *
 * Rotation (audit_reopen()) continues the chain in a new file: the old file
 * ends with a checkpoint, and the new one begins with a byte-for-byte copy
 * of that line, then seq S+1 chained from its h.  A file that begins with
 * a checkpoint whose seq is not 1 is such a continuation: its signature
 * vouches for the (seq, h) the file starts from.  That no line is missing
 * before it is shown only with the file before it, whose last line must be
 * the same checkpoint ("dromosctl audit verify old new").
 *
 * A checkpoint line is chained like any other; its G is the Ed25519
 * signature (key: auditkey.h) of the 66-byte message
 *
 *	"dromos audit checkpoint v1" || S as 8 bytes big-endian || h_S
 *
 * The signature is not part of any hashed body, so it signs the chain
 * including the checkpoint's own line.  Anything after the last checkpoint
 * is chained but not signed: whoever can write the file can rewrite that
 * tail consistently, so checkpoints come every N lines, on a timer, and at
 * shutdown, and they may be shipped off the box.
 *
 * Nothing secret can reach a line: struct audit_event has no field that
 * could carry key or plaintext bytes, and every string is validated.
 *
 * The writer.  dromosd opens the log before it drops privileges, O_WRONLY |
 * O_APPEND | O_CLOEXEC, and hands the descriptor to audit_new(); it also
 * opens the same file O_RDONLY for audit_resume(), which verifies the tail
 * of an existing log from its last checkpoint and continues the chain.
 * The writer never opens a file: for rotation its caller opens the next
 * one (audit_reopen()).
 *
 * Write-ahead, fail closed: audit_append() formats, chains and buffers a
 * line; audit_commit() writes every buffered line with one write(2) (looping
 * on short writes) and must return 0 before the caller answers the requests
 * those lines describe.  On -1 the caller answers errors and never
 * plaintext.  Any failed commit leaves the writer broken: every later call
 * returns -1, since the file may now end in a torn line (restarting refuses
 * such a log until an operator looks at it with "dromosctl audit verify").
 *
 * Durability: a committed line is in the kernel, so it survives the death
 * of dromosd.  By default (AUDIT_SYNC_CHECKPOINT) fdatasync(2) runs only on
 * a commit that carries a checkpoint, and at shutdown: a power loss or
 * kernel crash can lose up to the lines since the last checkpoint, at the
 * price of one sync per N lines rather than one per request.
 * AUDIT_SYNC_COMMIT syncs every commit instead.  The keyholder's seccomp
 * filter must allow write and fdatasync on this fd, and mprotect (the
 * signing key is PROT_NONE between signatures).
 */
#ifndef DROMOS_AUDIT_H
#define DROMOS_AUDIT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "priv/auditkey.h"

#define AUDIT_HASHLEN		32
#define AUDIT_HEXLEN		(2 * AUDIT_HASHLEN)
#define AUDIT_LINE_MAX		2048	/* bytes, newline included */
#define AUDIT_NAME_MAX		64	/* purpose, table, column */
#define AUDIT_ROW_MAX		128
#define AUDIT_OUTCOME_MAX	128
#define AUDIT_NOTE_MAX		256
#define AUDIT_TIME_LEN		24	/* 2024-01-02T03:04:05.678Z */
#define AUDIT_SIG_CONTEXT	"dromos audit checkpoint v1"
#define AUDIT_SIGMSG_LEN	(sizeof(AUDIT_SIG_CONTEXT) - 1 + 8 + \
				    AUDIT_HASHLEN)
#define AUDIT_CHECKPOINT_EVERY	1000	/* default lines per checkpoint */
#define AUDIT_BATCH_MAX		(128 * 1024)	/* bytes buffered at most */

enum audit_op {
	AUDIT_START = 1,	/* dromosd started (or resumed) the log */
	AUDIT_STOP,		/* orderly shutdown */
	AUDIT_INIT,		/* keyring created */
	AUDIT_LOAD,		/* keyring loaded */
	AUDIT_SEAL,
	AUDIT_OPEN,
	AUDIT_ROTATE,		/* new key version */
	AUDIT_STATUS,
	AUDIT_MARK,		/* operator's mark (AUDIT_MARK request) */
	AUDIT_HEALTH,
	AUDIT_REFUSE,		/* malformed or forbidden request */
	AUDIT_CHECKPOINT,	/* written by the writer only */
};

/* One operation.  There is deliberately no field for key or data bytes. */
struct audit_event {
	enum audit_op	 op;
	const char	*purpose;	/* NULL: "" */
	const char	*table;		/* NULL: "" */
	const char	*row;		/* NULL: "" */
	const char	*column;	/* NULL: "" */
	uint32_t	 kv;
	const char	*outcome;	/* NULL: "ok" */
	pid_t		 pid;		/* requester, 0: none */
	const char	*note;		/* AUDIT_MARK only; NULL: "" */
};

enum audit_sync {
	AUDIT_SYNC_CHECKPOINT = 0,	/* fdatasync commits with checkpoints */
	AUDIT_SYNC_COMMIT,		/* fdatasync every commit */
};

struct audit_config {
	unsigned	 checkpoint_every;	/* 0: AUDIT_CHECKPOINT_EVERY */
	enum audit_sync	 sync;
};

struct audit;

/*
 * The writer takes ownership of key (freed by audit_free(), or at once if
 * audit_new() fails; NULL makes it fail) but not of fd, which it never
 * closes.  conf may be NULL for the defaults.  NULL on failure.
 */
struct audit	*audit_new(int fd, struct auditkey *key,
		    const struct audit_config *conf);
/*
 * Continue the chain of the log rfd reads (the same file as fd): verify
 * from its last checkpoint (signature under our key) or, if it has none,
 * from its first line, to its end, which must be a whole line.  An empty
 * file starts a new chain.  Call before the first audit_append(), before
 * the sandbox (it reads backwards with pread(2), allocates up to the tail's
 * size, at most max(16 MiB, (N + 2) * AUDIT_LINE_MAX), and parses with
 * jansson, which seeds its hash function from /dev/urandom on first use).
 * 0, or -1 with the reason logged: do not start on a log that does not
 * verify.
 */
int		 audit_resume(struct audit *, int rfd);
/* Format, chain and buffer one line (and a checkpoint when one is due). */
int		 audit_append(struct audit *, const struct audit_event *);
/* Buffer a checkpoint now, unless the last line is one already. */
int		 audit_checkpoint(struct audit *);
/* Write all buffered lines with one write(2); sync per policy.  0 or -1. */
int		 audit_commit(struct audit *);
/*
 * Rotation: continue the log in the empty file newfd.  The current file
 * gets a checkpoint (unless its last line is one) and is synced; newfd is
 * then dup3(2)ed over the writer's descriptor, keeping its number, and
 * closed; the new file begins with a copy of that checkpoint line and the
 * chain goes on (seq and h) from it.  Call between batches (nothing
 * buffered).  0; or -1 with the writer still on the current file, or
 * broken if the current file could not be written or synced.  newfd is
 * closed in every case.  The sandbox must allow dup3 onto the fd.
 */
int		 audit_reopen(struct audit *, int newfd);
/* Final checkpoint, commit and fdatasync.  0 or -1. */
int		 audit_shutdown(struct audit *);
void		 audit_free(struct audit *);

/* What the writer has written since audit_new(), for the metrics. */
struct audit_stats {
	uint64_t	 lines;		/* committed, checkpoints included */
	uint64_t	 checkpoints;	/* committed */
	uint64_t	 bytes;		/* committed */
};
void		 audit_stats(const struct audit *, struct audit_stats *);

/* The chain head: last seq written (0 for none) and its hash. */
uint64_t	 audit_seq(const struct audit *);
void		 audit_head(const struct audit *, uint8_t h[AUDIT_HASHLEN]);

/* The line format, shared with the verifier (auditverify.c). */
const char	*audit_op_name(enum audit_op);
int		 audit_op_lookup(const char *name, enum audit_op *);
int		 audit_time_valid(const char *s);
int		 audit_event_valid(const struct audit_event *);
/* The body of a line (see above) into buf; its length, or -1. */
int		 audit_format_body(char *buf, size_t bufsz, uint64_t seq,
		    const char *time, const struct audit_event *);
/* h = SHA-256(prev || body); 0 or -1. */
int		 audit_chain_hash(const uint8_t prev[AUDIT_HASHLEN],
		    const char *body, size_t bodylen,
		    uint8_t h[AUDIT_HASHLEN]);
/*
 * The whole line: body, h, and for a checkpoint sig (NULL otherwise), the
 * closing brace and the newline.  Its length, or -1 if it does not fit.
 */
int		 audit_format_tail(char *buf, size_t bufsz, size_t bodylen,
		    const uint8_t h[AUDIT_HASHLEN],
		    const uint8_t *sig);
/* The message a checkpoint signs. */
void		 audit_sigmsg(uint64_t seq, const uint8_t h[AUDIT_HASHLEN],
		    uint8_t msg[AUDIT_SIGMSG_LEN]);

#endif /* DROMOS_AUDIT_H */
