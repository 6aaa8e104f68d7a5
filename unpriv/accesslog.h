/*
 * Lines of access_log written off the request path.
 *
 * Reading a credential (GET /token/{c}, the broker's hot path) is recorded
 * here: the line goes into a bounded queue in memory and a thread of its
 * own writes the queue in batches, one multi-row INSERT once the oldest
 * line has waited ACCESSLOG_FLUSH_MS, or sooner once ACCESSLOG_BATCH lines
 * wait.  A request never waits for the database to record it.
 *
 * The price: lines still queued when the broker dies (at most about
 * ACCESSLOG_FLUSH_MS worth, more while the database is unreachable) are
 * lost.  Every such read went through a keyholder OPEN, which the
 * keyholder's audit chain records before it answers, so no credential
 * read goes unrecorded.  Changes (capture, delete, revoke, consent,
 * refresh) are not queued: their lines are written by the request itself.
 *
 * With "access log keep N days" (keep_days), the same thread deletes rows
 * older than that: at start, then every ACCESSLOG_PRUNE_MS, in deletes
 * of at most ACCESSLOG_PRUNE_ROWS rows (sooner again while more are left),
 * so that the table does not grow for ever and no delete holds its locks
 * long.  Rows of any operation go, not only the queued reads.
 *
 * When the queue is full the oldest line is dropped: counted, and logged
 * (once per write).  While the database is unreachable the lines are kept
 * and written later, within the same bound.  At shutdown the queue is
 * written out.  Each line keeps the time it was queued.
 */
#ifndef DROMOS_UNPRIV_ACCESSLOG_H
#define DROMOS_UNPRIV_ACCESSLOG_H

#include <stdint.h>

#define ACCESSLOG_QUEUE		8192	/* lines held at most */
#define ACCESSLOG_BATCH		1024	/* lines per INSERT, at most */
#define ACCESSLOG_FLUSH_MS	100	/* longest wait of a line, normally */
#define ACCESSLOG_PRUNE_MS	(10 * 60 * 1000)	/* between prunes */
#define ACCESSLOG_PRUNE_ROWS	10000	/* rows per delete, at most */

struct accesslog;
struct db_pool;

/*
 * Start the writer thread over pool; keep_days: delete older rows (0:
 * keep all).  NULL (logged) on failure.
 */
struct accesslog	*accesslog_start(struct db_pool *,
			    unsigned int keep_days);
/* Write what is queued, stop the thread, free.  NULL is fine. */
void			 accesslog_stop(struct accesslog *);

/*
 * Queue one line, as store_access_log() takes it; strings are copied
 * (truncated to their column's room here, which a validated id or a
 * request id never needs).  Never blocks on I/O.
 */
void			 accesslog_add(struct accesslog *, const char *client,
			    const char *connection, const char *operation,
			    const char *outcome, const char *request_id);

/* Lines dropped since the start: the queue was full. */
uint64_t		 accesslog_dropped(struct accesslog *);

#endif /* DROMOS_UNPRIV_ACCESSLOG_H */
