/*
 * HTTP/1.1 over the broker's unix socket, with a connection pool
 * (gateway/upstream.h).
 *
 * Sockets are blocking with send and receive timeouts: each exchange runs
 * on one of libmicrohttpd's worker threads, which waits for it anyway.
 * The request head carries the client's bearer token, so it is wiped
 * once sent; the answer may carry a credential, so its buffers are wiped
 * before they are freed.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gateway/upstream.h"

struct idle {
	int		 fd;
	uint64_t	 since;		/* ms, CLOCK_MONOTONIC */
};

struct upstream {
	struct sockaddr_un	 sun;
	unsigned int		 timeout_ms;
	pthread_mutex_t		 mu;
	struct idle		*idle;
	size_t			 nidle;
	size_t			 maxidle;
};

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

struct upstream *
upstream_new(const char *path, unsigned int timeout_ms, size_t maxidle)
{
	struct upstream	*u;

	if (strlen(path) >= sizeof(u->sun.sun_path) || timeout_ms == 0)
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->sun.sun_family = AF_UNIX;
	memcpy(u->sun.sun_path, path, strlen(path) + 1);
	u->timeout_ms = timeout_ms;
	u->maxidle = maxidle;
	if (maxidle > 0 && (u->idle = calloc(maxidle, sizeof(*u->idle))) ==
	    NULL) {
		free(u);
		return NULL;
	}
	if (pthread_mutex_init(&u->mu, NULL) != 0) {
		free(u->idle);
		free(u);
		return NULL;
	}
	return u;
}

void
upstream_free(struct upstream *u)
{
	size_t	 i;

	if (u == NULL)
		return;
	for (i = 0; i < u->nidle; i++)
		close(u->idle[i].fd);
	pthread_mutex_destroy(&u->mu);
	free(u->idle);
	free(u);
}

void
up_clear(struct up_response *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->bodylen);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

/* Anything readable on an idle connection means it is closing. */
static int
still_open(int fd)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 0;
}

/* A pooled connection that still looks alive, or -1. */
static int
pool_get(struct upstream *u)
{
	uint64_t	 now = now_ms();
	int		 fd = -1;

	pthread_mutex_lock(&u->mu);
	while (fd == -1 && u->nidle > 0) {
		/* Most recently used first: the least likely to be stale. */
		u->nidle--;
		fd = u->idle[u->nidle].fd;
		if (now - u->idle[u->nidle].since >= UP_IDLE_MAX_MS ||
		    !still_open(fd)) {
			close(fd);
			fd = -1;
		}
	}
	pthread_mutex_unlock(&u->mu);
	return fd;
}

static void
pool_put(struct upstream *u, int fd)
{
	pthread_mutex_lock(&u->mu);
	if (u->nidle < u->maxidle) {
		u->idle[u->nidle].fd = fd;
		u->idle[u->nidle].since = now_ms();
		u->nidle++;
		fd = -1;
	}
	pthread_mutex_unlock(&u->mu);
	if (fd != -1)
		close(fd);
}

static int
dial(struct upstream *u)
{
	struct timeval	 tv;
	int		 fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	tv.tv_sec = (time_t)(u->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(u->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&u->sun, sizeof(u->sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Response head parsing. */

static int
tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
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

static int
parse_length(const char *v, size_t len, uint64_t *out)
{
	uint64_t	 n = 0;
	size_t		 i;

	if (len == 0 || len > 19)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
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
		if (fr->has_length || parse_length(v, vlen, &fr->length) == -1)
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

	memset(r, 0, sizeof(*r));
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

static enum up_error
send_all(int fd, const char *head, size_t headlen, const unsigned char *body,
    size_t bodylen)
{
	struct iovec	 iov[2];
	struct msghdr	 msg;
	size_t		 done = 0, total = headlen + bodylen, off;
	ssize_t		 n;

	while (done < total) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (done < headlen) {
			iov[0].iov_base = (void *)(uintptr_t)(head + done);
			iov[0].iov_len = headlen - done;
			iov[1].iov_base = (void *)(uintptr_t)body;
			iov[1].iov_len = bodylen;
			msg.msg_iovlen = bodylen > 0 ? 2 : 1;
		} else {
			off = done - headlen;
			iov[0].iov_base = (void *)(uintptr_t)(body + off);
			iov[0].iov_len = bodylen - off;
			msg.msg_iovlen = 1;
		}
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ?
			    UP_ETIMEOUT : UP_EIO;
		done += (size_t)n;
	}
	return UP_OK;
}

/* Receiving. */

static enum up_error
recv_some(int fd, void *buf, size_t len, size_t *got)
{
	ssize_t	 n;

	do
		n = recv(fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? UP_ETIMEOUT :
		    UP_EIO;
	*got = (size_t)n;
	return UP_OK;
}

/* The body after the head; extra is what the head's reads already got. */
static enum up_error
read_body(int fd, struct up_framing *fr, const char *extra, size_t nextra,
    struct up_response *r)
{
	unsigned char	*b, *nb;
	size_t		 sz, len = 0, got;
	enum up_error	 e;

	if (fr->has_length) {
		if (nextra > fr->length)
			fr->close = 1;	/* bytes nobody asked for */
		if (fr->length == 0)
			return UP_OK;
		if ((b = malloc((size_t)fr->length)) == NULL)
			return UP_EIO;
		len = nextra < fr->length ? nextra : (size_t)fr->length;
		memcpy(b, extra, len);
		while (len < fr->length) {
			if ((e = recv_some(fd, b + len, (size_t)fr->length -
			    len, &got)) != UP_OK || got == 0) {
				explicit_bzero(b, len);
				free(b);
				return e != UP_OK ? e : UP_EIO;
			}
			len += got;
		}
		r->body = b;
		r->bodylen = len;
		return UP_OK;
	}
	/* No length: the body ends with the connection. */
	fr->close = 1;
	sz = nextra > 4096 ? nextra : 4096;
	if ((b = malloc(sz)) == NULL)
		return UP_EIO;
	memcpy(b, extra, nextra);
	len = nextra;
	for (;;) {
		if (len == sz) {
			if (sz >= UP_BODY_MAX ||
			    (nb = malloc(sz * 2 > UP_BODY_MAX ? UP_BODY_MAX :
			    sz * 2)) == NULL) {
				explicit_bzero(b, len);
				free(b);
				return sz >= UP_BODY_MAX ? UP_EPROTO : UP_EIO;
			}
			memcpy(nb, b, len);
			explicit_bzero(b, len);
			free(b);
			b = nb;
			sz = sz * 2 > UP_BODY_MAX ? UP_BODY_MAX : sz * 2;
		}
		if ((e = recv_some(fd, b + len, sz - len, &got)) != UP_OK) {
			explicit_bzero(b, len);
			free(b);
			return e;
		}
		if (got == 0)
			break;
		len += got;
	}
	r->body = b;
	r->bodylen = len;
	return UP_OK;
}

/* One request and its response on fd; *any: a byte of answer came. */
static enum up_error
exchange(int fd, const struct up_request *q, const char *head, size_t headlen,
    struct up_response *r, int *close_after, int *any)
{
	char		 buf[UP_HEAD_MAX];
	struct up_framing fr;
	size_t		 len = 0, got;
	enum up_error	 e;
	int		 rv = 0;

	*any = 0;
	if ((e = send_all(fd, head, headlen, q->body, q->bodylen)) != UP_OK)
		return e;
	while (rv == 0) {
		if ((e = recv_some(fd, buf + len, sizeof(buf) - len, &got)) !=
		    UP_OK)
			goto out;
		if (got == 0) {
			e = UP_EIO;
			goto out;
		}
		*any = 1;
		len += got;
		if ((rv = up_parse_head(buf, len, strcmp(q->method, "HEAD") ==
		    0, r, &fr)) == -1) {
			e = UP_EPROTO;
			goto out;
		}
	}
	e = read_body(fd, &fr, buf + fr.headlen, len - fr.headlen, r);
	*close_after = fr.close;
 out:
	explicit_bzero(buf, len);
	return e;
}

enum up_error
upstream_do(struct upstream *u, const struct up_request *q,
    struct up_response *r, int *reusedp)
{
	char		*head;
	size_t		 headlen = 0;
	enum up_error	 e = UP_ECONNECT;
	int		 attempt, fd, reused, close_after, any;

	memset(r, 0, sizeof(*r));
	if (reusedp != NULL)
		*reusedp = 0;
	if ((head = build_head(q, &headlen)) == NULL)
		return UP_EINVAL;
	for (attempt = 0; attempt < 2; attempt++) {
		reused = 0;
		close_after = 0;
		if (attempt == 0 && (fd = pool_get(u)) != -1)
			reused = 1;
		else if ((fd = dial(u)) == -1) {
			e = UP_ECONNECT;
			break;
		}
		e = exchange(fd, q, head, headlen, r, &close_after, &any);
		if (e == UP_OK) {
			if (close_after)
				close(fd);
			else
				pool_put(u, fd);
			if (reusedp != NULL)
				*reusedp = reused;
			break;
		}
		close(fd);
		up_clear(r);
		/* A stale pooled connection: once more, on a new one. */
		if (!(reused && !any && e == UP_EIO &&
		    method_idempotent(q->method)))
			break;
	}
	explicit_bzero(head, headlen);
	free(head);
	return e;
}
