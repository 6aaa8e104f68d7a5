/*
 * khclient.c: the keyholder client.  Requests are built with the imsg typed
 * writers, replies checked with the typed readers; anything in a reply that
 * the protocol does not allow ends the channel (fail closed).
 *
 * Every thread of the broker shares the one channel, and requests from
 * many threads are on the wire at once: the keyholder is a single thread
 * and answers in order, so a request need not wait for the one before it
 * to be answered, only for its own reply.  One mutex guards the imsgbuf
 * and the queue below; nobody holds it while blocked on the socket.
 *
 *	A caller queues its requests (up to KH_WINDOW of them) and writes
 *	them out, and puts itself at the tail of the FIFO of waiters: the
 *	order of the FIFO is the order of the requests on the wire.
 *	One waiter at a time is the reader: it polls the socket (without
 *	the mutex), reads, and hands each reply to the waiter at the head
 *	of the FIFO, whose request id the reply must echo.  When its own
 *	replies are in, it passes the reading on to the next waiter.
 *
 * Asynchronous OPENs (kh_open_start).  A request thread of the broker
 * that would otherwise sleep through the round trip starts the OPEN, lets
 * its connection wait, and goes on serving others; the waiter it leaves
 * in the FIFO has a callback instead of a thread.  Since such a waiter
 * cannot read, kh_client_async() starts one thread that is then the only
 * reader: it reads whenever the FIFO is not empty, calls the callbacks
 * and wakes the threads of synchronous calls, which then never read.
 * Under load, one read brings the replies of many requests and one
 * wake-up of a worker resumes many connections, where each synchronous
 * call cost a sleep and a wake-up of its own.
 *
 * A reply is copied into its caller's buffers by whichever thread reads
 * it, under the mutex, while that caller sleeps.  A waiter leaves only
 * when its replies are in or the channel has failed (which empties the
 * FIFO and wakes everyone): the FIFO never points into a stack frame that
 * has gone.  The wait for a reply is bounded by timeout_ms from the
 * previous reply (or from the request, when none was outstanding).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "unpriv/khclient.h"
#include "unpriv/metrics.h"

/* Requests of one caller on the wire before it waits for their replies. */
#define KH_WINDOW	32
/* An operator's note for the audit chain (KH_AUDIT_MARK). */
#define KH_NOTE_MAX	256
/* Most requests in one transaction (ids must not wrap within one). */
#define KH_BATCH_MAX	((size_t)1 << 24)

struct kh_xfer;

/* A caller with requests on the wire: an entry of the FIFO. */
struct kh_wait {
	struct kh_wait	*next;
	struct kh_xfer	*x;
	pthread_cond_t	 cv;		/* replies in, reader wanted, failure */
	uint32_t	 base;		/* id of the transaction's request 0 */
	size_t		 sent;		/* requests queued so far */
	size_t		 got;		/* replies taken so far */
	int		 failed;	/* the channel failed under it */
	void		(*cb)(void *, struct kh_aopen *);	/* async */
	void		*cbarg;
};

struct khclient {
	pthread_mutex_t	 mtx;		/* guards everything but dead */
	struct imsgbuf	 ibuf;
	int		 fd;
	int		 timeout_ms;
	pid_t		 pid;
	uint32_t	 nextid;
	struct kh_wait	*head;		/* answered next */
	struct kh_wait	*tail;
	int		 reading;	/* a thread is the reader */
	int		 async;		/* the reader thread runs */
	int		 stop;		/* it is asked to end */
	pthread_cond_t	 rcv;		/* wakes it: the FIFO has a waiter */
	pthread_t	 reader;
	int64_t		 deadline;	/* for the reply at the head */
	atomic_int	 dead;		/* 0, or the errno that ended it */
	void		(*ondead)(void *);
	void		*ondead_arg;
};

/*
 * One transaction: n requests of one type, each answered by either `want'
 * or KH_R_ERROR.  add() appends request i's payload (on failure the imsg
 * library has freed the message); take() reads a `want' reply's payload
 * and returns 0 or -1 when it is malformed; done() records an outcome (0 or
 * KH_E_*); when it is NULL the outcome goes to code.
 */
struct kh_xfer {
	uint32_t	  type;
	uint32_t	  want;
	size_t		  n;
	size_t		  hint;		/* expected payload size of a request */
	int		(*add)(struct ibuf *, struct kh_xfer *, size_t);
	int		(*take)(struct imsg_reader *, struct kh_xfer *, size_t);
	void		(*done)(struct kh_xfer *, size_t, int);
	void		 *arg;
	int		  code;
};

/* An OPEN in flight without a thread: kh_open_start(), kh_open_finish(). */
struct kh_aopen {
	struct kh_wait		 w;
	struct kh_xfer		 x;
	struct kh_open_op	 op;
	int			 err;		/* errno, when w.failed */
	struct timespec		 t0;
	/* Room for the plaintext a sealed value of its length holds. */
	uint8_t			 plain[];
};
#define AOPEN_HEAD	offsetof(struct kh_aopen, plain)

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct khclient *
kh_client_new(int fd, int timeout_ms, void (*ondead)(void *), void *arg)
{
	struct khclient	*kh;
	int		 fl;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return NULL;
	if ((kh = calloc(1, sizeof(*kh))) == NULL)
		return NULL;
	if (imsgbuf_init(&kh->ibuf, fd) == -1) {
		free(kh);
		return NULL;
	}
	if ((errno = pthread_mutex_init(&kh->mtx, NULL)) != 0) {
		imsgbuf_clear(&kh->ibuf);
		free(kh);
		return NULL;
	}
	kh->fd = fd;
	kh->timeout_ms = timeout_ms > 0 ? timeout_ms : KH_TIMEOUT_DEFAULT;
	kh->pid = getpid();
	kh->nextid = 1;
	atomic_init(&kh->dead, 0);
	kh->ondead = ondead;
	kh->ondead_arg = arg;
	return kh;
}

void
kh_client_free(struct khclient *kh)
{
	if (kh == NULL)
		return;
	if (kh->async) {
		pthread_mutex_lock(&kh->mtx);
		kh->stop = 1;
		pthread_cond_signal(&kh->rcv);
		pthread_mutex_unlock(&kh->mtx);
		/* Ends a poll() for replies: the waiters fail, callbacks run. */
		(void)shutdown(kh->fd, SHUT_RDWR);
		pthread_join(kh->reader, NULL);
		pthread_cond_destroy(&kh->rcv);
	}
	imsgbuf_clear(&kh->ibuf);
	(void)close(kh->fd);
	pthread_mutex_destroy(&kh->mtx);
	free(kh);
}

int
kh_client_dead(struct khclient *kh)
{
	return atomic_load(&kh->dead);
}

void
kh_client_kill(struct khclient *kh, int err)
{
	int	 expected = 0;

	if (err == 0)
		err = EIO;
	if (!atomic_compare_exchange_strong(&kh->dead, &expected, err))
		return;
	metrics_kh_failed();
	if (kh->ondead != NULL)
		kh->ondead(kh->ondead_arg);
}

const char *
kh_strerror(int result)
{
	static const char *const names[] = {
		[0] = "success",
		[KH_E_INTERNAL] = "keyholder internal error",
		[KH_E_NO_KEYRING] = "keyholder has no keyring",
		[KH_E_HAVE_KEYRING] = "keyholder has a keyring already",
		[KH_E_BAD_VALUE] = "sealed value does not open",
		[KH_E_UNKNOWN_VERSION] = "sealed under an unknown key version",
		[KH_E_BAD_KEYRING] = "keyring blob does not open",
		[KH_E_AUDIT] = "keyholder cannot write its audit log",
		[KH_E_RATE] = "keyholder rate limit",
	};

	if (result == -1)
		return "keyholder unreachable";
	if (result >= 0 && (size_t)result < sizeof(names) / sizeof(names[0]) &&
	    names[result] != NULL)
		return names[result];
	return "unknown keyholder error";
}

/*
 * A waiter that has left the FIFO, its replies in or the channel failed:
 * wake its thread, or call its callback (after which it is not ours to
 * touch).  Locked.
 */
static void
kh_complete(struct khclient *kh, struct kh_wait *w)
{
	w->next = NULL;
	if (w->cb == NULL) {
		pthread_cond_signal(&w->cv);
		return;
	}
	if (w->failed)
		((struct kh_aopen *)(void *)w)->err = atomic_load(&kh->dead);
	w->cb(w->cbarg, (struct kh_aopen *)(void *)w);
}

/*
 * The channel is out of step or gone: remember why, and fail every caller
 * waiting for a reply, since none will come in step now.  Locked.
 */
static int
kh_fail(struct khclient *kh, int err)
{
	struct kh_wait	*w, *next;

	kh_client_kill(kh, err);
	for (w = kh->head; w != NULL; w = next) {
		next = w->next;
		w->failed = 1;
		kh_complete(kh, w);
	}
	kh->head = kh->tail = NULL;
	errno = atomic_load(&kh->dead);
	return -1;
}

/*
 * The reader's wait: write what is queued, then, without the mutex, wait
 * until the socket can move bytes or the deadline passes, and read what
 * arrived.  0, or -1 after kh_fail().  Locked.
 */
static int
kh_io(struct khclient *kh)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 n, err;

	if (imsgbuf_write(&kh->ibuf) == -1)
		return kh_fail(kh, errno);
	pfd.fd = kh->fd;
	pfd.events = POLLIN;
	if (imsgbuf_queuelen(&kh->ibuf) > 0)
		pfd.events |= POLLOUT;
	pfd.revents = 0;
	if ((left = kh->deadline - now_ms()) <= 0)
		return kh_fail(kh, ETIMEDOUT);
	pthread_mutex_unlock(&kh->mtx);
	n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	err = errno;
	pthread_mutex_lock(&kh->mtx);
	if (n == -1)
		return err == EINTR ? 0 : kh_fail(kh, err);
	if (n == 0)
		return kh_fail(kh, ETIMEDOUT);
	if (pfd.revents & POLLNVAL)
		return kh_fail(kh, EBADF);
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		switch (imsgbuf_read(&kh->ibuf)) {
		case -1:
			return kh_fail(kh, errno);
		case 0:
			return kh_fail(kh, EPIPE);
		default:
			break;
		}
	}
	return 0;
}

/* Request i of x, with id, onto the write queue.  0 or -1 (errno). */
static int
kh_queue(struct khclient *kh, struct kh_xfer *x, size_t i, uint32_t id)
{
	struct ibuf	*m;

	if ((m = imsg_create(&kh->ibuf, x->type, id, kh->pid, x->hint)) ==
	    NULL)
		return -1;
	if (x->add != NULL && x->add(m, x, i) == -1)
		return -1;
	return imsg_close(&kh->ibuf, m);
}

static void
kh_record(struct kh_xfer *x, size_t i, int code)
{
	if (x->done != NULL)
		x->done(x, i, code);
	else
		x->code = code;
}

/*
 * One reply, which must answer request i (id).  0, or -1 after kh_fail()
 * when it breaks the protocol.
 */
static int
kh_reply(struct khclient *kh, struct kh_xfer *x, size_t i, uint32_t id,
    struct imsg *imsg)
{
	struct imsg_reader	 r;
	uint32_t		 code;

	if (imsg_get_id(imsg) != id)
		return kh_fail(kh, EBADMSG);
	imsg_reader_init(&r, imsg);
	if (imsg_get_type(imsg) == KH_R_ERROR) {
		if (imsg_read_u32(&r, &code) == -1 ||
		    imsg_read_end(&r) == -1 || code == 0 || code > INT_MAX)
			return kh_fail(kh, EBADMSG);
		metrics_kh_reply(x->type, (int)code);
		kh_record(x, i, (int)code);
		return 0;
	}
	if (imsg_get_type(imsg) != x->want)
		return kh_fail(kh, EBADMSG);
	if (x->take != NULL) {
		if (x->take(&r, x, i) == -1)
			return kh_fail(kh, EBADMSG);
	} else if (imsg_read_end(&r) == -1)
		return kh_fail(kh, EBADMSG);
	metrics_kh_reply(x->type, 0);
	kh_record(x, i, 0);
	return 0;
}

/*
 * A reply for the waiter at the head of the FIFO; once its last one is
 * in, it leaves the FIFO and is woken.  0 or -1 after kh_fail().
 */
static int
kh_dispatch(struct khclient *kh, struct imsg *imsg)
{
	struct kh_wait	*w = kh->head;

	if (kh_reply(kh, w->x, w->got, w->base + (uint32_t)w->got,
	    imsg) == -1)
		return -1;
	w->got++;
	kh->deadline = now_ms() + kh->timeout_ms;
	if (w->got == w->sent) {
		if ((kh->head = w->next) == NULL)
			kh->tail = NULL;
		kh_complete(kh, w);
	}
	return 0;
}

/*
 * As the reader: take every reply that is in, for whoever it is, and
 * wait for more until our own are in (me NULL: until nobody waits).
 * 0, or -1 after kh_fail().
 */
static int
kh_pump(struct khclient *kh, struct kh_wait *me)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 rv;

	for (;;) {
		while (kh->head != NULL) {
			if ((n = imsg_get(&kh->ibuf, &imsg)) == -1)
				return kh_fail(kh, errno);
			if (n == 0)
				break;
			rv = kh_dispatch(kh, &imsg);
			imsg_free(&imsg);
			if (rv == -1)
				return -1;
		}
		if (me == NULL ? kh->head == NULL :
		    me->failed || me->got == me->sent)
			return 0;
		if (kh_io(kh) == -1)
			return -1;
	}
}

/*
 * Wait until every request me sent is answered: as the reader when nobody
 * else is (and there is no reader thread), asleep otherwise.  0, or -1
 * (errno) when the channel failed.  Locked.
 */
static int
kh_wait(struct khclient *kh, struct kh_wait *me)
{
	while (!me->failed && me->got < me->sent) {
		if (kh->reading || kh->async) {
			pthread_cond_wait(&me->cv, &kh->mtx);
			continue;
		}
		kh->reading = 1;
		(void)kh_pump(kh, me);
		kh->reading = 0;
		/* Someone must go on reading for those still waiting. */
		if (kh->head != NULL && kh->async)
			pthread_cond_signal(&kh->rcv);
		else if (kh->head != NULL)
			pthread_cond_signal(&kh->head->cv);
	}
	if (me->failed) {
		errno = atomic_load(&kh->dead);
		return -1;
	}
	return 0;
}

/*
 * Queue me's next requests, at most KH_WINDOW, join the FIFO and start
 * writing.  0, or -1 (errno) when not even one could be built; a failure
 * to build a later one is kept in *err, to report once the requests
 * already queued are answered (so that the channel stays in step).
 * Locked.
 */
static int
kh_send(struct khclient *kh, struct kh_wait *me, int *err)
{
	struct kh_xfer	*x = me->x;
	size_t		 first = me->sent;

	while (me->sent < x->n && me->sent - first < KH_WINDOW) {
		if (kh_queue(kh, x, me->sent, me->base +
		    (uint32_t)me->sent) == -1) {
			*err = errno;
			break;
		}
		me->sent++;
	}
	if (me->sent == first) {
		errno = *err;
		return -1;
	}
	me->next = NULL;
	if (kh->tail == NULL) {
		kh->head = me;
		kh->deadline = now_ms() + kh->timeout_ms;
	} else
		kh->tail->next = me;
	kh->tail = me;
	if (kh->async && me == kh->head)
		pthread_cond_signal(&kh->rcv);
	/* Out now, even while the reader sleeps in poll(). */
	if (imsgbuf_write(&kh->ibuf) == -1)
		(void)kh_fail(kh, errno);
	return 0;
}

/* n consecutive request ids, none of them 0 (dromosd's own messages). */
static uint32_t
kh_ids(struct khclient *kh, size_t n)
{
	uint32_t	 base = kh->nextid;

	/* n <= KH_BATCH_MAX, so a fresh start at 1 always has room. */
	if (base == 0 || n > (size_t)(UINT32_MAX - base) + 1)
		base = 1;
	kh->nextid = base + (uint32_t)n;	/* 0 after the last id: fine */
	return base;
}

/*
 * Run a transaction: up to KH_WINDOW requests on the wire at a time, every
 * reply matched to its request.  0 when every request was answered; -1
 * and errno when the channel failed or a request could not be built.
 */
static int
kh_run(struct khclient *kh, struct kh_xfer *x)
{
	struct kh_wait	 me;
	struct timespec	 t0, t1;
	int		 err = 0, rv = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&me, 0, sizeof(me));
	me.x = x;
	if ((errno = pthread_cond_init(&me.cv, NULL)) != 0)
		return -1;
	pthread_mutex_lock(&kh->mtx);
	me.base = kh_ids(kh, x->n);
	while (rv == 0 && err == 0 && me.sent < x->n) {
		/* A channel declared dead takes no new requests. */
		if ((err = atomic_load(&kh->dead)) != 0)
			break;
		if ((rv = kh_send(kh, &me, &err)) == 0)
			rv = kh_wait(kh, &me);
		if (rv == -1)
			err = errno;
	}
	pthread_mutex_unlock(&kh->mtx);
	pthread_cond_destroy(&me.cv);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_kh_call((uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
	    (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * The reader thread: reads while anyone waits for a reply, sleeps while
 * nobody does.  After a failure nobody can wait (the channel takes no
 * requests), so it sleeps until kh_client_free().
 */
static void *
kh_reader(void *arg)
{
	struct khclient	*kh = arg;

	pthread_mutex_lock(&kh->mtx);
	while (!kh->stop) {
		/* A synchronous caller may be reading still, from before. */
		if (kh->head == NULL || kh->reading) {
			pthread_cond_wait(&kh->rcv, &kh->mtx);
			continue;
		}
		kh->reading = 1;
		(void)kh_pump(kh, NULL);
		kh->reading = 0;
	}
	/* Whoever is still waiting now waits in vain. */
	if (kh->head != NULL)
		(void)kh_fail(kh, ESHUTDOWN);
	pthread_mutex_unlock(&kh->mtx);
	return NULL;
}

int
kh_client_async(struct khclient *kh)
{
	int	 rv;

	pthread_mutex_lock(&kh->mtx);
	if (kh->async) {
		pthread_mutex_unlock(&kh->mtx);
		return 0;
	}
	/* A caller reading now finishes its turn; the thread waits for it. */
	if ((rv = pthread_cond_init(&kh->rcv, NULL)) == 0 &&
	    (rv = pthread_create(&kh->reader, NULL, kh_reader, kh)) != 0)
		pthread_cond_destroy(&kh->rcv);
	if (rv == 0)
		kh->async = 1;
	pthread_mutex_unlock(&kh->mtx);
	if (rv != 0) {
		errno = rv;
		return -1;
	}
	return 0;
}

/* A single request: its outcome, or -1. */
static int
kh_call(struct khclient *kh, struct kh_xfer *x)
{
	x->n = 1;
	x->code = -1;
	if (kh_run(kh, x) == -1)
		return -1;
	return x->code;
}

/* Field checks: the keyholder's rules, so that it never sees a bad one. */
static int
name_ok(const char *s)
{
	size_t	 i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= KH_NAME_MAX)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

static int
printable_ok(const char *s, size_t max)
{
	size_t	 i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int
ad_ok(const struct kh_ad *ad)
{
	return ad != NULL && name_ok(ad->purpose) && name_ok(ad->table) &&
	    printable_ok(ad->row, KH_ROW_MAX) && name_ok(ad->column);
}

static int
ad_add(struct ibuf *m, const struct kh_ad *ad)
{
	if (imsg_add_string(m, ad->purpose) == -1 ||
	    imsg_add_string(m, ad->table) == -1 ||
	    imsg_add_string(m, ad->row) == -1 ||
	    imsg_add_string(m, ad->column) == -1)
		return -1;
	return 0;
}

#define AD_HINT	(4 * 4 + 3 * KH_NAME_MAX + KH_ROW_MAX)

/* SEAL */

struct seal_ctx {
	const struct kh_ad	*ad;
	const void		*plain;
	size_t			 plainlen;
	void			*sealed;
	size_t			 sealedlen;
	uint32_t		 flags;
};

static int
seal_add(struct ibuf *m, struct kh_xfer *x, size_t i)
{
	struct seal_ctx	*c = x->arg;

	(void)i;
	if (ad_add(m, c->ad) == -1)
		return -1;
	return imsg_add_lbytes(m, c->plain, c->plainlen);
}

static int
seal_take(struct imsg_reader *r, struct kh_xfer *x, size_t i)
{
	struct seal_ctx	*c = x->arg;
	const void	*p;
	size_t		 len;

	(void)i;
	if (imsg_read_u32(r, &c->flags) == -1 ||
	    imsg_read_lbytes(r, &p, &len, KH_SEALED_MAX) == -1 ||
	    imsg_read_end(r) == -1)
		return -1;
	/* Exactly the format's overhead: anything else is not our format. */
	if (len != c->plainlen + KH_SEAL_OVERHEAD)
		return -1;
	memcpy(c->sealed, p, len);
	c->sealedlen = len;
	return 0;
}

int
kh_seal(struct khclient *kh, const struct kh_ad *ad, const void *plain,
    size_t plainlen, void *sealed, size_t sealedsz, size_t *sealedlen,
    uint32_t *flags)
{
	struct seal_ctx	 c = { .ad = ad, .plain = plain, .plainlen = plainlen,
			    .sealed = sealed };
	struct kh_xfer	 x = { .type = KH_SEAL, .want = KH_R_SEALED,
			    .add = seal_add, .take = seal_take, .arg = &c };
	int		 rv;

	*sealedlen = 0;
	if (flags != NULL)
		*flags = 0;
	if (!ad_ok(ad) || plain == NULL || plainlen == 0 || sealed == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (plainlen > KH_PLAIN_MAX || sealedsz < plainlen + KH_SEAL_OVERHEAD) {
		errno = EMSGSIZE;
		return -1;
	}
	x.hint = AD_HINT + 4 + plainlen;
	if ((rv = kh_call(kh, &x)) == 0) {
		*sealedlen = c.sealedlen;
		if (flags != NULL)
			*flags = c.flags;
	}
	return rv;
}

/* OPEN, one or many */

static int
open_add(struct ibuf *m, struct kh_xfer *x, size_t i)
{
	struct kh_open_op	*op = (struct kh_open_op *)x->arg + i;

	if (ad_add(m, &op->ad) == -1)
		return -1;
	return imsg_add_lbytes(m, op->sealed, op->sealedlen);
}

static int
open_take(struct imsg_reader *r, struct kh_xfer *x, size_t i)
{
	struct kh_open_op	*op = (struct kh_open_op *)x->arg + i;
	const void		*p;
	size_t			 len;

	if (imsg_read_lbytes(r, &p, &len, KH_PLAIN_MAX) == -1 ||
	    imsg_read_end(r) == -1)
		return -1;
	if (len + KH_SEAL_OVERHEAD != op->sealedlen)
		return -1;
	memcpy(op->plain, p, len);
	op->plainlen = len;
	return 0;
}

static void
open_done(struct kh_xfer *x, size_t i, int code)
{
	struct kh_open_op	*op = (struct kh_open_op *)x->arg + i;

	op->result = code;
}

static int
open_op_ok(const struct kh_open_op *op)
{
	if (!ad_ok(&op->ad) || op->sealed == NULL || op->plain == NULL) {
		errno = EINVAL;
		return 0;
	}
	if (op->sealedlen < KH_SEAL_OVERHEAD || op->sealedlen > KH_SEALED_MAX ||
	    op->plainsz < op->sealedlen - KH_SEAL_OVERHEAD) {
		errno = EMSGSIZE;
		return 0;
	}
	return 1;
}

static void
open_wipe(struct kh_open_op *ops, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (ops[i].plain != NULL)
			explicit_bzero(ops[i].plain, ops[i].plainsz);
		ops[i].plainlen = 0;
	}
}

int
kh_open_batch(struct khclient *kh, struct kh_open_op *ops, size_t n)
{
	struct kh_xfer	 x = { .type = KH_OPEN, .want = KH_R_OPENED,
			    .add = open_add, .take = open_take,
			    .done = open_done, .arg = ops, .n = n,
			    .hint = AD_HINT + 4 + 512 };
	size_t		 i;

	if ((n > 0 && ops == NULL) || n > KH_BATCH_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		ops[i].plainlen = 0;
		ops[i].result = -1;
		if (!open_op_ok(&ops[i]))
			return -1;
	}
	if (n == 0)
		return 0;
	if (kh_run(kh, &x) == -1) {
		open_wipe(ops, n);
		return -1;
	}
	return 0;
}

int
kh_open(struct khclient *kh, const struct kh_ad *ad, const void *sealed,
    size_t sealedlen, void *plain, size_t plainsz, size_t *plainlen)
{
	struct kh_open_op	 op;

	*plainlen = 0;
	if (ad == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(&op, 0, sizeof(op));
	op.ad = *ad;
	op.sealed = sealed;
	op.sealedlen = sealedlen;
	op.plain = plain;
	op.plainsz = plainsz;
	if (kh_open_batch(kh, &op, 1) == -1)
		return -1;
	*plainlen = op.plainlen;
	return op.result;
}

struct kh_aopen *
kh_open_start(struct khclient *kh, const struct kh_ad *ad, const void *sealed,
    size_t sealedlen, void (*cb)(void *, struct kh_aopen *), void *arg)
{
	struct kh_aopen	*a;
	int		 err = 0, rv;

	if (ad == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (sealedlen < KH_SEAL_OVERHEAD || sealedlen > KH_SEALED_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	/* Small: a large block per read costs malloc much more. */
	if ((a = malloc(AOPEN_HEAD + sealedlen - KH_SEAL_OVERHEAD)) == NULL)
		return NULL;
	memset(a, 0, AOPEN_HEAD);
	a->op.ad = *ad;
	a->op.sealed = sealed;
	a->op.sealedlen = sealedlen;
	a->op.plain = a->plain;
	a->op.plainsz = sealedlen - KH_SEAL_OVERHEAD;
	a->op.result = -1;
	if (!open_op_ok(&a->op)) {
		free(a);
		return NULL;
	}
	a->x.type = KH_OPEN;
	a->x.want = KH_R_OPENED;
	a->x.add = open_add;
	a->x.take = open_take;
	a->x.done = open_done;
	a->x.arg = &a->op;
	a->x.n = 1;
	a->x.hint = AD_HINT + 4 + 512;
	a->w.x = &a->x;
	a->w.cb = cb;
	a->w.cbarg = arg;
	clock_gettime(CLOCK_MONOTONIC, &a->t0);

	pthread_mutex_lock(&kh->mtx);
	if (!kh->async)
		err = ENOTSUP;
	else if ((err = atomic_load(&kh->dead)) == 0) {
		a->w.base = kh_ids(kh, 1);
		/* Once queued, the callback runs: even if the write fails. */
		if ((rv = kh_send(kh, &a->w, &err)) == 0)
			err = 0;
		else if (err == 0)
			err = EIO;
		a->op.sealed = NULL;	/* copied into the request */
	}
	pthread_mutex_unlock(&kh->mtx);
	if (err != 0) {
		free(a);
		errno = err;
		return NULL;
	}
	return a;
}

int
kh_open_finish(struct kh_aopen *a, void *plain, size_t plainsz,
    size_t *plainlen)
{
	struct timespec	 t1;
	int		 rv;

	*plainlen = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_kh_call((uint64_t)(t1.tv_sec - a->t0.tv_sec) * 1000000000u +
	    (uint64_t)t1.tv_nsec - (uint64_t)a->t0.tv_nsec);
	if (a->w.failed) {
		rv = -1;
		errno = a->err != 0 ? a->err : EIO;
	} else if ((rv = a->op.result) == 0) {
		if (a->op.plainlen > plainsz) {
			rv = -1;
			errno = EMSGSIZE;
		} else {
			memcpy(plain, a->plain, a->op.plainlen);
			*plainlen = a->op.plainlen;
		}
	}
	explicit_bzero(a->plain, a->op.plainlen);
	explicit_bzero(a, AOPEN_HEAD);
	free(a);
	return rv;
}

/* Keyring and status */

struct blob_ctx {
	const void	*in;
	size_t		 inlen;
	void		*out;
	size_t		 outsz;
	size_t		 outlen;
};

static int
blob_add(struct ibuf *m, struct kh_xfer *x, size_t i)
{
	struct blob_ctx	*c = x->arg;

	(void)i;
	return imsg_add_lbytes(m, c->in, c->inlen);
}

static int
blob_take(struct imsg_reader *r, struct kh_xfer *x, size_t i)
{
	struct blob_ctx	*c = x->arg;
	const void	*p;
	size_t		 len;

	(void)i;
	if (imsg_read_lbytes(r, &p, &len, KH_BLOB_MAX) == -1 ||
	    imsg_read_end(r) == -1 || len == 0 || len > c->outsz)
		return -1;
	memcpy(c->out, p, len);
	c->outlen = len;
	return 0;
}

int
kh_keyring_load(struct khclient *kh, const void *blob, size_t bloblen)
{
	struct blob_ctx	 c = { .in = blob, .inlen = bloblen };
	struct kh_xfer	 x = { .type = KH_KEYRING_LOAD, .want = KH_R_OK,
			    .add = blob_add, .arg = &c, .hint = 4 + bloblen };

	if (blob == NULL || bloblen == 0) {
		errno = EINVAL;
		return -1;
	}
	if (bloblen > KH_BLOB_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return kh_call(kh, &x);
}

/* A request without payload answered by the sealed keyring. */
static int
kh_blob_call(struct khclient *kh, uint32_t type, void *blob, size_t blobsz,
    size_t *bloblen)
{
	struct blob_ctx	 c = { .out = blob, .outsz = blobsz };
	struct kh_xfer	 x = { .type = type, .want = KH_R_KEYRING,
			    .take = blob_take, .arg = &c };
	int		 rv;

	*bloblen = 0;
	if (blob == NULL || blobsz < KH_BLOB_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if ((rv = kh_call(kh, &x)) == 0)
		*bloblen = c.outlen;
	return rv;
}

int
kh_keyring_init(struct khclient *kh, void *blob, size_t blobsz,
    size_t *bloblen)
{
	return kh_blob_call(kh, KH_KEYRING_INIT, blob, blobsz, bloblen);
}

int
kh_keyring_export(struct khclient *kh, void *blob, size_t blobsz,
    size_t *bloblen)
{
	return kh_blob_call(kh, KH_KEYRING_EXPORT, blob, blobsz, bloblen);
}

int
kh_key_rotate(struct khclient *kh, void *blob, size_t blobsz,
    size_t *bloblen)
{
	return kh_blob_call(kh, KH_KEY_ROTATE, blob, blobsz, bloblen);
}

static int
status_take(struct imsg_reader *r, struct kh_xfer *x, size_t i)
{
	struct kh_status	*st = x->arg;
	uint32_t		 k;

	(void)i;
	if (imsg_read_u32(r, &st->active) == -1 ||
	    imsg_read_u32(r, &st->nversions) == -1 ||
	    st->nversions > KH_STATUS_MAXVERS)
		return -1;
	for (k = 0; k < st->nversions; k++)
		if (imsg_read_u32(r, &st->versions[k].version) == -1 ||
		    imsg_read_u64(r, &st->versions[k].seals) == -1 ||
		    imsg_read_u64(r, &st->versions[k].created) == -1)
			return -1;
	return imsg_read_end(r);
}

int
kh_status(struct khclient *kh, struct kh_status *st)
{
	struct kh_xfer	 x = { .type = KH_KEY_STATUS, .want = KH_R_STATUS,
			    .take = status_take, .arg = st };

	if (st == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	return kh_call(kh, &x);
}

static int
note_add(struct ibuf *m, struct kh_xfer *x, size_t i)
{
	(void)i;
	return imsg_add_string(m, x->arg);
}

int
kh_audit_mark(struct khclient *kh, const char *note)
{
	struct kh_xfer	 x = { .type = KH_AUDIT_MARK, .want = KH_R_OK,
			    .add = note_add, .arg = (void *)(uintptr_t)note,
			    .hint = 4 + KH_NOTE_MAX };

	if (!printable_ok(note, KH_NOTE_MAX)) {
		errno = EINVAL;
		return -1;
	}
	return kh_call(kh, &x);
}

int
kh_health(struct khclient *kh)
{
	struct kh_xfer	 x = { .type = KH_HEALTH, .want = KH_R_OK };

	return kh_call(kh, &x);
}

static int
metrics_take(struct imsg_reader *r, struct kh_xfer *x, size_t i)
{
	uint64_t	*v = x->arg;
	uint32_t	 layout, n, k;

	(void)i;
	if (imsg_read_u32(r, &layout) == -1 || layout != KH_METRICS_V2 ||
	    imsg_read_u32(r, &n) == -1 || n != KH_M_COUNT)
		return -1;
	for (k = 0; k < n; k++)
		if (imsg_read_u64(r, &v[k]) == -1)
			return -1;
	return imsg_read_end(r);
}

int
kh_metrics(struct khclient *kh, uint64_t v[KH_M_COUNT])
{
	struct kh_xfer	 x = { .type = KH_METRICS, .want = KH_R_METRICS,
			    .take = metrics_take, .arg = v };

	if (v == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(v, 0, sizeof(uint64_t) * KH_M_COUNT);
	return kh_call(kh, &x);
}

/* KH_CONFIG */

static int
path_ok(const char *p, int may_be_empty)
{
	if (p[0] == '\0')
		return may_be_empty;
	return p[0] == '/' && printable_ok(p, KH_PATH_MAX - 1);
}

/* A POSIX portable user or group name, as useradd(8) accepts them. */
static int
group_ok(const char *g)
{
	size_t	 i;

	if (g[0] == '\0')
		return 1;
	if (g[0] == '-')
		return 0;
	for (i = 0; g[i] != '\0'; i++)
		if (!((g[i] >= 'a' && g[i] <= 'z') ||
		    (g[i] >= 'A' && g[i] <= 'Z') ||
		    (g[i] >= '0' && g[i] <= '9') ||
		    g[i] == '_' || g[i] == '-' || g[i] == '.'))
			return 0;
	return 1;
}

/* A TLS file's path: absolute, printable, shorter than KH_TLS_PATH_MAX. */
static int
tls_path_ok(const char *p)
{
	return p[0] == '/' && printable_ok(p, KH_TLS_PATH_MAX - 1);
}

/*
 * No TLS listener and no files, or an address, all three files and a
 * CRL file if any.
 */
static int
tls_ok(const struct kh_config *cf)
{
	if (cf->tls[0] == '\0')
		return cf->tls_cert[0] == '\0' && cf->tls_key[0] == '\0' &&
		    cf->tls_ca[0] == '\0' && cf->tls_crl[0] == '\0';
	return addr_parse(cf->tls, NULL, NULL) != ADDR_MALFORMED &&
	    tls_path_ok(cf->tls_cert) && tls_path_ok(cf->tls_key) &&
	    tls_path_ok(cf->tls_ca) &&
	    (cf->tls_crl[0] == '\0' || tls_path_ok(cf->tls_crl));
}

static int
config_decode(struct imsg *imsg, struct kh_config *cf)
{
	struct imsg_reader	 r;
	char			*db;
	size_t			 len;

	if (imsg_get_type(imsg) != KH_CONFIG ||
	    imsg_get_len(imsg) > KH_CONF_MAX) {
		errno = EBADMSG;
		return -1;
	}
	if ((db = malloc(KH_CONF_MAX)) == NULL)
		return -1;
	imsg_reader_init(&r, imsg);
	(void)imsg_read_string(&r, cf->listen, sizeof(cf->listen));
	(void)imsg_read_string(&r, cf->admin, sizeof(cf->admin));
	(void)imsg_read_string(&r, cf->group, sizeof(cf->group));
	(void)imsg_read_string(&r, db, KH_CONF_MAX);
	(void)imsg_read_u32(&r, &cf->verbose);
	(void)imsg_read_string(&r, cf->public_url, sizeof(cf->public_url));
	(void)imsg_read_string(&r, cf->user, sizeof(cf->user));
	(void)imsg_read_string(&r, cf->returns, sizeof(cf->returns));
	(void)imsg_read_string(&r, cf->metrics, sizeof(cf->metrics));
	(void)imsg_read_string(&r, cf->tls, sizeof(cf->tls));
	(void)imsg_read_string(&r, cf->tls_cert, sizeof(cf->tls_cert));
	(void)imsg_read_string(&r, cf->tls_key, sizeof(cf->tls_key));
	(void)imsg_read_string(&r, cf->tls_ca, sizeof(cf->tls_ca));
	(void)imsg_read_string(&r, cf->tls_crl, sizeof(cf->tls_crl));
	(void)imsg_read_u32(&r, &cf->access_keep);
	if (imsg_read_end(&r) == -1 || !path_ok(cf->listen, 0) ||
	    cf->access_keep > KH_KEEP_DAYS_MAX ||
	    !tls_ok(cf) ||
	    (cf->metrics[0] != '\0' &&
	    addr_parse_local(cf->metrics, NULL, NULL) != ADDR_LOOPBACK) ||
	    cf->public_url[0] == '\0' || !group_ok(cf->user) ||
	    cf->user[0] == '\0' ||
	    !path_ok(cf->admin, 1) || !group_ok(cf->group)) {
		explicit_bzero(db, KH_CONF_MAX);
		free(db);
		errno = EBADMSG;
		return -1;
	}
	/* Keep only what the string needs; the conninfo may hold a password. */
	len = strlen(db) + 1;
	cf->database = malloc(len);
	if (cf->database != NULL)
		memcpy(cf->database, db, len);
	explicit_bzero(db, KH_CONF_MAX);
	free(db);
	return cf->database == NULL ? -1 : 0;
}

/* The first message, unsolicited, as the reader.  0 or -1.  Locked. */
static int
kh_first(struct khclient *kh, int timeout_ms, struct imsg *imsg)
{
	ssize_t	 n;

	kh->deadline = now_ms() + (timeout_ms > 0 ? timeout_ms :
	    kh->timeout_ms);
	for (;;) {
		if ((n = imsg_get(&kh->ibuf, imsg)) == -1)
			return kh_fail(kh, errno);
		if (n > 0)
			return 0;
		if (kh_io(kh) == -1)
			return -1;
	}
}

int
kh_recv_config(struct khclient *kh, int timeout_ms, struct kh_config *cf)
{
	struct imsg	 imsg;
	int		 rv, err;

	memset(cf, 0, sizeof(*cf));
	if ((errno = pthread_mutex_lock(&kh->mtx)) != 0)
		return -1;
	/* It comes first: nothing else may be in progress. */
	if ((err = atomic_load(&kh->dead)) == 0 && (kh->reading ||
	    kh->head != NULL))
		err = EBUSY;
	if (err != 0) {
		pthread_mutex_unlock(&kh->mtx);
		errno = err;
		return -1;
	}
	kh->reading = 1;
	rv = kh_first(kh, timeout_ms, &imsg);
	if (rv == 0) {
		if ((rv = config_decode(&imsg, cf)) == -1) {
			if (errno != ENOMEM)
				errno = EBADMSG;
			kh_config_clear(cf);
			kh_fail(kh, errno);
		}
		imsg_free(&imsg);
	}
	err = errno;
	kh->reading = 0;
	pthread_mutex_unlock(&kh->mtx);
	errno = err;
	return rv;
}

void
kh_config_clear(struct kh_config *cf)
{
	if (cf->database != NULL) {
		explicit_bzero(cf->database, strlen(cf->database));
		free(cf->database);
	}
	explicit_bzero(cf, sizeof(*cf));
}
