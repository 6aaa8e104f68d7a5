/*
 * bench-loadgen: a small HTTP/1.1 keep-alive load generator for the
 * benchmarks.  Each connection has one request in flight at a time; the
 * request paths come from -p or, rotated round-robin, from the lines of -f.
 * Responses are parsed (status line, Content-Length or chunked, Connection:
 * close), every answer outside 2xx counts as an error, and each request's
 * latency goes into a log-linear histogram with microsecond resolution.
 *
 *	bench-loadgen (-u path | -c host:port) [-jq] [-d seconds] [-H header]
 *	    [-n connections] [-r requests] [-T timeout] [-t threads]
 *	    (-p path | -f file)
 *
 * Only unix sockets and loopback addresses are accepted as targets: this
 * is a benchmark of the local appliance, not a tool to load other hosts.
 * The run is bounded by -d (and -r); it then prints one line
 *	requests N  rps X  p50 Yms  p99 Zms  errors E
 * or, with -j, one JSON object.  Exit status: 0 when every request had a
 * 2xx answer, 3 when any did not (or failed, or timed out), 1 when the run
 * could not start, 2 for bad usage.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX	10000
#define THREADS_MAX	64
#define HEADERS_MAX	32
#define LINE_MAX_LEN	8192		/* a path or a header */
#define PATHS_MAX	1000000
#define RESP_HEAD_MAX	(64 * 1024)
#define RESP_MAX	(4 * 1024 * 1024)
#define TICK_NS		100000000ull	/* timeouts and reconnects */
#define EVENTS		256

/*
 * Latency histogram, in the manner of HdrHistogram: values below SUB
 * microseconds have a bucket each; above, every power of two is split in
 * HALF buckets, so a bucket is at most 1/64 (1.6%) of its value wide.
 */
#define SUB_BITS	7
#define SUB		(1u << SUB_BITS)
#define HALF		(SUB / 2)
#define HIST_MAX_US	((1ull << 40) - 1)	/* 12 days */
#define NBUCKETS	(SUB + (40 - SUB_BITS + 1) * HALF)

struct stats {
	uint64_t	 hist[NBUCKETS];
	uint64_t	 done;		/* complete answers */
	uint64_t	 non2xx;
	uint64_t	 ioerr;		/* reset, malformed, refused */
	uint64_t	 timeouts;
	uint64_t	 reconnects;
	uint64_t	 sum_ns;
	uint64_t	 max_ns;
	uint64_t	 status[6];	/* by class, 1xx..5xx; [0] other */
};

struct conn {
	int		 fd;
	int		 busy;		/* a request is in flight */
	int		 wantout;	/* EPOLLOUT is armed */
	size_t		 req;		/* which request */
	size_t		 off;		/* of it written */
	char		*in;
	size_t		 inlen;
	size_t		 insz;
	uint64_t	 t0;
};

struct worker {
	pthread_t	 tid;
	int		 ep;
	struct conn	*conns;
	size_t		 nconns;
	size_t		 next;		/* next request index */
	size_t		 step;
	uint64_t	 end;		/* when it stopped */
	struct stats	 st;
};

/* A parsed response head and where its body ends. */
struct resp {
	int		 status;
	int		 close;		/* the server will close */
	int		 until_eof;	/* no length: body ends at EOF */
	size_t		 used;		/* bytes of the whole response */
};

struct request {
	char		*buf;
	size_t		 len;
};

static struct {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct request		*reqs;
	size_t			 nreqs;
	uint64_t		 start;
	uint64_t		 deadline;
	uint64_t		 timeout_ns;
	uint64_t		 maxreq;	/* 0: none */
	atomic_uint_fast64_t	 issued;
	atomic_int		 shown;		/* first error described */
} cfg;

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: bench-loadgen (-u path | -c host:port) [-jq] "
	    "[-d seconds] [-H header]\n"
	    "\t[-n connections] [-r requests] [-T timeout] [-t threads]\n"
	    "\t(-p path | -f file)\n");
	exit(2);
}

static void __attribute__((__noreturn__, __format__(__printf__, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "bench-loadgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t
hist_index(uint64_t us)
{
	unsigned int	 k, shift;

	if (us < SUB)
		return (size_t)us;
	if (us > HIST_MAX_US)
		us = HIST_MAX_US;
	k = 63u - (unsigned int)__builtin_clzll(us);
	shift = k - (SUB_BITS - 1);
	return SUB + (size_t)(shift - 1) * HALF + (size_t)((us >> shift) - HALF);
}

/* The middle of bucket i, in microseconds. */
static double
hist_value(size_t i)
{
	uint64_t	 m, shift;

	if (i < SUB)
		return (double)i + 0.5;
	shift = (i - SUB) / HALF + 1;
	m = (i - SUB) % HALF + HALF;
	return ((double)(m << shift) + (double)((m + 1) << shift)) / 2.0;
}

static double
percentile_ms(const struct stats *st, double p)
{
	uint64_t	 want, seen = 0;
	size_t		 i;

	if (st->done == 0)
		return 0.0;
	want = (uint64_t)((double)st->done * p + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < NBUCKETS; i++) {
		seen += st->hist[i];
		if (seen >= want)
			return hist_value(i) / 1000.0;
	}
	return (double)st->max_ns / 1e6;
}

/* Strict decimal; no sign, no spaces, no overflow past max. */
static int
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static const char *
find_crlf(const char *b, size_t len)
{
	return memmem(b, len, "\r\n", 2);
}

/* Does the comma-separated header value contain token tok? */
static int
has_token(const char *v, size_t len, const char *tok)
{
	size_t	 tl = strlen(tok), i = 0, j;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		j = i;
		while (j < len && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
			j++;
		if (j - i == tl && strncasecmp(v + i, tok, tl) == 0)
			return 1;
		i = j;
	}
	return 0;
}

/*
 * A chunked body at b: 1 when complete (*used set), 0 when more is
 * needed, -1 when malformed.  Chunk extensions and trailers are skipped.
 */
static int
parse_chunked(const char *b, size_t len, size_t *used)
{
	const char	*e;
	size_t		 pos = 0, i, size;
	int		 d;

	for (;;) {
		if ((e = find_crlf(b + pos, len - pos)) == NULL)
			return len - pos > LINE_MAX_LEN ? -1 : 0;
		size = 0;
		for (i = pos; b + i < e; i++) {
			if (b[i] >= '0' && b[i] <= '9')
				d = b[i] - '0';
			else if (b[i] >= 'a' && b[i] <= 'f')
				d = b[i] - 'a' + 10;
			else if (b[i] >= 'A' && b[i] <= 'F')
				d = b[i] - 'A' + 10;
			else
				break;
			if (size > RESP_MAX)
				return -1;
			size = size * 16 + (size_t)d;
		}
		if (i == pos || (b + i < e && b[i] != ';' && b[i] != ' '))
			return -1;
		pos = (size_t)(e - b) + 2;
		if (size == 0)
			break;
		if (size > RESP_MAX)
			return -1;
		if (len - pos < size + 2)
			return 0;
		if (b[pos + size] != '\r' || b[pos + size + 1] != '\n')
			return -1;
		pos += size + 2;
	}
	/* Trailers, then the empty line. */
	for (;;) {
		if ((e = find_crlf(b + pos, len - pos)) == NULL)
			return len - pos > LINE_MAX_LEN ? -1 : 0;
		if (e == b + pos) {
			*used = pos + 2;
			return 1;
		}
		pos = (size_t)(e - b) + 2;
	}
}

/* One header line: note the fields that frame the body. */
static int
parse_header(const char *l, size_t len, uint64_t *clen, int *chunked,
    int *closing)
{
	const char	*colon, *v;
	size_t		 nl, vl;

	if ((colon = memchr(l, ':', len)) == NULL)
		return -1;
	nl = (size_t)(colon - l);
	v = colon + 1;
	vl = len - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (nl == 14 && strncasecmp(l, "content-length", nl) == 0) {
		if (*clen != UINT64_MAX ||
		    parse_u64(v, vl, RESP_MAX, clen) == -1)
			return -1;
	} else if (nl == 17 && strncasecmp(l, "transfer-encoding", nl) == 0)
		*chunked = has_token(v, vl, "chunked");
	else if (nl == 10 && strncasecmp(l, "connection", nl) == 0 &&
	    has_token(v, vl, "close"))
		*closing = 1;
	return 0;
}

/* 1: a whole response is in b; 0: need more; -1: malformed. */
static int
parse_response(const char *b, size_t len, struct resp *r)
{
	const char	*hend, *l, *e;
	uint64_t	 clen = UINT64_MAX, st;
	size_t		 hl;
	int		 chunked = 0;

	memset(r, 0, sizeof(*r));
	if ((hend = memmem(b, len, "\r\n\r\n", 4)) == NULL)
		return len > RESP_HEAD_MAX ? -1 : 0;
	hl = (size_t)(hend - b) + 4;
	/* HTTP/1.x SSS reason */
	if (hl < 16 || memcmp(b, "HTTP/1.", 7) != 0 ||
	    (b[7] != '0' && b[7] != '1') || b[8] != ' ' ||
	    parse_u64(b + 9, 3, 999, &st) == -1 || st < 100 ||
	    (b[12] != ' ' && b[12] != '\r'))
		return -1;
	r->status = (int)st;
	r->close = b[7] == '0';
	l = find_crlf(b, hl) + 2;
	while (l < hend + 2) {
		e = find_crlf(l, (size_t)(hend + 2 - l));
		if (e == l)
			break;
		if (parse_header(l, (size_t)(e - l), &clen, &chunked,
		    &r->close) == -1)
			return -1;
		l = e + 2;
	}
	if (r->status < 200)		/* no interim answers to a GET */
		return -1;
	if (r->status == 204 || r->status == 304) {
		r->used = hl;
		return 1;
	}
	if (chunked)
		switch (parse_chunked(b + hl, len - hl, &r->used)) {
		case 1:
			r->used += hl;
			return 1;
		case 0:
			return 0;
		default:
			return -1;
		}
	if (clen == UINT64_MAX) {
		r->until_eof = 1;
		r->close = 1;
		return len - hl > RESP_MAX ? -1 : 0;
	}
	if (len - hl < clen)
		return 0;
	r->used = hl + (size_t)clen;
	return 1;
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

static void
target_unix(const char *path)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die("%s: path too long", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	memcpy(&cfg.ss, &sun, sizeof(sun));
	cfg.sslen = sizeof(sun);
}

/* host:port, [v6]:port; must resolve to a loopback address. */
static void
target_tcp(const char *arg, char *host, size_t hostsz)
{
	struct addrinfo	 hints, *res;
	const char	*colon;
	char		 h[256];
	size_t		 hl;
	int		 rv;

	if ((colon = strrchr(arg, ':')) == NULL || colon[1] == '\0')
		die("%s: want host:port", arg);
	hl = (size_t)(colon - arg);
	if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']') {
		arg++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(h))
		die("bad host in -c");
	memcpy(h, arg, hl);
	h[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(h, colon + 1, &hints, &res)) != 0)
		die("%s: %s", h, gai_strerror(rv));
	if (!is_loopback(res->ai_addr))
		die("%s: not a loopback address; refusing", h);
	memcpy(&cfg.ss, res->ai_addr, res->ai_addrlen);
	cfg.sslen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(host, hostsz, "%s", h);
}

/* No CR, LF or other control characters, which would split the request. */
static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static void
add_request(const char *path, const char *head, size_t headlen, size_t *cap)
{
	struct request	*r;
	size_t		 pl = strlen(path);

	if (path[0] != '/' || !printable(path) || strchr(path, ' ') != NULL)
		die("bad request path \"%.64s\"", path);
	if (cfg.nreqs == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if (*cap > PATHS_MAX)
			die("more than %d paths", PATHS_MAX);
		if ((cfg.reqs = reallocarray(cfg.reqs, *cap,
		    sizeof(*cfg.reqs))) == NULL)
			die("out of memory");
	}
	r = &cfg.reqs[cfg.nreqs++];
	r->len = 4 + pl + headlen;
	if ((r->buf = malloc(r->len + 1)) == NULL)
		die("out of memory");
	memcpy(r->buf, "GET ", 4);
	memcpy(r->buf + 4, path, pl);
	memcpy(r->buf + 4 + pl, head, headlen);
}

static void
load_paths(const char *file, const char *head, size_t headlen)
{
	FILE	*f;
	char	 line[LINE_MAX_LEN + 2];
	size_t	 cap = 0, l;

	if ((f = fopen(file, "r")) == NULL)
		die("%s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		l = strlen(line);
		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		else if (!feof(f))
			die("%s: line too long", file);
		if (l > 0 && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		add_request(line, head, headlen, &cap);
	}
	if (ferror(f))
		die("%s: read error", file);
	fclose(f);
	if (cfg.nreqs == 0)
		die("%s: no paths", file);
}

/* " HTTP/1.1\r\nHost: …\r\n<headers>\r\n", shared by every request. */
static char *
build_head(const char *host, char **hdrs, size_t nhdrs, size_t *lenp)
{
	char	*head;
	size_t	 len, i, off;
	int	 has_host = 0;

	len = strlen(" HTTP/1.1\r\nHost: \r\n\r\n") + strlen(host);
	for (i = 0; i < nhdrs; i++) {
		len += strlen(hdrs[i]) + 2;
		if (strncasecmp(hdrs[i], "host:", 5) == 0)
			has_host = 1;
	}
	if ((head = malloc(len + 1)) == NULL)
		die("out of memory");
	off = (size_t)snprintf(head, len + 1, " HTTP/1.1\r\n");
	if (!has_host)
		off += (size_t)snprintf(head + off, len + 1 - off,
		    "Host: %s\r\n", host);
	for (i = 0; i < nhdrs; i++)
		off += (size_t)snprintf(head + off, len + 1 - off, "%s\r\n",
		    hdrs[i]);
	off += (size_t)snprintf(head + off, len + 1 - off, "\r\n");
	*lenp = off;
	return head;
}

static void
check_header(const char *h)
{
	const char	*c;

	if (strlen(h) > LINE_MAX_LEN || !printable(h) ||
	    (c = strchr(h, ':')) == NULL || c == h ||
	    strcspn(h, " \t") < (size_t)(c - h))
		die("-H wants \"Name: value\"");
}

static int
conn_open(struct worker *w, struct conn *c)
{
	struct epoll_event	 ev;
	int			 one = 1;

	if ((c->fd = socket(cfg.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1)
		die("socket: %s", strerror(errno));
	/* Blocking connect: local targets answer at once. */
	if (connect(c->fd, (struct sockaddr *)&cfg.ss, cfg.sslen) == -1 ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (cfg.ss.ss_family != AF_UNIX)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	c->busy = c->wantout = 0;
	c->inlen = 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);	/* also leaves the epoll set */
	c->fd = -1;
	c->busy = 0;
	c->inlen = 0;
}

static void
set_out(struct worker *w, struct conn *c, int on)
{
	struct epoll_event	 ev;

	if (c->wantout == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->wantout = on;
}

/*
 * The first failure, once, on the standard error: the request line, and of
 * the answer its status line, plus the body only when the status is not
 * 2xx (an error document); a damaged 2xx answer may hold a credential.
 */
static void
describe_first(const struct conn *c, const char *why, int show_body)
{
	const char	*in = c->in != NULL ? c->in : "";
	int		 zero = 0;
	size_t		 n, i;

	if (!atomic_compare_exchange_strong(&cfg.shown, &zero, 1))
		return;
	n = c->inlen < 300 ? c->inlen : 300;
	if (!show_body)
		n = strcspn(in, "\r\n") < n ? strcspn(in, "\r\n") : n;
	fprintf(stderr, "bench-loadgen: first error (%s) on %.*s: ", why,
	    (int)strcspn(cfg.reqs[c->req].buf, "\r"), cfg.reqs[c->req].buf);
	for (i = 0; i < n; i++)
		fputc(in[i] == '\r' || in[i] == '\n' || in[i] == '\t' ||
		    ((unsigned char)in[i] >= 0x20 && in[i] != 0x7f) ?
		    in[i] : '?', stderr);
	fputc('\n', stderr);
}

static void
fail(struct worker *w, struct conn *c)
{
	w->st.ioerr++;
	conn_close(c);
}

/* Write what is left of the current request. */
static void
conn_write(struct worker *w, struct conn *c)
{
	const struct request	*r = &cfg.reqs[c->req];
	ssize_t			 n;

	while (c->off < r->len) {
		n = send(c->fd, r->buf + c->off, r->len - c->off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_out(w, c, 1);
			return;
		}
		if (n <= 0) {
			describe_first(c, "send failed", 0);
			fail(w, c);
			return;
		}
		c->off += (size_t)n;
	}
	set_out(w, c, 0);
}

/* Start the next request on c, if the run goes on. */
static void
conn_issue(struct worker *w, struct conn *c)
{
	if (c->fd == -1 || c->busy)
		return;
	if (cfg.maxreq != 0 &&
	    atomic_fetch_add(&cfg.issued, 1) >= cfg.maxreq)
		return;
	c->req = w->next;
	w->next = (w->next + w->step) % cfg.nreqs;
	c->off = 0;
	c->busy = 1;
	c->t0 = now_ns();
	conn_write(w, c);
}

static void
record(struct worker *w, struct conn *c, const struct resp *r)
{
	uint64_t	 dt = now_ns() - c->t0;

	w->st.done++;
	w->st.hist[hist_index(dt / 1000)]++;
	w->st.sum_ns += dt;
	if (dt > w->st.max_ns)
		w->st.max_ns = dt;
	w->st.status[r->status < 600 ? r->status / 100 : 0]++;
	if (r->status < 200 || r->status > 299) {
		w->st.non2xx++;
		describe_first(c, "status", 1);
	}
	c->busy = 0;
}

static int
grow(struct conn *c)
{
	size_t	 nsz = c->insz ? c->insz * 2 : 16384;
	char	*p;

	if (nsz > RESP_MAX + RESP_HEAD_MAX)
		return -1;
	if ((p = realloc(c->in, nsz)) == NULL)
		die("out of memory");
	c->in = p;
	c->insz = nsz;
	return 0;
}

static void
conn_read(struct worker *w, struct conn *c)
{
	struct resp	 r;
	ssize_t		 n;
	int		 rv;

	if (c->inlen == c->insz && grow(c) == -1) {
		describe_first(c, "too large", 0);
		fail(w, c);
		return;
	}
	n = recv(c->fd, c->in + c->inlen, c->insz - c->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (!c->busy) {
		if (n == 0)		/* an idle keep-alive closed */
			w->st.reconnects++;
		else {
			w->st.ioerr++;
			describe_first(c, n > 0 ? "unasked data" : "reset", 0);
		}
		conn_close(c);
		return;
	}
	if (n == -1) {
		describe_first(c, "reset", 0);
		fail(w, c);
		return;
	}
	c->inlen += (size_t)n;
	rv = parse_response(c->in, c->inlen, &r);
	if (rv == 0 && n > 0)
		return;
	if (rv == 0 && r.until_eof) {	/* n == 0: the body ends here */
		r.used = c->inlen;
		rv = 1;
	} else if (rv == 0) {
		describe_first(c, "connection lost", 0);
		fail(w, c);
		return;
	}
	if (rv == -1 || r.used != c->inlen) {
		describe_first(c, "malformed answer", 0);
		fail(w, c);
		return;
	}
	record(w, c, &r);
	c->inlen = 0;
	if (r.close) {
		w->st.reconnects++;
		conn_close(c);
		if (conn_open(w, c) == -1)
			return;
	}
	conn_issue(w, c);
}

/* Every TICK: requests past their timeout, connections to reopen. */
static int
tick(struct worker *w, uint64_t t)
{
	struct conn	*c;
	size_t		 i;
	int		 busy = 0;

	for (i = 0; i < w->nconns; i++) {
		c = &w->conns[i];
		if (c->busy && t - c->t0 > cfg.timeout_ns) {
			w->st.timeouts++;
			conn_close(c);
		}
		if (c->fd == -1) {
			if (conn_open(w, c) == -1) {
				w->st.ioerr++;
				continue;
			}
			w->st.reconnects++;
		}
		conn_issue(w, c);
		busy |= c->busy;
	}
	return busy;
}

static void *
worker_run(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 evs[EVENTS];
	struct conn		*c;
	uint64_t		 t, next_tick;
	int			 n, i, ms;

	for (i = 0; (size_t)i < w->nconns; i++)
		conn_issue(w, &w->conns[i]);
	next_tick = now_ns() + TICK_NS;
	while ((t = now_ns()) < cfg.deadline) {
		if (t >= next_tick) {
			if (!tick(w, t) && cfg.maxreq != 0 &&
			    atomic_load(&cfg.issued) >= cfg.maxreq)
				break;
			next_tick = t + TICK_NS;
		}
		t = (next_tick < cfg.deadline ? next_tick : cfg.deadline) - t;
		ms = (int)(t / 1000000) + 1;
		if ((n = epoll_wait(w->ep, evs, EVENTS, ms)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c->fd != -1 && (evs[i].events & EPOLLOUT))
				conn_write(w, c);
			if (c->fd != -1 &&
			    (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				conn_read(w, c);
		}
	}
	w->end = now_ns();
	return NULL;
}

static void
merge(struct stats *to, const struct stats *from)
{
	size_t	 i;

	for (i = 0; i < NBUCKETS; i++)
		to->hist[i] += from->hist[i];
	for (i = 0; i < 6; i++)
		to->status[i] += from->status[i];
	to->done += from->done;
	to->non2xx += from->non2xx;
	to->ioerr += from->ioerr;
	to->timeouts += from->timeouts;
	to->reconnects += from->reconnects;
	to->sum_ns += from->sum_ns;
	if (from->max_ns > to->max_ns)
		to->max_ns = from->max_ns;
}

static void
report(const struct stats *st, double secs, size_t nconns, int json)
{
	uint64_t	 errors = st->non2xx + st->ioerr + st->timeouts;
	double		 rps = secs > 0 ? (double)st->done / secs : 0.0;
	double		 mean = st->done ? (double)st->sum_ns / 1e6 /
			    (double)st->done : 0.0;
	size_t		 i;

	if (json) {
		printf("{\"requests\": %llu, \"seconds\": %.3f, "
		    "\"rps\": %.1f, \"connections\": %zu, "
		    "\"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
		    "\"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, "
		    "\"errors\": %llu, \"non2xx\": %llu, \"io_errors\": %llu, "
		    "\"timeouts\": %llu, \"reconnects\": %llu, \"status\": {",
		    (unsigned long long)st->done, secs, rps, nconns, mean,
		    percentile_ms(st, 0.50), percentile_ms(st, 0.90),
		    percentile_ms(st, 0.99), percentile_ms(st, 0.999),
		    (double)st->max_ns / 1e6, (unsigned long long)errors,
		    (unsigned long long)st->non2xx,
		    (unsigned long long)st->ioerr,
		    (unsigned long long)st->timeouts,
		    (unsigned long long)st->reconnects);
		for (i = 1; i < 6; i++)
			printf("%s\"%zuxx\": %llu", i > 1 ? ", " : "", i,
			    (unsigned long long)st->status[i]);
		printf("}}\n");
	} else
		printf("requests %llu  rps %.0f  p50 %.3fms  p99 %.3fms  "
		    "errors %llu\n", (unsigned long long)st->done, rps,
		    percentile_ms(st, 0.50), percentile_ms(st, 0.99),
		    (unsigned long long)errors);
	if (errors != 0)
		fprintf(stderr, "bench-loadgen: %llu non-2xx (4xx %llu, "
		    "5xx %llu), %llu i/o errors, %llu timeouts\n",
		    (unsigned long long)st->non2xx,
		    (unsigned long long)st->status[4],
		    (unsigned long long)st->status[5],
		    (unsigned long long)st->ioerr,
		    (unsigned long long)st->timeouts);
}

static uint64_t
count(const char *s, uint64_t lo, uint64_t hi, const char *what)
{
	uint64_t	 v;

	if (parse_u64(s, strlen(s), hi, &v) == -1 || v < lo)
		die("%s: %s out of range [%llu, %llu]", s, what,
		    (unsigned long long)lo, (unsigned long long)hi);
	return v;
}

static double
number(const char *s, double lo, double hi, const char *what)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		die("%s: %s out of range [%g, %g]", s, what, lo, hi);
	return v;
}

int
main(int argc, char *argv[])
{
	struct worker	*ws;
	struct stats	*total;
	char		*hdrs[HEADERS_MAX], host[256] = "localhost", *head;
	const char	*upath = NULL, *tcp = NULL, *path = NULL, *file = NULL;
	size_t		 nhdrs = 0, nconns = 64, nthreads = 1, headlen, i, j;
	size_t		 cap = 0, per, extra;
	uint64_t	 end;
	double		 secs = 10.0, timeout = 5.0;
	int		 ch, json = 0, rv;

	while ((ch = getopt(argc, argv, "c:d:f:H:jn:p:r:T:t:u:")) != -1) {
		switch (ch) {
		case 'c':
			tcp = optarg;
			break;
		case 'd':
			secs = number(optarg, 0.1, 3600, "duration");
			break;
		case 'f':
			file = optarg;
			break;
		case 'H':
			if (nhdrs == HEADERS_MAX)
				die("at most %d headers", HEADERS_MAX);
			check_header(optarg);
			hdrs[nhdrs++] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'n':
			nconns = (size_t)count(optarg, 1, CONNS_MAX,
			    "connections");
			break;
		case 'p':
			path = optarg;
			break;
		case 'r':
			cfg.maxreq = count(optarg, 1, 1000000000000ull,
			    "requests");
			break;
		case 'T':
			timeout = number(optarg, 0.01, 600, "timeout");
			break;
		case 't':
			nthreads = (size_t)count(optarg, 1, THREADS_MAX,
			    "threads");
			break;
		case 'u':
			upath = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (upath == NULL) == (tcp == NULL) ||
	    (path == NULL) == (file == NULL))
		usage();
	if (nthreads > nconns)
		nthreads = nconns;
	if (upath != NULL)
		target_unix(upath);
	else
		target_tcp(tcp, host, sizeof(host));
	if (!printable(host))
		die("bad host");
	head = build_head(host, hdrs, nhdrs, &headlen);
	if (file != NULL)
		load_paths(file, head, headlen);
	else
		add_request(path, head, headlen, &cap);
	free(head);
	cfg.timeout_ns = (uint64_t)(timeout * 1e9);
	signal(SIGPIPE, SIG_IGN);

	/* Connections are made before the clock starts. */
	if ((ws = calloc(nthreads, sizeof(*ws))) == NULL ||
	    (total = calloc(1, sizeof(*total))) == NULL)
		die("out of memory");
	per = nconns / nthreads;
	extra = nconns % nthreads;
	for (i = 0; i < nthreads; i++) {
		ws[i].nconns = per + (i < extra);
		if ((ws[i].conns = calloc(ws[i].nconns,
		    sizeof(*ws[i].conns))) == NULL)
			die("out of memory");
		if ((ws[i].ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
			die("epoll_create1: %s", strerror(errno));
		ws[i].next = i % cfg.nreqs;
		ws[i].step = nthreads;
		for (j = 0; j < ws[i].nconns; j++)
			if (conn_open(&ws[i], &ws[i].conns[j]) == -1)
				die("connect %s: %s", upath ? upath : tcp,
				    strerror(errno));
	}
	cfg.start = now_ns();
	cfg.deadline = cfg.start + (uint64_t)(secs * 1e9);
	for (i = 1; i < nthreads; i++)
		if ((errno = pthread_create(&ws[i].tid, NULL, worker_run,
		    &ws[i])) != 0)
			die("pthread_create: %s", strerror(errno));
	worker_run(&ws[0]);
	end = ws[0].end;
	for (i = 0; i < nthreads; i++) {
		if (i > 0) {
			pthread_join(ws[i].tid, NULL);
			if (ws[i].end > end)
				end = ws[i].end;
		}
		merge(total, &ws[i].st);
	}
	report(total, (double)(end - cfg.start) / 1e9, nconns, json);
	rv = total->non2xx + total->ioerr + total->timeouts ? 3 : 0;
	for (i = 0; i < nthreads; i++) {
		for (j = 0; j < ws[i].nconns; j++) {
			conn_close(&ws[i].conns[j]);
			free(ws[i].conns[j].in);
		}
		free(ws[i].conns);
		close(ws[i].ep);
	}
	for (i = 0; i < cfg.nreqs; i++)
		free(cfg.reqs[i].buf);
	free(cfg.reqs);
	free(ws);
	free(total);
	return rv;
}
