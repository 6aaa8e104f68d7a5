/*
 * accesslog.c: the access-log queue and its writer thread (accesslog.h).
 *
 * The queue is a ring of ACCESSLOG_QUEUE lines numbered by two counters
 * that only grow: head is the oldest line not yet written, tail the next
 * to fill.  The writer copies up to ACCESSLOG_BATCH lines from head into
 * a batch of its own, lets go of the mutex for the INSERT, and moves head
 * past them once they are in.  Meanwhile requests go on filling the ring;
 * when it is full they drop the oldest line (moving head), so a line the
 * writer has in hand may leave the ring: the copy is still written, and
 * such a line only counts as dropped if that write fails.
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "unpriv/accesslog.h"
#include "unpriv/metrics.h"
#include "unpriv/store.h"

#define RETRY_MS	1000	/* after the database did not answer */

/* Room for each column; ids are shorter, outcomes are ours. */
#define CLIENT_MAX	32
#define CONN_MAX	128
#define OP_MAX		32
#define OUTCOME_MAX	128
#define REQID_MAX	64

/* Which columns are not NULL. */
#define F_CLIENT	0x1
#define F_CONN		0x2
#define F_REQID		0x4

struct line {
	int64_t		 at_us;		/* wall clock, for the row */
	int64_t		 queued;	/* monotonic ms, for the writer */
	unsigned int	 set;
	char		 client[CLIENT_MAX + 1];
	char		 conn[CONN_MAX + 1];
	char		 op[OP_MAX + 1];
	char		 outcome[OUTCOME_MAX + 1];
	char		 reqid[REQID_MAX + 1];
};

struct accesslog {
	pthread_mutex_t		 mtx;		/* guards the fields up to stop */
	pthread_cond_t		 cv;		/* wakes the writer */
	struct line		*ring;
	uint64_t		 head;
	uint64_t		 tail;
	uint64_t		 inhand;	/* the writer has [.., inhand) */
	uint64_t		 dropped;
	int64_t			 retry_at;	/* monotonic ms; 0: none */
	int64_t			 prune_at;	/* monotonic ms; 0: never */
	int			 stop;

	/* The writer's own. */
	pthread_t		 thread;
	struct db_pool		*db;
	unsigned int		 keep_days;
	struct line		*batch;
	struct store_access_row	*rows;
	uint64_t		 reported;	/* dropped, as last logged */
};

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wait on the writer's condition until monotonic time ms.  Locked. */
static void
wait_until(struct accesslog *al, int64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	(void)pthread_cond_timedwait(&al->cv, &al->mtx, &ts);
}

static int
prune_due(const struct accesslog *al)
{
	return al->prune_at != 0 && mono_ms() >= al->prune_at;
}

/*
 * Until there is something to do: a full batch, or a line that has
 * waited ACCESSLOG_FLUSH_MS, and no retry pending; a prune; or the end.
 * Locked.
 */
static void
wait_due(struct accesslog *al)
{
	int64_t	 due;

	while (!al->stop && !prune_due(al)) {
		if (al->head == al->tail) {
			if (al->prune_at != 0)
				wait_until(al, al->prune_at);
			else
				pthread_cond_wait(&al->cv, &al->mtx);
			continue;
		}
		due = al->ring[al->head % ACCESSLOG_QUEUE].queued +
		    ACCESSLOG_FLUSH_MS;
		if (al->tail - al->head >= ACCESSLOG_BATCH)
			due = 0;
		if (due < al->retry_at)
			due = al->retry_at;
		if (al->prune_at != 0 && al->prune_at < due)
			due = al->prune_at;
		if (mono_ms() >= due)
			return;
		wait_until(al, due);
	}
}

/*
 * One delete of rows past their age.  Unlocked.  When it took as many as
 * it may, more are left: the next comes after a second (queued lines are
 * written in between), else after ACCESSLOG_PRUNE_MS.
 */
static int64_t
prune(struct accesslog *al)
{
	long	 n;

	if (store_access_log_prune(al->db, al->keep_days,
	    ACCESSLOG_PRUNE_ROWS, &n) != STORE_OK) {
		log_warnx("access_log: rows older than %u days not deleted "
		    "(the database is unavailable); trying again later",
		    al->keep_days);
		return mono_ms() + RETRY_MS * 60;
	}
	if (n > 0) {
		metrics_accesslog(MX_ALOG_PRUNED, (uint64_t)n);
		log_info("access_log: %ld rows older than %u days deleted", n,
		    al->keep_days);
	}
	return mono_ms() + (n >= ACCESSLOG_PRUNE_ROWS ? RETRY_MS :
	    ACCESSLOG_PRUNE_MS);
}

static void
row_from(struct store_access_row *r, const struct line *l)
{
	r->at_us = l->at_us;
	r->client = l->set & F_CLIENT ? l->client : NULL;
	r->connection = l->set & F_CONN ? l->conn : NULL;
	r->operation = l->op;
	r->outcome = l->outcome;
	r->request_id = l->set & F_REQID ? l->reqid : NULL;
}

/*
 * Write the batch.  A batch the database refuses (not one it could not
 * take now) is written line by line, so that one bad line costs only
 * itself.  STORE_OK or STORE_UNAVAIL.
 */
static int
write_batch(struct accesslog *al, size_t n)
{
	const struct store_access_row	*r;
	size_t				 i, bad = 0;
	int				 rv;

	for (i = 0; i < n; i++)
		row_from(&al->rows[i], &al->batch[i]);
	rv = store_access_log_batch(al->db, al->rows, n);
	if (rv == STORE_OK)
		metrics_accesslog(MX_ALOG_WRITTEN, n);
	if (rv == STORE_OK || rv == STORE_UNAVAIL)
		return rv;
	for (i = 0; i < n; i++) {
		r = &al->rows[i];
		if (store_access_log(al->db, r->client, r->connection,
		    r->operation, r->outcome, r->request_id) != STORE_OK)
			bad++;
	}
	metrics_accesslog(MX_ALOG_WRITTEN, n - bad);
	metrics_accesslog(MX_ALOG_FAILED, bad);
	if (bad > 0)
		log_warnx("access_log: %zu of %zu lines could not be written",
		    bad, n);
	return STORE_OK;
}

static void
report_drops(struct accesslog *al, uint64_t dropped)
{
	if (dropped == al->reported)
		return;
	log_warnx("access_log: queue full: %llu lines dropped (%llu since "
	    "the start)", (unsigned long long)(dropped - al->reported),
	    (unsigned long long)dropped);
	al->reported = dropped;
}

/* One round: take a batch, write it, account for it.  Locked. */
static void
write_round(struct accesslog *al)
{
	uint64_t	 start, n, i, lost;
	int		 rv, stop;

	start = al->head;
	n = al->tail - al->head;
	if (n > ACCESSLOG_BATCH)
		n = ACCESSLOG_BATCH;
	for (i = 0; i < n; i++)
		al->batch[i] = al->ring[(start + i) % ACCESSLOG_QUEUE];
	al->inhand = start + n;
	stop = al->stop;
	pthread_mutex_unlock(&al->mtx);
	rv = write_batch(al, (size_t)n);
	pthread_mutex_lock(&al->mtx);
	if (rv == STORE_OK) {
		if (al->head < al->inhand)
			al->head = al->inhand;
		al->retry_at = 0;
	} else if (!stop) {
		/* Kept for later, but for those dropped meanwhile. */
		lost = al->head > start ? (al->head < al->inhand ? al->head :
		    al->inhand) - start : 0;
		al->dropped += lost;
		metrics_accesslog(MX_ALOG_DROPPED, lost);
		al->retry_at = mono_ms() + RETRY_MS;
	} else {
		log_warnx("access_log: the database is unavailable: %llu "
		    "lines not written at shutdown",
		    (unsigned long long)(al->tail - start));
		al->head = al->tail;
	}
	al->inhand = 0;
}

static void *
writer(void *arg)
{
	struct accesslog	*al = arg;
	uint64_t		 dropped;
	int64_t			 next;

	pthread_mutex_lock(&al->mtx);
	for (;;) {
		wait_due(al);
		if (al->head == al->tail && al->stop)
			break;
		if (!al->stop && prune_due(al)) {
			pthread_mutex_unlock(&al->mtx);
			next = prune(al);
			pthread_mutex_lock(&al->mtx);
			al->prune_at = next;
		}
		if (al->head != al->tail && (al->stop || !prune_due(al)))
			write_round(al);
		dropped = al->dropped;
		pthread_mutex_unlock(&al->mtx);
		report_drops(al, dropped);
		pthread_mutex_lock(&al->mtx);
	}
	pthread_mutex_unlock(&al->mtx);
	return NULL;
}

static void
al_free(struct accesslog *al)
{
	pthread_cond_destroy(&al->cv);
	pthread_mutex_destroy(&al->mtx);
	free(al->ring);
	free(al->batch);
	free(al->rows);
	free(al);
}

struct accesslog *
accesslog_start(struct db_pool *db, unsigned int keep_days)
{
	pthread_condattr_t	 ca;
	struct accesslog	*al;
	int			 rv;

	if ((al = calloc(1, sizeof(*al))) == NULL ||
	    (al->ring = calloc(ACCESSLOG_QUEUE, sizeof(*al->ring))) == NULL ||
	    (al->batch = calloc(ACCESSLOG_BATCH, sizeof(*al->batch))) ==
	    NULL ||
	    (al->rows = calloc(ACCESSLOG_BATCH, sizeof(*al->rows))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		if (al != NULL) {
			free(al->ring);
			free(al->batch);
		}
		free(al);
		return NULL;
	}
	al->db = db;
	al->keep_days = keep_days;
	al->prune_at = keep_days != 0 ? mono_ms() : 0;	/* at once */
	/* Timed waits on the monotonic clock, like the queue's times. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&al->cv, &ca) != 0 ||
	    pthread_mutex_init(&al->mtx, NULL) != 0)
		fatalx("%s: pthread initialisation", __func__);
	pthread_condattr_destroy(&ca);
	if ((rv = pthread_create(&al->thread, NULL, writer, al)) != 0) {
		errno = rv;
		log_warn("%s: pthread_create", __func__);
		al_free(al);
		return NULL;
	}
	return al;
}

void
accesslog_stop(struct accesslog *al)
{
	if (al == NULL)
		return;
	pthread_mutex_lock(&al->mtx);
	al->stop = 1;
	pthread_cond_signal(&al->cv);
	pthread_mutex_unlock(&al->mtx);
	pthread_join(al->thread, NULL);
	al_free(al);
}

/* Copy s into a column of sz bytes; NULL leaves its bit clear. */
static void
put(char *dst, size_t sz, const char *s, unsigned int bit, unsigned int *set)
{
	if (s == NULL) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, sz, "%s", s);
	*set |= bit;
}

void
accesslog_add(struct accesslog *al, const char *client, const char *conn,
    const char *op, const char *outcome, const char *reqid)
{
	struct line	*l;
	uint64_t	 n;
	int64_t		 at = wall_us(), queued = mono_ms();

	if (op == NULL || outcome == NULL)
		return;
	pthread_mutex_lock(&al->mtx);
	if (al->tail - al->head == ACCESSLOG_QUEUE) {
		/* Full: the oldest goes, unless the writer has it in hand. */
		if (al->head >= al->inhand) {
			al->dropped++;
			metrics_accesslog(MX_ALOG_DROPPED, 1);
		}
		al->head++;
	}
	l = &al->ring[al->tail % ACCESSLOG_QUEUE];
	l->at_us = at;
	l->queued = queued;
	l->set = 0;
	put(l->client, sizeof(l->client), client, F_CLIENT, &l->set);
	put(l->conn, sizeof(l->conn), conn, F_CONN, &l->set);
	put(l->op, sizeof(l->op), op, 0, &l->set);
	put(l->outcome, sizeof(l->outcome), outcome, 0, &l->set);
	put(l->reqid, sizeof(l->reqid), reqid, F_REQID, &l->set);
	al->tail++;
	/* The writer sleeps with nothing queued, or until the oldest is due. */
	n = al->tail - al->head;
	if (n == 1 || n == ACCESSLOG_BATCH)
		pthread_cond_signal(&al->cv);
	pthread_mutex_unlock(&al->mtx);
}

uint64_t
accesslog_dropped(struct accesslog *al)
{
	uint64_t	 n;

	pthread_mutex_lock(&al->mtx);
	n = al->dropped;
	pthread_mutex_unlock(&al->mtx);
	return n;
}
