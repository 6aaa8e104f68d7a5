/*
 * notify.c: the database's change announcements, applied to the caches
 * (notify.h).
 *
 * The thread's connection is its own, outside the pool: it sits in
 * LISTEN for as long as the broker runs and never runs a statement that
 * could be interrupted by a timeout.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "unpriv/cache.h"
#include "unpriv/db.h"
#include "unpriv/metrics.h"
#include "unpriv/notify.h"

struct notify {
	struct db_pool		*db;
	struct notify_target	 t[NOTIFY_TARGETS_MAX];
	size_t			 n;
	int			 wake[2];	/* written to stop the thread */
	atomic_int		 listening;
	pthread_t		 thread;
};

static void
hold_all(struct notify *nt, int held)
{
	size_t	 i;

	for (i = 0; i < nt->n; i++)
		cache_hold(nt->t[i].cache, held);
}

/*
 * One announcement, "table:id".  Anyone allowed to NOTIFY on the channel
 * can send one, so it is taken apart with care; the worst a forged one
 * can do is make us forget what we would have read again anyway.
 */
void
notify_apply(const struct notify_target *t, size_t n, const char *payload)
{
	const char	*colon, *id;
	size_t		 tlen, i;

	if ((colon = strchr(payload, ':')) == NULL)
		return;
	tlen = (size_t)(colon - payload);
	id = colon + 1;
	for (i = 0; i < n; i++) {
		if (strlen(t[i].table) != tlen ||
		    memcmp(t[i].table, payload, tlen) != 0)
			continue;
		if (!t[i].by_id || *id == '\0' ||
		    strlen(id) > CACHE_KEY_MAX)
			cache_clear(t[i].cache);
		else
			cache_forget(t[i].cache, id, strlen(id));
	}
}

static PGconn *
listen_on(struct notify *nt)
{
	PGconn		*pg;
	PGresult	*r;
	int		 ok;

	if ((pg = db_connect_direct(nt->db)) == NULL)
		return NULL;
	r = PQexec(pg, "LISTEN " NOTIFY_CHANNEL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok || PQsetnonblocking(pg, 1) != 0) {
		log_warnx("change channel: LISTEN failed: %s",
		    PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* Apply what has arrived; -1 when the connection is gone. */
static int
drain(struct notify *nt, PGconn *pg)
{
	PGnotify	*m;

	if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK)
		return -1;
	while ((m = PQnotifies(pg)) != NULL) {
		if (strcmp(m->relname, NOTIFY_CHANNEL) == 0) {
			metrics_change();
			notify_apply(nt->t, nt->n, m->extra);
		}
		PQfreemem(m);
	}
	return 0;
}

static void *
run(void *arg)
{
	struct notify	*nt = arg;
	struct pollfd	 pfd[2];
	PGconn		*pg = NULL;
	int		 lost_logged = 0;

	for (;;) {
		if (pg == NULL && (pg = listen_on(nt)) != NULL) {
			/* Empty, then serve: what changed meanwhile is gone. */
			hold_all(nt, 0);
			atomic_store(&nt->listening, 1);
			metrics_change_channel(1);
			log_info("change channel: listening");
			lost_logged = 0;
		} else if (pg == NULL && !lost_logged) {
			log_warnx("change channel: no connection; caches off,"
			    " retrying every %d ms", NOTIFY_RETRY_MS);
			lost_logged = 1;
		}
		pfd[0].fd = nt->wake[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = pg != NULL ? PQsocket(pg) : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, pg != NULL ? -1 : NOTIFY_RETRY_MS) == -1) {
			if (errno == EINTR)
				continue;
			fatal("change channel: poll");
		}
		if (pfd[0].revents != 0)
			break;
		if (pg != NULL && pfd[1].revents != 0 && drain(nt, pg) == -1) {
			/* Hold first: nothing stale is served from here on. */
			atomic_store(&nt->listening, 0);
			metrics_change_channel(0);
			hold_all(nt, 1);
			log_warnx("change channel: connection lost: %s",
			    PQerrorMessage(pg));
			PQfinish(pg);
			pg = NULL;
			lost_logged = 1;
		}
	}
	if (pg != NULL)
		PQfinish(pg);
	return NULL;
}

struct notify *
notify_start(struct db_pool *db, const struct notify_target *t, size_t n)
{
	struct notify	*nt;
	int		 rv;

	if (n > NOTIFY_TARGETS_MAX || (nt = calloc(1, sizeof(*nt))) == NULL) {
		log_warnx("%s: too many targets or out of memory", __func__);
		return NULL;
	}
	nt->db = db;
	memcpy(nt->t, t, n * sizeof(*t));
	nt->n = n;
	atomic_init(&nt->listening, 0);
	if (pipe2(nt->wake, O_CLOEXEC) == -1) {
		log_warn("%s: pipe2", __func__);
		free(nt);
		return NULL;
	}
	hold_all(nt, 1);
	if ((rv = pthread_create(&nt->thread, NULL, run, nt)) != 0) {
		errno = rv;
		log_warn("%s: pthread_create", __func__);
		close(nt->wake[0]);
		close(nt->wake[1]);
		free(nt);
		return NULL;
	}
	return nt;
}

void
notify_stop(struct notify *nt)
{
	if (nt == NULL)
		return;
	while (write(nt->wake[1], "", 1) == -1 && errno == EINTR)
		;
	pthread_join(nt->thread, NULL);
	close(nt->wake[0]);
	close(nt->wake[1]);
	free(nt);
}

int
notify_listening(struct notify *nt)
{
	return nt != NULL && atomic_load(&nt->listening);
}
