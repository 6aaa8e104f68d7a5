/*
 * Offline verification of an audit log (format: audit.h).  Each line must
 * be a JSON object (jansson) in the writer's exact canonical form, its seq
 * one more than the line before, its h the chain hash of its body, and
 * every checkpoint's signature valid under the given public key.  The
 * first line that is not is reported by its 1-based line number, with a
 * reason.  A log whose last line is not a checkpoint is reported apart
 * (AUDITV_UNSIGNED): its tail is chained but not signed.
 *
 * The first line of a file is either seq 1, chained from h_0, or a
 * checkpoint past seq 1 whose signature verifies: an anchor, the copy of
 * the previous file's last line that audit_reopen() begins a rotated file
 * with (.continued).  A continued file proves that its lines follow, in
 * order and complete, the (seq, h) its anchor's signature vouches for.  It
 * does not prove that no line is missing before its first: a log cut just
 * before any checkpoint looks the same.  Nor is the anchor's time covered,
 * by the chain or the signature.  Both are shown only with the file before
 * it, whose last line must be the same line byte for byte (compare
 * .first_line_sum with that file's .last_cp_sum, and its .seq and .head).
 *
 * The log is untrusted input: lines longer than AUDIT_LINE_MAX, bytes
 * after the last newline, and anything jansson will not parse are errors.
 */
#ifndef DROMOS_AUDITVERIFY_H
#define DROMOS_AUDITVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "priv/audit.h"

#define AUDITV_REASON_MAX	160

enum auditv_status {
	AUDITV_OK = 0,		/* intact, and the last line is a checkpoint */
	AUDITV_UNSIGNED,	/* intact, but lines from .line on unsigned */
	AUDITV_BAD,		/* line .line is bad: .reason */
};

/*
 * Start a tail at a checkpoint trusted by its signature (audit_resume):
 * the first line must be a checkpoint, whatever its seq.
 */
#define AUDITV_TAIL	0x01

struct auditv_result {
	enum auditv_status status;
	/*
	 * AUDITV_BAD: the first bad line.  AUDITV_UNSIGNED: the first line
	 * after the last checkpoint, 1 when there is none, 0 for an empty log.
	 */
	uint64_t	 line;
	char		 reason[AUDITV_REASON_MAX];
	uint64_t	 lines;		/* lines read, bad one included */
	uint64_t	 checkpoints;	/* valid checkpoints */
	uint64_t	 seq;		/* last good seq, 0: none */
	uint8_t		 head[AUDIT_HASHLEN];	/* its chain hash */
	uint64_t	 since_checkpoint;	/* good lines after the last */
	uint64_t	 first_seq;	/* of the first line; 0: empty or bad */
	uint8_t		 first_h[AUDIT_HASHLEN];	/* its chain hash */
	int		 continued;	/* it is an anchor past seq 1 */
	/* SHA-256 of the first line, and of the last checkpoint line. */
	uint8_t		 first_line_sum[AUDIT_HASHLEN];
	uint8_t		 last_cp_sum[AUDIT_HASHLEN];
};

/* Streaming state; treat as opaque. */
struct auditv {
	uint8_t		 pub[AUDITKEY_PUBLEN];
	uint8_t		 h[AUDIT_HASHLEN];
	uint64_t	 seq;
	uint64_t	 line;
	uint64_t	 lastcp;
	uint64_t	 checkpoints;
	uint64_t	 first_seq;
	uint8_t		 first_h[AUDIT_HASHLEN];
	uint8_t		 first_sum[AUDIT_HASHLEN];
	uint8_t		 cp_sum[AUDIT_HASHLEN];
	int		 continued;
	int		 tail;
	int		 bad;
	char		 reason[AUDITV_REASON_MAX];
};

void		 auditv_init(struct auditv *, const uint8_t pub[AUDITKEY_PUBLEN],
		    int flags);
/*
 * One line, with its newline if it has one (a last line without one is
 * reported truncated).  0, or -1 once a line was bad: later lines are
 * ignored.
 */
int		 auditv_line(struct auditv *, const char *line, size_t len);
enum auditv_status auditv_end(const struct auditv *, struct auditv_result *);

/* A whole log in memory, or read from fd to its end. */
enum auditv_status auditv_verify_buf(const char *buf, size_t len,
		    const uint8_t pub[AUDITKEY_PUBLEN], int flags,
		    struct auditv_result *);
/* As above; an I/O error is reported as AUDITV_BAD at the line reached. */
enum auditv_status auditv_verify_fd(int fd,
		    const uint8_t pub[AUDITKEY_PUBLEN],
		    struct auditv_result *);

#endif /* DROMOS_AUDITVERIFY_H */
