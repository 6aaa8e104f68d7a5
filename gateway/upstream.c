/*
 * HTTP/1.1 to the broker, over its unix socket or over TCP and TLS, with
 * a connection pool, driven by an event loop (gateway/upstream.h).
 *
 * Sockets do not block.  An exchange is sent when the loop next runs us,
 * its answer read as it comes, then it ends: its connection goes back to
 * the pool, its callback is called.  Everything of one struct upstream
 * happens on its loop's thread.  The request head carries the client's
 * bearer token, so it is wiped when the exchange ends; the answer may
 * carry a credential, so its buffers are wiped before they are freed.
 *
 * A connection closed while the epoll events of one run are handled may
 * still have an event further in the list: it is marked dead (fd -1) and
 * freed after the run.
 *
 * TLS.  A connection has an SSL object when the broker is reached over
 * TCP; the unix socket's path only asks whether it has one.  A new TLS
 * connection goes C_CONNECTING (TCP, EPOLLOUT) → C_HANDSHAKE → C_OPEN
 * while its exchange is X_SENDING.  Every SSL call is retried when the
 * event it asked for comes: SSL_ERROR_WANT_READ makes the connection
 * watch EPOLLIN, SSL_ERROR_WANT_WRITE EPOLLOUT (watch()), and the event
 * calls the step the exchange is at (handshake, send, receive) again.
 * Reads go on until OpenSSL wants the socket again, so no decrypted
 * byte waits inside OpenSSL while epoll sleeps; one that is left after
 * an answer's last byte is a byte nobody asked for, and the connection
 * is not kept.  The context cleanses decrypted records once read and
 * frees idle buffers (SSL_OP_CLEANSE_PLAINTEXT, SSL_MODE_RELEASE_BUFFERS:
 * gateway/brokertls.c).
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "gateway/check.h"
#include "gateway/upstream.h"

#define EVENTS		64
#define IN_FIRST	((size_t)4096)	/* the first read buffer of an answer */
#define BODY_FIRST	((size_t)4096)	/* a body without a length, at first */
#define TLS_WARN_MS	10000u		/* between two TLS failure warnings */

struct up_xfer;

enum conn_state {
	C_OPEN = 0,		/* requests may be sent */
	C_CONNECTING,		/* TCP, in progress */
	C_HANDSHAKE,		/* TLS */
};

struct up_conn {
	struct upstream	*u;
	struct up_conn	*prev, *next;	/* in the idle list, or the dead */
	struct up_xfer	*x;		/* the exchange on it; NULL: idle */
	int		 fd;		/* -1: dead, to be freed */
	int		 pooled;	/* in the idle list */
	int		 out;		/* EPOLLOUT is watched, not EPOLLIN */
	uint64_t	 since;		/* idle since, ms */
	SSL		*ssl;		/* NULL: the unix socket */
	enum conn_state	 state;
	int		 answered;	/* a byte of answer came on it */
	size_t		 addr;		/* TLS: which of the broker's */
};

enum xfer_state {
	X_NEW,			/* not yet on a connection */
	X_WAITING,		/* for a free connection */
	X_SENDING,
	X_RECEIVING,
};

struct up_xfer {
	struct upstream		*u;
	struct up_xfer		*prev, *next;	/* all of them, by deadline */
	struct up_xfer		*qnext;		/* to start, or waiting */
	enum xfer_state		 state;
	struct up_conn		*c;
	char			*head;		/* with the bearer token */
	size_t			 headlen;
	const unsigned char	*body;
	size_t			 bodylen;
	size_t			 sent;		/* of head and body */
	int			 idempotent;
	int			 head_request;
	int			 reused;
	int			 retried;
	size_t			 dials;		/* TLS connects that failed */
	int			 any;		/* a byte of answer came */
	char			*in;		/* the answer, until its head */
	size_t			 inlen, insz;
	int			 have_head;
	struct up_framing	 fr;
	unsigned char		*b;		/* the answer's body */
	size_t			 blen, bsz;
	struct up_response	*r;
	uint64_t		 deadline;	/* ms */
	up_done_fn		*done;
	void			*arg;
};

/* A singly-linked FIFO of exchanges, through qnext. */
struct xqueue {
	struct up_xfer	*head, *tail;
};

struct upstream {
	struct sockaddr_un	 sun;
	struct up_addr		 addrs[UP_ADDRS_MAX];	/* TLS: the broker's */
	size_t			 naddrs;
	size_t			 cur;		/* the one to connect to */
	SSL_CTX			*ctx;		/* NULL: the unix socket */
	X509_STORE		*(*verify_store)(void *);
	void			*verify_arg;
	char			*sni;
	char			*label;
	unsigned int		 timeout_ms;
	int			 ep;
	size_t			 maxconns;
	size_t			 nconns;	/* open, idle or busy */
	struct up_conn		*idle;		/* most recently used first */
	struct up_conn		*dead;
	struct up_xfer		*first, *last;	/* in flight, by deadline */
	struct xqueue		 starting;	/* for the next run */
	struct xqueue		 waiting;	/* for a connection */
	int			 hold;		/* start no waiting exchange */
};

static void	xfer_send(struct up_xfer *);
static void	xfer_recv(struct up_xfer *);
static void	xfer_fail(struct up_xfer *, enum up_error);
static struct up_conn *dial_tls(struct upstream *);
static struct up_conn *dial_addr(struct upstream *);
static void	connect_failed(struct up_xfer *, int);
static void	redial(struct up_xfer *);
static int	tls_still_open(struct up_conn *);
static void	tls_shutdown(struct up_conn *);
static void	tls_event(struct up_conn *);
static void	tls_send(struct up_xfer *);
static void	tls_recv(struct up_xfer *);

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *
up_errname(enum up_error e)
{
	switch (e) {
	case UP_OK:
		return "ok";
	case UP_ECONNECT:
		return "connect";
	case UP_EIO:
		return "io";
	case UP_ETIMEOUT:
		return "timeout";
	case UP_EPROTO:
		return "protocol";
	case UP_EINVAL:
		return "request";
	}
	return "unknown";
}

/* Empty, without writing kilobytes of header buffers. */
void
up_init(struct up_response *r)
{
	r->status = 0;
	r->content_type[0] = r->location[0] = r->retry_after[0] =
	    r->allow[0] = '\0';
	r->body = NULL;
	r->bodylen = 0;
}

void
up_clear(struct up_response *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->bodylen);
		free(r->body);
	}
	/* A Location may carry an OAuth state: what was kept is wiped. */
	explicit_bzero(r->location, strlen(r->location));
	up_init(r);
}

static void
xq_push(struct xqueue *q, struct up_xfer *x)
{
	x->qnext = NULL;
	if (q->tail != NULL)
		q->tail->qnext = x;
	else
		q->head = x;
	q->tail = x;
}

static void
xq_push_front(struct xqueue *q, struct up_xfer *x)
{
	x->qnext = q->head;
	q->head = x;
	if (q->tail == NULL)
		q->tail = x;
}

static struct up_xfer *
xq_pop(struct xqueue *q)
{
	struct up_xfer	*x;

	if ((x = q->head) != NULL) {
		q->head = x->qnext;
		if (q->head == NULL)
			q->tail = NULL;
		x->qnext = NULL;
	}
	return x;
}

/* Take x out of q, wherever it is. */
static void
xq_remove(struct xqueue *q, struct up_xfer *x)
{
	struct up_xfer	*p, *prev = NULL;

	for (p = q->head; p != NULL; prev = p, p = p->qnext) {
		if (p != x)
			continue;
		if (prev != NULL)
			prev->qnext = p->qnext;
		else
			q->head = p->qnext;
		if (q->tail == p)
			q->tail = prev;
		p->qnext = NULL;
		return;
	}
}

/* Response head parsing. */

static int
tchar(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

/* Keep value (trimmed) into dst if it fits and is printable. */
static int
keep(char *dst, size_t dstsz, const char *v, size_t len)
{
	size_t	 i;

	if (len >= dstsz)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return -1;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

static int
hdr_is(const char *name, size_t nlen, const char *want)
{
	return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* Does a comma-separated Connection value name this option? */
static int
conn_has(const char *v, size_t len, const char *opt)
{
	size_t	 i = 0, s, e, ol = strlen(opt);

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == ol && strncasecmp(v + s, opt, ol) == 0)
			return 1;
	}
	return 0;
}

static int
parse_status(const char *line, size_t len, struct up_response *r,
    int *http10)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (len > 12 && line[12] != ' '))
		return -1;
	*http10 = line[7] == '0';
	r->status = (unsigned int)((line[9] - '0') * 100 +
	    (line[10] - '0') * 10 + (line[11] - '0'));
	return 0;
}

/* One "Name: value" line. */
static int
parse_field(const char *line, size_t len, struct up_response *r,
    struct up_framing *fr, int *keepalive)
{
	const char	*colon, *v;
	size_t		 nlen, vlen, i;

	if ((colon = memchr(line, ':', len)) == NULL || colon == line)
		return -1;
	nlen = (size_t)(colon - line);
	for (i = 0; i < nlen; i++)
		if (!tchar((unsigned char)line[i]))
			return -1;
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') ||
		    v[i] == 0x7f)
			return -1;
	if (hdr_is(line, nlen, "Content-Length")) {
		if (fr->has_length || gw_parse_length(v, vlen, &fr->length) == -1)
			return -1;
		fr->has_length = 1;
	} else if (hdr_is(line, nlen, "Transfer-Encoding"))
		return -1;
	else if (hdr_is(line, nlen, "Connection")) {
		if (conn_has(v, vlen, "close"))
			fr->close = 1;
		if (conn_has(v, vlen, "keep-alive"))
			*keepalive = 1;
	} else if (hdr_is(line, nlen, "Content-Type"))
		return keep(r->content_type, sizeof(r->content_type), v, vlen);
	else if (hdr_is(line, nlen, "Location"))
		return keep(r->location, sizeof(r->location), v, vlen);
	else if (hdr_is(line, nlen, "Retry-After"))
		return keep(r->retry_after, sizeof(r->retry_after), v, vlen);
	else if (hdr_is(line, nlen, "Allow"))
		return keep(r->allow, sizeof(r->allow), v, vlen);
	return 0;
}

int
up_parse_head(const char *buf, size_t len, int head_request,
    struct up_response *r, struct up_framing *fr)
{
	const char	*p = buf, *end = buf + len, *nl;
	size_t		 ll;
	int		 first = 1, http10 = 0, keepalive = 0;

	up_init(r);
	memset(fr, 0, sizeof(*fr));
	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return len >= UP_HEAD_MAX ? -1 : 0;
		if ((size_t)(nl + 1 - buf) > UP_HEAD_MAX)
			return -1;
		if (nl == p || nl[-1] != '\r')
			return -1;
		ll = (size_t)(nl - 1 - p);
		if (first) {
			if (parse_status(p, ll, r, &http10) == -1)
				return -1;
			first = 0;
		} else if (ll == 0)
			break;
		else if (*p == ' ' || *p == '\t')
			return -1;		/* obs-fold */
		else if (parse_field(p, ll, r, fr, &keepalive) == -1)
			return -1;
		p = nl + 1;
	}
	fr->headlen = (size_t)(nl + 1 - buf);
	if (http10 && !keepalive)
		fr->close = 1;
	/* 1xx is never expected: the gateway sends no Expect. */
	if (r->status < 200)
		return -1;
	if (head_request || r->status == 204 || r->status == 304) {
		fr->has_length = 1;
		fr->length = 0;
	}
	if (fr->has_length && fr->length > UP_BODY_MAX)
		return -1;
	return 1;
}

/* Sending. */

static int
value_sendable(const char *v)
{
	for (; *v != '\0'; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return 0;
	return 1;
}

static int
method_idempotent(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "DELETE") == 0 || strcmp(m, "PUT") == 0;
}

/* Appends to a buffer, or only counts when it is NULL. */
struct out {
	char	*buf;
	size_t	 sz;
	size_t	 len;
};

static void
put(struct out *o, const char *s)
{
	size_t	 n = strlen(s);

	if (o->buf != NULL && o->len + n < o->sz)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
format_head(const struct up_request *q, struct out *o)
{
	const char	*names[] = { "Authorization", "Content-Type", "Accept" };
	const char	*vals[] = { q->authorization, q->content_type, q->accept };
	char		 num[32];
	size_t		 i;

	put(o, q->method);
	put(o, " ");
	put(o, q->target);
	put(o, " HTTP/1.1\r\nHost: dromos-broker\r\nX-Request-Id: ");
	put(o, q->request_id);
	put(o, "\r\n");
	for (i = 0; i < 3; i++) {
		if (vals[i] == NULL)
			continue;
		put(o, names[i]);
		put(o, ": ");
		put(o, vals[i]);
		put(o, "\r\n");
	}
	if (q->bodylen > 0 || strcmp(q->method, "POST") == 0 ||
	    strcmp(q->method, "PUT") == 0) {
		snprintf(num, sizeof(num), "%zu", q->bodylen);
		put(o, "Content-Length: ");
		put(o, num);
		put(o, "\r\n");
	}
	put(o, "\r\n");
}

/*
 * The request head in one allocation (it holds the bearer token: no
 * copies left behind by a growing buffer); NULL if it cannot be sent.
 */
static char *
build_head(const struct up_request *q, size_t *lenp)
{
	const char	*vals[] = { q->authorization, q->content_type, q->accept };
	struct out	 o = { NULL, 0, 0 };
	size_t		 i;

	if (!value_sendable(q->method) || !value_sendable(q->target) ||
	    strpbrk(q->target, " \t") != NULL || q->target[0] != '/' ||
	    !value_sendable(q->request_id))
		return NULL;
	for (i = 0; i < 3; i++)
		if (vals[i] != NULL && !value_sendable(vals[i]))
			return NULL;
	format_head(q, &o);
	o.sz = o.len + 1;
	o.len = 0;
	if ((o.buf = malloc(o.sz)) == NULL)
		return NULL;
	format_head(q, &o);
	o.buf[o.len] = '\0';
	*lenp = o.len;
	return o.buf;
}


/* Connections. */

static void
idle_unlink(struct upstream *u, struct up_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		u->idle = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->pooled = 0;
}

/* Closed now, freed after the run (an event may still point at it). */
static void
conn_close(struct up_conn *c)
{
	struct upstream	*u = c->u;

	if (c->pooled)
		idle_unlink(u, c);
	c->x = NULL;
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->next = u->dead;
	u->dead = c;
	u->nconns--;
}

/* Closed by us, in good order: TLS says so first. */
static void
conn_retire(struct up_conn *c)
{
	if (c->ssl != NULL)
		tls_shutdown(c);
	conn_close(c);
}

static void
conn_idle(struct up_conn *c)
{
	struct upstream	*u = c->u;

	c->x = NULL;
	c->pooled = 1;
	c->since = now_ms();
	c->prev = NULL;
	c->next = u->idle;
	if (u->idle != NULL)
		u->idle->prev = c;
	u->idle = c;
}

/*
 * A connection's events: EPOLLIN while it waits for an answer or idles
 * (an idle one speaks only to close), EPOLLOUT alone while a request
 * waits for room, so that an early answer cannot keep waking us.
 */
static int
watch(struct up_conn *c, int op, int out)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = out ? EPOLLOUT : EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(c->u->ep, op, c->fd, &ev) == -1)
		return -1;
	c->out = out;
	return 0;
}

static struct up_conn *
dial(struct upstream *u)
{
	struct up_conn	*c;
	int		 fd, saved;

	if (u->ctx != NULL)
		return dial_tls(u);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return NULL;
	/*
	 * A unix socket connects at once or not at all: EAGAIN is a full
	 * backlog (the caller may wait for a connection of ours instead).
	 */
	if (connect(fd, (struct sockaddr *)&u->sun, sizeof(u->sun)) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	c->u = u;
	c->fd = fd;
	if (watch(c, EPOLL_CTL_ADD, 0) == -1) {
		close(fd);
		free(c);
		return NULL;
	}
	u->nconns++;
	return c;
}

/* Anything readable on an idle connection means it is closing. */
static int
still_open(struct up_conn *c)
{
	struct pollfd	 p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	if (c->ssl != NULL)
		return tls_still_open(c);
	return poll(&p, 1, 0) == 0;
}

/*
 * Whether a TLS connection was verified against other lists than those in
 * force now (the broker CRL changed since its handshake): it is not used
 * again, so that a new handshake judges the broker by the new lists.  Its
 * SSL holds the store it was verified with, so comparing is safe.
 */
static int
trust_changed(struct upstream *u, struct up_conn *c)
{
	X509_STORE	*cur, *mine = NULL;
	int		 changed;

	if (c->ssl == NULL || u->verify_store == NULL ||
	    (cur = u->verify_store(u->verify_arg)) == NULL)
		return 0;
	SSL_get0_verify_cert_store(c->ssl, &mine);
	changed = mine != cur;
	X509_STORE_free(cur);
	return changed;
}

/* A pooled connection that may be used, or NULL. */
static struct up_conn *
pool_take(struct upstream *u, int check)
{
	struct up_conn	*c;
	uint64_t	 now;

	if (u->idle == NULL)
		return NULL;
	now = now_ms();
	while ((c = u->idle) != NULL) {
		idle_unlink(u, c);
		if (now - c->since >= UP_IDLE_MAX_MS || trust_changed(u, c))
			conn_retire(c);
		else if (!check || still_open(c))
			return c;
		else
			conn_close(c);
	}
	return NULL;
}

/* Exchanges. */

static void
xfer_unlink(struct up_xfer *x)
{
	struct upstream	*u = x->u;

	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		u->first = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		u->last = x->prev;
	x->prev = x->next = NULL;
}

static void
xfer_free(struct up_xfer *x)
{
	if (x->head != NULL) {
		explicit_bzero(x->head, x->headlen);
		free(x->head);
	}
	if (x->in != NULL) {
		explicit_bzero(x->in, x->inlen);
		free(x->in);
	}
	if (x->b != NULL) {
		explicit_bzero(x->b, x->blen);
		free(x->b);
	}
	free(x);
}

/*
 * On a connection: from the pool, a new one, or none (wait, or fail).
 * 1 when it waits for want of a connection the broker would take.
 */
static int
xfer_attach(struct up_xfer *x)
{
	struct upstream	*u = x->u;
	struct up_conn	*c;

	if ((c = pool_take(u, !x->idempotent)) != NULL)
		x->reused = 1;
	else if (u->nconns >= u->maxconns) {
		x->state = X_WAITING;
		xq_push(&u->waiting, x);
		return 0;
	} else if ((c = dial(u)) == NULL) {
		/*
		 * A burst the broker has not accepted yet: wait, first in
		 * line, for one of ours to come free.
		 */
		if (errno == EAGAIN && u->nconns > 0) {
			x->state = X_WAITING;
			xq_push_front(&u->waiting, x);
			return 1;
		}
		xfer_fail(x, UP_ECONNECT);
		return 0;
	}
	x->c = c;
	c->x = x;
	x->state = X_SENDING;
	xfer_send(x);
	return 0;
}

/* A connection came free: the first waiting exchange may have it. */
static void
start_waiting(struct upstream *u)
{
	struct up_xfer	*x;

	while (u->waiting.head != NULL &&
	    (u->idle != NULL || u->nconns < u->maxconns)) {
		x = xq_pop(&u->waiting);
		if (xfer_attach(x) == 1)
			break;		/* until one of ours comes free */
	}
}

/* The end: the connection kept or closed, the callback called. */
static void
xfer_end(struct up_xfer *x, enum up_error e)
{
	struct upstream	*u = x->u;
	struct up_conn	*c = x->c;
	up_done_fn	*done = x->done;
	void		*arg = x->arg;
	int		 reused = x->reused;

	if (c != NULL) {
		/* Decrypted bytes past the answer: nobody asked for them. */
		if (e == UP_OK && !x->fr.close &&
		    (c->ssl == NULL || SSL_pending(c->ssl) == 0) &&
		    (!c->out || watch(c, EPOLL_CTL_MOD, 0) == 0))
			conn_idle(c);
		else
			conn_close(c);
		x->c = NULL;
	}
	if (x->state == X_WAITING)
		xq_remove(&u->waiting, x);
	else if (x->state == X_NEW)
		xq_remove(&u->starting, x);
	xfer_unlink(x);
	if (e == UP_OK) {
		x->r->body = x->b;
		x->r->bodylen = x->blen;
		x->b = NULL;
	} else
		up_clear(x->r);
	xfer_free(x);
	done(arg, e, reused);
	if (!u->hold)
		start_waiting(u);
}

/*
 * A failure.  A pooled connection that fails before any byte of answer
 * was likely closed by the broker meanwhile: an idempotent request is
 * sent once more, on a new connection.
 */
static void
xfer_fail(struct up_xfer *x, enum up_error e)
{
	if (e != UP_EIO || !x->reused || x->any || !x->idempotent ||
	    x->retried || x->c == NULL) {
		xfer_end(x, e);
		return;
	}
	x->retried = 1;
	x->reused = 0;
	x->sent = 0;
	x->inlen = 0;
	redial(x);
}

/* x from its start again, on a new connection. */
static void
redial(struct up_xfer *x)
{
	struct up_conn	*c;

	conn_close(x->c);
	x->c = NULL;
	if ((c = dial(x->u)) == NULL) {
		xfer_end(x, UP_ECONNECT);
		return;
	}
	x->c = c;
	c->x = x;
	x->state = X_SENDING;
	xfer_send(x);
}

static void
xfer_send(struct up_xfer *x)
{
	struct up_conn	*c = x->c;
	struct iovec	 iov[2];
	struct msghdr	 msg;
	size_t		 off;
	ssize_t		 n;

	if (c->ssl != NULL) {
		tls_send(x);
		return;
	}
	while (x->sent < x->headlen + x->bodylen) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (x->sent < x->headlen) {
			iov[0].iov_base = x->head + x->sent;
			iov[0].iov_len = x->headlen - x->sent;
			iov[1].iov_base = (void *)(uintptr_t)x->body;
			iov[1].iov_len = x->bodylen;
			msg.msg_iovlen = x->bodylen > 0 ? 2 : 1;
		} else {
			off = x->sent - x->headlen;
			iov[0].iov_base = (void *)(uintptr_t)(x->body + off);
			iov[0].iov_len = x->bodylen - off;
			msg.msg_iovlen = 1;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The rest when the socket has room. */
			if (!c->out && watch(c, EPOLL_CTL_MOD, 1) == -1)
				xfer_fail(x, UP_EIO);
			return;
		}
		if (n == -1) {
			xfer_fail(x, UP_EIO);
			return;
		}
		x->sent += (size_t)n;
	}
	if (c->out && watch(c, EPOLL_CTL_MOD, 0) == -1) {
		xfer_fail(x, UP_EIO);
		return;
	}
	x->state = X_RECEIVING;
}

/* The head is in: where the body goes, and what of it came already. */
static enum up_error
body_begin(struct up_xfer *x)
{
	const char	*extra = x->in + x->fr.headlen;
	size_t		 nextra = x->inlen - x->fr.headlen;

	if (x->fr.has_length) {
		if (nextra > x->fr.length)
			x->fr.close = 1;	/* bytes nobody asked for */
		if (x->fr.length == 0)
			return UP_OK;
		x->bsz = (size_t)x->fr.length;
		if (nextra > x->bsz)
			nextra = x->bsz;
	} else {
		/* No length: the body ends with the connection. */
		x->fr.close = 1;
		x->bsz = nextra > BODY_FIRST ? nextra : BODY_FIRST;
	}
	if ((x->b = malloc(x->bsz)) == NULL)
		return UP_EIO;
	memcpy(x->b, extra, nextra);
	x->blen = nextra;
	return UP_OK;
}

/* Room for the next read: the head's buffer or the body's, grown. */
static enum up_error
room(struct up_xfer *x, char **p, size_t *len)
{
	unsigned char	*nb;
	char		*ni;
	size_t		 nsz;

	if (!x->have_head) {
		if (x->inlen == x->insz) {
			/* up_parse_head() refuses a head of UP_HEAD_MAX. */
			nsz = x->insz ? x->insz * 2 : IN_FIRST;
			if (nsz > UP_HEAD_MAX)
				nsz = UP_HEAD_MAX;
			if ((ni = malloc(nsz)) == NULL)
				return UP_EIO;
			if (x->in != NULL) {
				memcpy(ni, x->in, x->inlen);
				explicit_bzero(x->in, x->inlen);
				free(x->in);
			}
			x->in = ni;
			x->insz = nsz;
		}
		*p = x->in + x->inlen;
		*len = x->insz - x->inlen;
		return UP_OK;
	}
	if (x->blen == x->bsz) {
		/* Only without a length: a length is read exactly. */
		if (x->bsz >= UP_BODY_MAX)
			return UP_EPROTO;
		nsz = x->bsz * 2 > UP_BODY_MAX ? UP_BODY_MAX : x->bsz * 2;
		if ((nb = malloc(nsz)) == NULL)
			return UP_EIO;
		memcpy(nb, x->b, x->blen);
		explicit_bzero(x->b, x->blen);
		free(x->b);
		x->b = nb;
		x->bsz = nsz;
	}
	*p = (char *)x->b + x->blen;
	*len = x->bsz - x->blen;
	return UP_OK;
}

/* Bytes came in: 1 when the answer is whole, 0 for more, or an error. */
static int
took(struct up_xfer *x, size_t n, enum up_error *e)
{
	int	 rv;

	if (x->have_head) {
		x->blen += n;
		return x->fr.has_length && x->blen == x->fr.length;
	}
	x->inlen += n;
	rv = up_parse_head(x->in, x->inlen, x->head_request, x->r, &x->fr);
	if (rv == -1) {
		*e = UP_EPROTO;
		return -1;
	}
	if (rv == 0)
		return 0;
	x->have_head = 1;
	if ((*e = body_begin(x)) != UP_OK)
		return -1;
	return x->fr.has_length && x->blen == x->fr.length;
}

static void
xfer_recv(struct up_xfer *x)
{
	enum up_error	 e = UP_OK;
	char		*p;
	size_t		 len;
	ssize_t		 n;
	int		 rv;

	if (x->c->ssl != NULL) {
		tls_recv(x);
		return;
	}
	for (;;) {
		if ((e = room(x, &p, &len)) != UP_OK)
			break;
		n = recv(x->c->fd, p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			e = UP_EIO;
			break;
		}
		if (n == 0) {
			/* The end of a body without a length, or too soon. */
			if (x->have_head && !x->fr.has_length) {
				xfer_end(x, UP_OK);
				return;
			}
			e = UP_EIO;
			break;
		}
		x->any = 1;
		if ((rv = took(x, (size_t)n, &e)) == -1)
			break;
		if (rv == 1) {
			xfer_end(x, UP_OK);
			return;
		}
	}
	xfer_fail(x, e);
}

/* An event on a connection: its state says what to do. */
static void
conn_event(struct up_conn *c)
{
	struct up_xfer	*x = c->x;

	if (c->fd == -1)
		return;			/* closed earlier in this run */
	if (c->ssl != NULL) {
		tls_event(c);
		return;
	}
	if (x == NULL) {
		/* An idle connection speaks: the broker is closing it. */
		conn_close(c);
		start_waiting(c->u);
		return;
	}
	if (x->state == X_SENDING)
		xfer_send(x);
	else
		xfer_recv(x);
}

static void
free_dead(struct upstream *u)
{
	struct up_conn	*c;

	while ((c = u->dead) != NULL) {
		u->dead = c->next;
		free(c);
	}
}

/*
 * TLS.  The functions below are only reached for a connection with an
 * SSL object; the error queue is cleared before each SSL call, so that
 * SSL_get_error() judges that call alone.
 */

static struct log_throttle	 tls_warnings =	/* over all loops */
    LOG_THROTTLE_INITIALIZER(TLS_WARN_MS, 1);

/* One warning every TLS_WARN_MS at most. */
static void
tls_warn(const struct upstream *u, const char *what, const char *why)
{
	log_warnx_throttled(&tls_warnings, "broker %s: TLS %s: "
	    "%s", u->label, what, why);
}

/* Why the last SSL call on c failed (err: SSL_get_error's), for the log. */
static void
tls_why(struct up_conn *c, int err, int saved_errno, char *buf, size_t sz)
{
	long		 v = SSL_get_verify_result(c->ssl);
	unsigned long	 e = ERR_peek_last_error();
	const char	*r;

	if (v != X509_V_OK)
		snprintf(buf, sz, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	else if (e != 0 && (r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, sz, "%s", r);
	else if (err == SSL_ERROR_SYSCALL && saved_errno != 0)
		snprintf(buf, sz, "%s", strerror(saved_errno));
	else
		snprintf(buf, sz, "the connection was closed");
	ERR_clear_error();
}

/*
 * A TLS connection failed.  On one the broker never answered on, it is
 * likely to have refused our certificate: in TLS 1.3 the client's part
 * of the handshake ends before the server has judged it, and the verdict
 * comes with the first read (or breaks the first write).  That is a
 * handshake failure: logged, and a connect error.  Otherwise the
 * connection failed mid-way, as a unix socket can.
 */
static enum up_error
tls_error(struct up_conn *c, int err, int saved_errno)
{
	char	 why[256];

	if (c->answered || err == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return UP_EIO;
	}
	tls_why(c, err, saved_errno, why, sizeof(why));
	tls_warn(c->u, "connection failed before any answer", why);
	return UP_ECONNECT;
}

/*
 * A write failed on a connection the broker never answered on: if it
 * refused us, its alert is likely waiting to be read, and says why.
 */
static void
tls_read_alert(struct up_conn *c)
{
	unsigned char	 b;
	size_t		 n;

	ERR_clear_error();
	if (SSL_read_ex(c->ssl, &b, 1, &n) == 1)
		explicit_bzero(&b, sizeof(b));
}

/*
 * An SSL call did not complete (err: SSL_get_error's): 1 when it waits
 * for the event it asked for, watched from now on; 0 when it failed.
 */
static int
tls_wait(struct up_conn *c, int err)
{
	if (err == SSL_ERROR_WANT_READ)
		return !c->out || watch(c, EPOLL_CTL_MOD, 0) == 0;
	if (err == SSL_ERROR_WANT_WRITE)
		return c->out || watch(c, EPOLL_CTL_MOD, 1) == 0;
	return 0;
}

/*
 * Connecting to the current address failed: the next one is current now.
 * The address is logged (throttled), since the exchange may yet succeed
 * on another and then nobody would say this one is down.
 */
static void
next_addr(struct upstream *u, int err)
{
	static struct log_throttle	 t = LOG_THROTTLE_INITIALIZER(1000, 10);
	char				 host[64], port[8];
	const struct up_addr		*a = &u->addrs[u->cur];

	if (getnameinfo((const struct sockaddr *)&a->ss, a->len, host,
	    sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(host, sizeof(host), "?");
	log_warnx_throttled(&t, "broker %s: cannot connect to %s port %s: %s",
	    u->label, host, port, strerror(err));
	u->cur = (u->cur + 1) % u->naddrs;
}


/* The store the handshake verifies against, if not the context's. */
static int
verify_with(struct upstream *u, SSL *ssl)
{
	X509_STORE	*st;
	int		 rv;

	if (u->verify_store == NULL || (st = u->verify_store(u->verify_arg)) ==
	    NULL)
		return 0;
	rv = SSL_set1_verify_cert_store(ssl, st) == 1 ? 0 : -1;
	X509_STORE_free(st);
	return rv;
}
/* A TCP connection to the current address, then the others in turn. */
static struct up_conn *
dial_tls(struct upstream *u)
{
	size_t	 i;
	struct up_conn	*c;

	for (i = 0; i < u->naddrs; i++) {
		if ((c = dial_addr(u)) != NULL)
			return c;
		if (errno == ENOMEM || errno == EMFILE || errno == ENFILE)
			return NULL;
		next_addr(u, errno);
	}
	return NULL;
}

static struct up_conn *
dial_addr(struct upstream *u)
{
	const struct up_addr	*a = &u->addrs[u->cur];
	struct up_conn		*c = NULL;
	int			 fd, on = 1, saved;

	if ((fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->u = u;
	c->fd = fd;
	/* The head and the body are records of their own: no Nagle delay. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		goto fail;
	if ((c->ssl = SSL_new(u->ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
	    (u->sni != NULL && SSL_set_tlsext_host_name(c->ssl, u->sni) != 1) ||
	    verify_with(u, c->ssl) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	SSL_set_connect_state(c->ssl);
	c->addr = u->cur;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		c->state = C_HANDSHAKE;
	else if (errno == EINPROGRESS)
		c->state = C_CONNECTING;
	else
		goto fail;
	/* Connecting, or the ClientHello to write. */
	if (watch(c, EPOLL_CTL_ADD, 1) == -1)
		goto fail;
	u->nconns++;
	return c;
 fail:
	saved = errno;
	if (c != NULL) {
		SSL_free(c->ssl);
		free(c);
	}
	close(fd);
	ERR_clear_error();
	errno = saved;
	return NULL;
}

/*
 * The exchange's connection did not connect: the next address, on a new
 * connection, unless every address has failed it.
 */
static void
connect_failed(struct up_xfer *x, int err)
{
	struct upstream	*u = x->u;

	/* Unless another connection has moved on from this address. */
	if (x->c->addr == u->cur)
		next_addr(u, err);
	if (++x->dials >= u->naddrs)
		xfer_fail(x, UP_ECONNECT);
	else
		redial(x);
}

/* EPOLLOUT came while connecting: connected, or not (errno set). */
static int
tcp_connected(struct up_conn *c)
{
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		errno = err;
		return -1;
	}
	c->state = C_HANDSHAKE;
	return 0;
}

/* 1 when the handshake is done; 0 when it waits or failed (x ended). */
static int
tls_handshake(struct up_xfer *x)
{
	struct up_conn	*c = x->c;
	char		 why[256];
	int		 rv, err, saved;

	ERR_clear_error();
	errno = 0;
	if ((rv = SSL_do_handshake(c->ssl)) == 1) {
		c->state = C_OPEN;
		return 1;
	}
	saved = errno;
	if (tls_wait(c, err = SSL_get_error(c->ssl, rv)))
		return 0;
	tls_why(c, err, saved, why, sizeof(why));
	tls_warn(c->u, "handshake failed", why);
	xfer_fail(x, UP_ECONNECT);
	return 0;
}

static void
tls_send(struct up_xfer *x)
{
	struct up_conn	*c = x->c;
	const void	*p;
	size_t		 len, off, n;
	int		 rv, err, saved;

	if (c->state == C_CONNECTING)
		return;			/* until EPOLLOUT: tls_event() */
	if (c->state == C_HANDSHAKE && !tls_handshake(x))
		return;
	while (x->sent < x->headlen + x->bodylen) {
		if (x->sent < x->headlen) {
			p = x->head + x->sent;
			len = x->headlen - x->sent;
		} else {
			off = x->sent - x->headlen;
			p = x->body + off;
			len = x->bodylen - off;
		}
		/*
		 * Partial writes are on: a call that wants an event is
		 * called again with the same bytes, as OpenSSL requires.
		 */
		ERR_clear_error();
		errno = 0;
		if ((rv = SSL_write_ex(c->ssl, p, len, &n)) == 1) {
			x->sent += n;
			continue;
		}
		saved = errno;
		if (tls_wait(c, err = SSL_get_error(c->ssl, rv)))
			return;
		if (!c->answered)
			tls_read_alert(c);
		xfer_fail(x, tls_error(c, err, saved));
		return;
	}
	if (c->out && watch(c, EPOLL_CTL_MOD, 0) == -1) {
		xfer_fail(x, UP_EIO);
		return;
	}
	x->state = X_RECEIVING;
}

static void
tls_recv(struct up_xfer *x)
{
	struct up_conn	*c = x->c;
	enum up_error	 e = UP_OK;
	char		*p;
	size_t		 len, n;
	int		 rv, err, saved;

	for (;;) {
		if ((e = room(x, &p, &len)) != UP_OK)
			break;
		ERR_clear_error();
		errno = 0;
		if ((rv = SSL_read_ex(c->ssl, p, len, &n)) == 1) {
			x->any = c->answered = 1;
			if ((rv = took(x, n, &e)) == -1)
				break;
			if (rv == 1) {
				xfer_end(x, UP_OK);
				return;
			}
			continue;
		}
		saved = errno;
		err = SSL_get_error(c->ssl, rv);
		if (tls_wait(c, err))
			return;
		/*
		 * Only the broker's close_notify ends a body without a
		 * length: a bare TCP close could be anyone's truncation.
		 */
		if (err == SSL_ERROR_ZERO_RETURN && x->have_head &&
		    !x->fr.has_length) {
			xfer_end(x, UP_OK);
			return;
		}
		e = tls_error(c, err, saved);
		break;
	}
	xfer_fail(x, e);
}

/*
 * An idle connection is readable.  1 when all that came were TLS
 * handshake messages (NewSessionTicket, KeyUpdate), which OpenSSL
 * handles inside SSL_read: the connection stays.  0 for application
 * data nobody asked for, a close or an error.
 */
static int
tls_idle_read(struct up_conn *c)
{
	unsigned char	 buf[16];
	size_t		 n;
	int		 rv;

	ERR_clear_error();
	if ((rv = SSL_read_ex(c->ssl, buf, sizeof(buf), &n)) == 1) {
		explicit_bzero(buf, n);
		return 0;
	}
	rv = SSL_get_error(c->ssl, rv);
	ERR_clear_error();
	/* WANT_WRITE: a key update we cannot answer now; not worth it. */
	return rv == SSL_ERROR_WANT_READ;
}

/* still_open() over TLS: records that came are read, as above. */
static int
tls_still_open(struct up_conn *c)
{
	struct pollfd	 p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	if (SSL_pending(c->ssl) > 0)
		return 0;
	if (poll(&p, 1, 0) == 0)
		return 1;
	return tls_idle_read(c);
}

/* A close_notify for a connection that is in good order; nothing waited. */
static void
tls_shutdown(struct up_conn *c)
{
	if (c->state != C_OPEN)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

static void
tls_event(struct up_conn *c)
{
	struct up_xfer	*x = c->x;

	if (x == NULL) {
		if (!tls_idle_read(c)) {
			conn_close(c);
			start_waiting(c->u);
		}
		return;
	}
	if (c->state == C_CONNECTING && tcp_connected(c) == -1) {
		connect_failed(x, errno);
		return;
	}
	if (x->state == X_SENDING)
		tls_send(x);
	else
		tls_recv(x);
}

/* The interface. */

static struct upstream *
upstream_alloc(unsigned int timeout_ms, size_t maxconns)
{
	struct upstream	*u;

	if (timeout_ms == 0 || maxconns == 0)
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->timeout_ms = timeout_ms;
	u->maxconns = maxconns;
	if ((u->ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(u);
		return NULL;
	}
	return u;
}

struct upstream *
upstream_new(const char *path, unsigned int timeout_ms, size_t maxconns)
{
	struct upstream	*u;

	if (strlen(path) >= sizeof(u->sun.sun_path) ||
	    (u = upstream_alloc(timeout_ms, maxconns)) == NULL)
		return NULL;
	u->sun.sun_family = AF_UNIX;
	memcpy(u->sun.sun_path, path, strlen(path) + 1);
	return u;
}

struct upstream *
upstream_new_tls(const struct up_tls *t, unsigned int timeout_ms,
    size_t maxconns)
{
	struct upstream	*u;

	if (t->ctx == NULL || t->naddrs == 0 || t->naddrs > UP_ADDRS_MAX ||
	    (u = upstream_alloc(timeout_ms, maxconns)) == NULL)
		return NULL;
	memcpy(u->addrs, t->addrs, t->naddrs * sizeof(t->addrs[0]));
	u->naddrs = t->naddrs;
	if ((t->sni != NULL && (u->sni = strdup(t->sni)) == NULL) ||
	    (u->label = strdup(t->label)) == NULL ||
	    SSL_CTX_up_ref(t->ctx) != 1) {
		free(u->sni);
		free(u->label);
		close(u->ep);
		free(u);
		return NULL;
	}
	u->ctx = t->ctx;
	u->verify_store = t->verify_store;
	u->verify_arg = t->verify_arg;
	return u;
}

void
upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	u->hold = 1;		/* for good */
	while (u->first != NULL)
		xfer_end(u->first, UP_EIO);
	while (u->idle != NULL)
		conn_retire(u->idle);
	free_dead(u);
	close(u->ep);
	SSL_CTX_free(u->ctx);
	free(u->sni);
	free(u->label);
	free(u);
}

int
upstream_fd(const struct upstream *u)
{
	return u->ep;
}

int
upstream_pending(const struct upstream *u)
{
	return u->starting.head != NULL;
}

enum up_error
upstream_start(struct upstream *u, const struct up_request *q,
    struct up_response *r, up_done_fn *done, void *arg)
{
	struct up_xfer	*x;

	up_init(r);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return UP_EIO;
	if ((x->head = build_head(q, &x->headlen)) == NULL) {
		free(x);
		return UP_EINVAL;
	}
	x->u = u;
	x->body = q->body;
	x->bodylen = q->bodylen;
	x->idempotent = method_idempotent(q->method);
	x->head_request = strcmp(q->method, "HEAD") == 0;
	x->r = r;
	x->done = done;
	x->arg = arg;
	x->deadline = now_ms() + u->timeout_ms;
	/* Deadlines only grow: the list stays in their order. */
	x->prev = u->last;
	if (u->last != NULL)
		u->last->next = x;
	else
		u->first = x;
	u->last = x;
	xq_push(&u->starting, x);
	return UP_OK;
}

int
upstream_run(struct upstream *u, int ready)
{
	struct epoll_event	 ev[EVENTS];
	struct up_xfer		*x;
	uint64_t		 now;
	int			 i, n;

	while ((x = xq_pop(&u->starting)) != NULL) {
		/* Behind those already waiting, whose turn comes first. */
		if (u->waiting.head != NULL) {
			x->state = X_WAITING;
			xq_push(&u->waiting, x);
		} else
			(void)xfer_attach(x);
	}
	if (ready) {
		do
			n = epoll_wait(u->ep, ev, EVENTS, 0);
		while (n == -1 && errno == EINTR);
		for (i = 0; i < n; i++)
			conn_event(ev[i].data.ptr);
	}
	/* All that are late first: a connection freed is not for them. */
	now = now_ms();
	u->hold = 1;
	while ((x = u->first) != NULL && x->deadline <= now)
		xfer_end(x, UP_ETIMEOUT);
	u->hold = 0;
	start_waiting(u);
	free_dead(u);
	if (u->first == NULL)
		return -1;
	return (int)(u->first->deadline - now);
}

struct waiter {
	int		 finished;
	enum up_error	 e;
	int		 reused;
};

static void
waited(void *arg, enum up_error e, int reused)
{
	struct waiter	*w = arg;

	w->finished = 1;
	w->e = e;
	w->reused = reused;
}

enum up_error
upstream_do(struct upstream *u, const struct up_request *q,
    struct up_response *r, int *reusedp)
{
	struct waiter	 w;
	struct pollfd	 pfd;
	enum up_error	 e;
	int		 ms, ready = 0;

	memset(&w, 0, sizeof(w));
	if (reusedp != NULL)
		*reusedp = 0;
	if ((e = upstream_start(u, q, r, waited, &w)) != UP_OK)
		return e;
	for (;;) {
		ms = upstream_run(u, ready);
		if (w.finished)
			break;
		pfd.fd = u->ep;
		pfd.events = POLLIN;
		if ((ready = poll(&pfd, 1, ms)) == -1 && errno != EINTR)
			ready = 0;
		ready = ready > 0;
	}
	if (reusedp != NULL)
		*reusedp = w.reused;
	return w.e;
}
